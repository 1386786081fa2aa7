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

The scan's input files are re-read and must still match the SHA-256 recorded
in ``summary.json`` (:mod:`detector.evidence.scanload`). The command exits 0
when a packet was written, 2 on bad input (incomplete scan directory, changed
input, unknown shop, an ``--out`` that is neither empty nor an earlier
packet) and 3 when the shop has no case to file (nothing is written).

Modules: :mod:`~detector.evidence.packet` (the ``packet.json`` model and
:func:`build_packet`), built from :mod:`~detector.evidence.selection` (which
cases are filed and why; :func:`~detector.evidence.selection.harms_shop`, the
rule the monitor counts attacks by), :mod:`~detector.evidence.case_facts`
(the facts of each case and cited review), :mod:`~detector.evidence.link_reasons`
(why a review without reasons of its own is cited), :mod:`~detector.evidence.narrative`
(explanations and appeal texts), :mod:`~detector.evidence.impact`,
:mod:`~detector.evidence.views` (chart geometry) and
:mod:`~detector.evidence.integrity` (row hashes, commands to reproduce);
rendered by :mod:`~detector.evidence.render_html` and ``templates/``,
:mod:`~detector.evidence.cards`, :mod:`~detector.evidence.overview` and
:mod:`~detector.evidence.writer`; with :mod:`~detector.evidence.scanload`
(the verified scan), :mod:`~detector.evidence.platforms` (form limits as
data), :mod:`~detector.evidence.i18n` (zh/en strings),
:mod:`~detector.evidence.safety` (file names, redaction, control
characters), :mod:`~detector.evidence.spans` (shared-text highlighting) and
:mod:`~detector.evidence.fonts`.
"""

from detector.evidence.packet import Packet, PacketOptions, build_packet
from detector.evidence.selection import NoCasesError
from detector.evidence.writer import write_packet

__all__ = ["NoCasesError", "Packet", "PacketOptions", "build_packet", "write_packet"]
