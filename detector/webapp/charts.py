"""Server-rendered SVG charts of a shop's days (no JavaScript, no chart library).

Every label is escaped; colours come from classes in ``static/app.css`` (the
page's Content-Security-Policy allows no inline style).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

W, H = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 34


@dataclass
class Series:
    """One line (or bar group) of a chart: ``values`` aligned with the chart's days."""

    label: str
    values: Sequence[float | None]
    css: str  # "all" or "clean"


def _fmt(v: float, kind: str) -> str:
    if kind == "pct":
        return f"{100 * v:.0f}%"
    if kind == "int":
        return f"{v:.0f}"
    return f"{v:.1f}"


def _ticks(lo: float, hi: float, kind: str) -> list[float]:
    if kind == "int":
        step = max(1, int((hi - lo) / 4 + 0.999))
        return [float(x) for x in range(int(lo), int(hi) + 1, step)]
    return [lo + (hi - lo) * i / 4 for i in range(5)]


def _text_width(text: str, size: float = 11.0) -> float:
    """About how wide ``text`` is drawn at ``size`` px (CJK glyphs are full width)."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Stretches of consecutive days with a value (a day without reviews breaks the line)."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, v))
    return [r for r in runs if r]


def chart(
    title: str,
    days: Sequence[str],
    series: Sequence[Series],
    kind: str = "num",
    y_range: tuple[float, float] | None = None,
    bars: bool = False,
) -> Markup:
    """An SVG line (or bar) chart of ``series`` over ``days``.

    ``kind`` formats the y axis: ``"pct"`` (0-1 as %), ``"int"``, ``"num"``.
    """
    n = len(days)
    values = [v for s in series for v in s.values if v is not None]
    if y_range is None:
        lo, hi = 0.0, max(values or [1.0])
        hi = hi if hi > lo else lo + 1
    else:
        lo, hi = y_range
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (pw * (i + 0.5) / n if n else 0)

    def y(v: float) -> float:
        return TOP + ph * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))

    out = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tv in _ticks(lo, hi, kind):
        ty = y(tv)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(tv, kind))}</text>"
        )
    every = max(1, n // 8)
    for i, d in enumerate(days):
        if i % every == 0 or (i == n - 1 and i % every > every // 2):
            out.append(
                f'<text class="tick" x="{x(i):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                f"{escape(d[5:])}</text>"
            )
    if bars:
        k = max(len(series), 1)
        bw = max(pw / max(n, 1) / (k + 1), 1.0)
        for j, s in enumerate(series):
            for i, v in enumerate(s.values):
                if v is None:
                    continue
                bx = x(i) - bw * k / 2 + j * bw
                top = y(v)
                out.append(
                    f'<rect class="bar {s.css}" x="{bx:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                    f'height="{max(TOP + ph - top, 0):.1f}"><title>{escape(days[i])} '
                    f"{escape(s.label)}: {escape(_fmt(v, kind))}</title></rect>"
                )
    else:
        for s in series:
            pts = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
            for run in _runs(s.values):
                path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
                out.append(f'<polyline class="line {s.css}" points="{path}"/>')
            shown = [(i, v) for i, v in enumerate(s.values) if v is not None]
            # a dot per day while they are few; past that they hide the line
            for (px, py), (i, v) in zip(pts, shown if n <= 62 else [], strict=False):
                out.append(
                    f'<circle class="dot {s.css}" cx="{px:.1f}" cy="{py:.1f}" r="2.5">'
                    f"<title>{escape(days[i])} {escape(s.label)}: {escape(_fmt(v, kind))}"
                    "</title></circle>"
                )
    lx = LEFT
    for s in series:
        out.append(f'<rect class="key {s.css}" x="{lx}" y="{H - 12}" width="12" height="8"/>')
        out.append(f'<text class="tick" x="{lx + 16}" y="{H - 4}">{escape(s.label)}</text>')
        lx += 28 + _text_width(s.label)
    out.append("</svg>")
    return Markup(f"<figcaption>{escape(title)}</figcaption>" + "".join(out))
