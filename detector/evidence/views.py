"""Chart geometry of a case (timeline, ring, strip): what the HTML and the cards draw.

Every coordinate is computed here once, from the packet's own numbers, so the
page and the cards show the same chart.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from detector.evidence import i18n
from detector.evidence.case_facts import MAX_REVIEWERS, with_keys
from detector.evidence.i18n import t
from detector.evidence.safety import Redactor
from detector.wording import parse_iso
from features.params import DAY, HOUR

MAX_TIMELINE_PRODUCTS = 5

_W, _H, _L, _R, _T, _B = 720.0, 200.0, 44.0, 12.0, 12.0, 34.0
_PLOT_H = _H - _T - _B


def _bin_seconds(span: float) -> int:
    for b in (HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY):
        if span / b <= 90:
            return b
    return 30 * DAY


def _bin_label(b: int, lang: str) -> str:
    if b == HOUR:
        return t("bin_hour", lang)
    if b < DAY:
        return t("bin_hours", lang, n=b // HOUR)
    if b == DAY:
        return t("bin_day", lang)
    return t("bin_days", lang, n=b // DAY)


def _x(tt: float, lo: float, hi: float) -> float:
    return _L + (tt - lo) / max(hi - lo, 1.0) * (_W - _L - _R)


def _tick_label(tt: float, zone: ZoneInfo, chars: int) -> str:
    return i18n.fmt_time(datetime.fromtimestamp(tt, UTC), zone)[:chars]


def _timeline_range(at_shop: pl.DataFrame, scan_lo: int, scan_hi: int) -> tuple[int, int, int]:
    """``(lo, hi, bin seconds)``: the case's span padded, in whole bins."""
    t0, t1 = int(at_shop["_t"].min()), int(at_shop["_t"].max())
    pad = max(7 * DAY, (t1 - t0) // 4)
    lo, hi = max(t0 - pad, scan_lo), min(t1 + pad, scan_hi)
    if hi <= lo:
        lo, hi = t0 - DAY, t1 + DAY
    b = _bin_seconds(hi - lo)
    lo = lo - lo % b
    nb = int((hi - lo) // b) + 1
    return lo, lo + nb * b, b


def _bars(cited: np.ndarray, other: np.ndarray, top: int) -> list[dict]:
    """Stacked bars per bin: the other reviews below, the cited ones on top."""
    nb = cited.size
    bw = (_W - _L - _R) / nb
    bars = []
    for i in range(nb):
        x = _L + i * bw
        ho = other[i] / top * _PLOT_H
        hc = cited[i] / top * _PLOT_H
        base = _H - _B
        if other[i]:
            bars.append({"x": x, "y": base - ho, "w": max(bw - 1, 1), "h": ho, "cls": "other"})
        if cited[i]:
            bars.append({"x": x, "y": base - ho - hc, "w": max(bw - 1, 1), "h": hc, "cls": "cited"})
    return bars


def _windows(bursts: list[dict], lo: int, hi: int, b: int) -> list[dict]:
    out = []
    for bu in bursts:
        s = parse_iso(bu["start"]).timestamp()
        e = parse_iso(bu["end"]).timestamp()
        x0, x1 = _x(s, lo, hi), _x(max(e, s + b), lo, hi)
        out.append({"x": x0, "w": max(x1 - x0, 3.0), "y": _T, "h": _PLOT_H})
    return out


def timeline_view(
    at_shop: pl.DataFrame,
    shop_reviews: pl.DataFrame,
    bursts: list[dict],
    scan_span: tuple[int, int],
    lang: str,
    zone: ZoneInfo,
) -> dict:
    """Bars per time bin of the shop's reviews on the case's products; cited ones in red."""
    prods = (
        at_shop.group_by("product_id").len().sort(["len", "product_id"], descending=[True, False])
    )["product_id"].head(MAX_TIMELINE_PRODUCTS)
    lo, hi, b = _timeline_range(at_shop, *scan_span)
    nb = int((hi - lo) // b)
    rel = shop_reviews.filter(
        pl.col("product_id").is_in(prods.implode()) & (pl.col("_t") >= lo) & (pl.col("_t") < hi)
    )
    is_cited = rel["review_id"].is_in(at_shop["review_id"].implode()).to_numpy()
    idx = ((rel["_t"].to_numpy() - lo) // b).astype(np.int64)
    cited = np.bincount(idx[is_cited], minlength=nb)[:nb]
    other = np.bincount(idx[~is_cited], minlength=nb)[:nb]
    top = max(int((cited + other).max()) if nb else 1, 1)
    per_bin = bursts[0]["baseline_per_day"] * b / DAY if bursts else None
    baseline = None
    if per_bin is not None:
        baseline = {"y": _H - _B - min(per_bin / top, 1.0) * _PLOT_H, "x0": _L, "x1": _W - _R}
    chars = 10 if b >= DAY else 16
    ticks = [
        {
            "x": _x(lo + (hi - lo) * k / 4, lo, hi),
            "label": _tick_label(lo + (hi - lo) * k / 4, zone, chars),
        }
        for k in range(5)
    ]
    return {
        "width": _W,
        "height": _H,
        "plot": {"x0": _L, "x1": _W - _R, "y0": _T, "y1": _H - _B},
        "bars": _bars(cited, other, top),
        "windows": _windows(bursts, lo, hi, b),
        "baseline": baseline,
        "ticks": ticks,
        "ymax": top,
        "products": prods.to_list(),
        "bin": _bin_label(b, lang),
        "series": {
            "t0": lo,
            "bin_s": b,
            "cited": cited.tolist(),
            "other": other.tolist(),
            "baseline_per_bin": per_bin,
            "windows": [[bu["start"], bu["end"]] for bu in bursts],
        },
    }


def ring_view(ring: dict) -> dict:
    """The ring's accounts on a circle, linked by lines as thick as their shared products."""
    n = len(ring["accounts"])
    cx, cy, rad = 260.0, 210.0, 160.0
    pos = {
        a: (
            cx + rad * math.cos(2 * math.pi * i / n - math.pi / 2),
            cy + rad * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i, a in enumerate(ring["accounts"])
    }
    top = max((lk["products"] for lk in ring["links"]), default=1)
    lines = [
        {
            "x1": pos[lk["a"]][0],
            "y1": pos[lk["a"]][1],
            "x2": pos[lk["b"]][0],
            "y2": pos[lk["b"]][1],
            "w": 0.6 + 3.4 * lk["products"] / top,
        }
        for lk in ring["links"]
        if lk["a"] in pos and lk["b"] in pos
    ]
    nodes = []
    for a, (x, y) in pos.items():
        right = x >= cx
        nodes.append(
            {
                "x": x,
                "y": y,
                "label": a,
                "lx": x + (8 if right else -8),
                "ly": y + 4,
                "anchor": "start" if right else "end",
            }
        )
    return {"width": 560.0, "height": 420.0, "lines": lines, "nodes": nodes}


def strip_view(
    users: list[str], all_reviews: pl.DataFrame, shop: str, red: Redactor, zone: ZoneInfo
) -> dict | None:
    """1-2★ reviews of the accounts over time, one row per account."""
    r = with_keys(
        all_reviews.filter(
            pl.col("user_id").is_in(pl.Series(users).implode()) & (pl.col("rating") <= 2)
        )
    )
    if r.height == 0:
        return None
    lo, hi = int(r["_t"].min()) - DAY, int(r["_t"].max()) + DAY
    rows = []
    for i, u in enumerate(users[:MAX_REVIEWERS]):
        y = 22.0 + i * 22.0
        dots = [
            {"x": _x(tt, lo, hi), "y": y, "cls": "cited" if s == shop else "other"}
            for tt, s in r.filter(pl.col("user_id") == u).select("_t", "shop_id").iter_rows()
        ]
        rows.append({"y": y, "label": red.user(u), "dots": dots})
    ticks = [
        {
            "x": _x(lo + (hi - lo) * k / 4, lo, hi),
            "label": _tick_label(lo + (hi - lo) * k / 4, zone, 10),
        }
        for k in range(5)
    ]
    height = 22.0 * len(rows) + 40.0
    return {"width": _W, "height": height, "rows": rows, "ticks": ticks, "axis_y": height - 18.0}
