"""Spans two texts share word for word, and their safe highlighting.

Review text is written by attackers. Highlighting never edits markup: each
raw segment is escaped on its own and only then wrapped in ``<mark>``, so no
character of a review can open a tag or an entity.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from markupsafe import Markup, escape

#: Shorter common runs are coincidence (one character, a particle), not copying.
MIN_SPAN = 2


def shared_spans(a: str, b: str, min_len: int = MIN_SPAN) -> tuple[list, list, float]:
    """Matching spans of ``a`` and ``b``.

    Returns ``(spans_a, spans_b, similarity)``: lists of ``[start, end)``
    character offsets, and ``SequenceMatcher.ratio()``.
    """
    sm = SequenceMatcher(None, a, b, autojunk=False)
    sa: list[list[int]] = []
    sb: list[list[int]] = []
    for block in sm.get_matching_blocks():
        if block.size >= min_len:
            sa.append([block.a, block.a + block.size])
            sb.append([block.b, block.b + block.size])
    return sa, sb, sm.ratio()


def highlight(text: str | None, spans: list) -> Markup:
    """``text`` escaped, with ``spans`` wrapped in ``<mark>``."""
    text = text or ""
    out: list[Markup] = []
    pos = 0
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if start < pos or start >= end:
            continue
        out.append(escape(text[pos:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)
