"""Appeal evidence packets: turn a scan's cases into material a platform accepts.

``review-detector evidence SCAN_DIR --shop SHOP --out DIR`` writes into DIR:

* ``packet.json`` - the versioned record (:data:`packet.SCHEMA`, see
  :mod:`detector.evidence.packet`);
* ``packet.html`` - one self-contained page (no network), printable to PDF;
* ``cards/NN-<case>.png`` - evidence cards for upload forms, within the
  platform's image limits;
* ``overview.png`` - the shop's rating and positive rate over time, when
  several cases exist;
* ``appeals.csv`` - one line per cited review with its appeal text, and
  ``description.txt`` - the one-sentence summary for the form's description.
"""

from detector.evidence.packet import NoCasesError, Packet, PacketOptions, build_packet
from detector.evidence.writer import write_packet

__all__ = ["NoCasesError", "Packet", "PacketOptions", "build_packet", "write_packet"]
