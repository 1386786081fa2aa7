"""Write a packet directory: all files appear at once or not at all.

``out`` is published as one version (:class:`detector.publish.Publication`):
checked for writability before anything is rendered, written in full, then
switched in with one rename; a symlinked ``out`` of the user's is followed.
Every file name is fixed or built with :func:`safe_join`, so no id from the
scan can place a file outside ``out``. An existing ``out`` is replaced only
when it is empty or holds an earlier packet (a ``packet.json`` of this
schema); any other directory is refused rather than wiped.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from detector.errors import InputError
from detector.evidence.cards import render_cards
from detector.evidence.overview import render_overview
from detector.evidence.packet import SCHEMA, Packet
from detector.evidence.render_html import render_html
from detector.evidence.safety import printable, safe_join, safe_name
from detector.publish import Publication

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """A CSV cell that spreadsheets will not run as a formula, without control characters."""
    text = "" if value is None else printable(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        marker = out / "packet.json"
        try:
            ok = json.loads(marker.read_text(encoding="utf-8")).get("schema") == SCHEMA
        except (OSError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise InputError(
                f"--out {out} is a non-empty directory that does not hold an earlier packet; "
                "choose a new or empty directory"
            )


def _appeals_csv(packet: Packet, card_of: dict[str, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(
        [
            "review_id",
            "case_id",
            "kind",
            "created_at",
            "rating",
            "appeal_by",
            "card",
            "appeal_text",
            "row_sha256",
            "appeal_past",
            "timezone",
            "order_id",
        ]
    )
    hashes = packet.data["integrity"]["rows"]["sha256"]
    for c in packet.data["cases"]:
        for r in c["reviews"]:
            w.writerow(
                [
                    cell(x)
                    for x in (
                        r["review_id"],
                        c["case_id"],
                        c["kind"],
                        r["created_at"],
                        r["rating"],
                        r["appeal_by"],
                        card_of.get(c["case_id"], ""),
                        c["appeal_text"],
                        hashes.get(r["review_id"], ""),
                        "yes" if r.get("appeal_past") else "no",
                        packet.data["timezone"],
                        r.get("order_id"),
                    )
                ]
            )
    return "\ufeff" + buf.getvalue()  # BOM: spreadsheets then read the Chinese correctly


def _write_cards(tmp: Path, cards: list) -> tuple[list[str], dict[str, str]]:
    """Write the cards into ``tmp/cards``; their relative paths, and the card of each case."""
    card_files: list[str] = []
    card_of: dict[str, str] = {}
    cards_dir = safe_join(tmp, "cards")
    cards_dir.mkdir()
    for i, card in enumerate(cards, 1):
        name = safe_name(f"{i:02d}-{card.case_id or 'summary'}")
        path = safe_join(cards_dir, f"{name}.png")
        path.write_bytes(card.png)
        rel = f"cards/{path.name}"
        card_files.append(rel)
        if card.case_id is not None:
            card_of[card.case_id] = rel
    return card_files, card_of


def write_packet(packet: Packet, out: str | Path) -> dict:
    """Render and write ``packet`` into directory ``out``; returns ``packet.data['files']`` and timings."""
    out = Path(out)
    _check_out(out)
    publication = Publication(out, what="evidence --out")  # writable, before any rendering
    timings: dict[str, float] = {}
    data = packet.data

    t0 = time.perf_counter()
    overview = render_overview(packet) if len(data["cases"]) >= 2 else None
    timings["overview"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cards, warnings = render_cards(packet)
    timings["cards"] = time.perf_counter() - t0
    data["warnings"].extend(warnings)

    with publication:
        tmp = publication.path
        card_files, card_of = _write_cards(tmp, cards)
        files = {
            "html": "packet.html",
            "json": "packet.json",
            "cards": [
                {"file": f, "case_id": c.case_id, "bytes": len(c.png), "scale": c.scale}
                for f, c in zip(card_files, cards, strict=True)
            ],
            "overview": "overview.png" if overview else None,
            "appeals_csv": "appeals.csv",
            "description": "description.txt",
        }
        data["files"] = files
        for c in data["cases"]:
            c["card"] = card_of.get(c["case_id"])
        if overview:
            safe_join(tmp, "overview.png").write_bytes(overview)
        t0 = time.perf_counter()
        html = render_html(packet, overview, card_files)
        timings["html"] = time.perf_counter() - t0
        safe_join(tmp, "packet.html").write_text(html, encoding="utf-8")
        safe_join(tmp, "appeals.csv").write_text(_appeals_csv(packet, card_of), encoding="utf-8")
        safe_join(tmp, "description.txt").write_text(
            printable(data["summary"]) + "\n", encoding="utf-8"
        )
        safe_join(tmp, "packet.json").write_text(
            json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
    return {"files": files, "timings": timings}
