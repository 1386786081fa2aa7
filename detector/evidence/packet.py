"""The packet model: which cases a shop files, their evidence, impact and integrity.

:func:`build_packet` turns a verified scan (:class:`ScanBundle`) into a
:class:`Packet` whose ``data`` is exactly ``packet.json`` (already redacted
when asked) and whose ``views`` hold the chart geometry the HTML draws. The
renderers (HTML, cards, overview) only read a :class:`Packet`, so everything
merchant-facing comes from the same, redacted numbers.

Selection: by default the cases that *harm* the shop: cases whose reviews *at
this shop* are mostly 1-2★ and that link reviews of two or more accounts, or
are a professional negative reviewer's (one account's 1-2★ reviews at three or
more shops). One buyer's two bad reviews are not a campaign and are left out. ``include_all`` takes
every case with a review at the shop, singletons and boosts included. The
cited reviews are the selected cases' reviews at this shop (a merchant can
only appeal those); a case's reviews at other shops are shown as context.

``packet.json`` (``schema`` = :data:`SCHEMA`, ``schema_version`` = 1)::

    schema, schema_version, generated_at, timezone (IANA; every time below is
        ISO-8601 with its offset in this zone), shop_id, lang,
    selection ("attacks" | "all"), redacted (bool), summary (one sentence,
        at most platform.summary_max_chars),
    platform {key, max_images, max_image_bytes, summary_max_chars,
        appeal_window_days, one_appeal_per_review, editable},
    impact {n_reviews, n_cited, rating_before, rating_after,
        positive_rate_before, positive_rate_after,
        dsr {dsr_description?|dsr_service?|dsr_logistics?:
             {before, after, n_before, n_after}}},  # a dimension only when the input has it
    n_flagged_at_shop, n_flagged_unlinked,
    cases [{case_id, kind, kind_label, shop_ids, product_ids, start, end,
        n_reviews, n_users, n_cited, n_negative_at_shop, n_positive_at_shop,
        review_ids (cited, at this shop), related_review_ids (other shops),
        explanation, appeal_text, card (file or null),
        evidence {links [{type, label, n}], edges [{a, b, type, key}],
            shared_identities [{type: ip|net|device, value, n_accounts,
                accounts, review_ids, shop_ids, first, last}],
            text_clusters [{cluster, shop_id, n_reviews, n_accounts,
                reference {review_id, text},
                matches [{review_id, text, similarity, spans, reference_spans}],
                n_matches_omitted}],            # spans: [start, end) offsets
            bursts [{product_id, polarity, start, end, duration_s, n_case,
                n_window, baseline_per_day, expected, p_value}],
            ring {ring_ids, n_accounts, accounts, n_products,
                  links [{a, b, products}]} | null,
            reviewers [{user_id, n_reviews, n_negative, negative_shops, first,
                last, median_minutes_after_delivery}]},
        reviews [{review_id, order_id, created_at, rating, product_id, user_id, ip,
            device_id, text, score, reasons [{feature, text, facts}], appeal_by,
            appeal_past}],
        related_reviews [{review_id, shop_id, created_at, rating, product_id,
            user_id, text}]}],
    files {html, json, cards [{file, case_id, bytes, scale}], overview,
        appeals_csv, description},
    warnings [str],
    integrity {engine {name, version, scan_version}, inputs [{path, sha256}],
        scan_outputs [{name, sha256}], scan {parameters, threshold, load,
        cases (edge rules)}, packet_parameters {shop, lang, platform, redact,
        all}, rows {rule, columns, sha256 {review_id: hex}}, reproduce [cmd]}

With ``redacted``, user and device ids are pseudonyms (``user-3f2a1c``) and
IPs are masked (``203.0.113.x``) everywhere above; row hashes are always of
the original rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from scipy import stats

from detector import __version__
from detector.clock import generation_time
from detector.errors import InputError
from detector.evidence import i18n
from detector.evidence.i18n import KIND, LANGS, t
from detector.evidence.platforms import PLATFORMS, Platform
from detector.evidence.safety import Redactor
from detector.evidence.scanload import ScanBundle
from detector.evidence.spans import shared_spans
from detector.input.schema import CONTRACT, DSR_COLUMNS
from detector.wording import iso, parse_iso, reason_texts, scan_zone
from features.claims import keyed
from features.params import BASELINE_FLOOR_S, BURST_WINDOW_S, COREVIEW_WINDOW_S, DAY, HOUR

SCHEMA = "review-detector/evidence-packet"
SCHEMA_VERSION = 1

#: Caps that keep one packet readable; everything capped is still counted.
MAX_MATCHES = 300  # texts with spans per cluster in packet.json
MAX_RING_ACCOUNTS = 40
MAX_REVIEWERS = 12
MAX_IDENTITIES = 30
MAX_RELATED = 100  # reviews of a case at other shops
MAX_TIMELINE_PRODUCTS = 5

ROW_HASH_RULE = (
    "sha256 of the UTF-8 JSON object {column: value} over the contract columns present "
    "(review_id, shop_id, product_id, user_id, rating, created_at, text, ip, device_id, "
    "delivered_at, order_id, dsr_*) as loaded by detector.contract.load_reviews; keys sorted, "
    "separators ',' and ':', non-ASCII kept; datetimes as ISO-8601 UTC "
    "'YYYY-MM-DDTHH:MM:SS.ffffffZ', null as null"
)


class NoCasesError(Exception):
    """The shop has no case to file; nothing is written."""

    exit_code = 3


@dataclass
class PacketOptions:
    shop: str
    lang: str = "zh"
    platform: str = "generic"
    redact: bool = False
    include_all: bool = False

    def validate(self) -> None:
        if self.lang not in LANGS:
            raise InputError(f"unknown language {self.lang!r}; choose from {list(LANGS)}")
        if self.platform not in PLATFORMS:
            raise InputError(f"unknown platform {self.platform!r}; choose from {list(PLATFORMS)}")


@dataclass
class Packet:
    """``data`` is ``packet.json``; ``views`` the chart geometry per case id."""

    data: dict
    views: dict[str, dict]
    timeline: pl.DataFrame  # the shop's reviews: created_at, rating, cited
    options: PacketOptions
    profile: Platform
    warnings: list[str] = field(default_factory=list)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # times are shown in it


# --------------------------------------------------------------------------- helpers


def _utc_iso(ts: datetime) -> str:
    """The row-hash spelling of a time (UTC, microseconds, ``Z``): independent of the shown zone."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canon(value):
    if isinstance(value, datetime):
        return _utc_iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def row_sha256(row: dict, columns: list[str]) -> str:
    """SHA-256 of one review row (see :data:`ROW_HASH_RULE`)."""
    obj = {c: _canon(row.get(c)) for c in columns}
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mean(s: pl.Series) -> float | None:
    s = s.drop_nulls()
    return float(s.cast(pl.Float64).mean()) if s.len() else None


def compute_impact(shop_reviews: pl.DataFrame, cited: set[str] | pl.Series) -> dict:
    """Rating, positive rate and DSR means of the shop with and without the cited reviews."""
    ids = pl.Series("ids", sorted(cited), dtype=pl.String)
    after = shop_reviews.filter(~pl.col("review_id").is_in(ids.implode()))
    out = {
        "n_reviews": shop_reviews.height,
        "n_cited": shop_reviews.height - after.height,
        "rating_before": _mean(shop_reviews["rating"]),
        "rating_after": _mean(after["rating"]),
        "positive_rate_before": _mean((shop_reviews["rating"] >= 4).cast(pl.Float64)),
        "positive_rate_after": _mean((after["rating"] >= 4).cast(pl.Float64)),
    }
    dsr = {}
    for c in DSR_COLUMNS:
        if c in shop_reviews.columns and shop_reviews[c].drop_nulls().len():
            dsr[c] = {
                "before": _mean(shop_reviews[c]),
                "after": _mean(after[c]),
                "n_before": int(shop_reviews[c].drop_nulls().len()),
                "n_after": int(after[c].drop_nulls().len()),
            }
    out["dsr"] = dsr  # only the dimensions the input has per review (Taobao's DSR is anonymous)
    return out


def _with_keys(df: pl.DataFrame) -> pl.DataFrame:
    """:func:`features.claims.keyed`, with null ``_ip``/``_net`` when the input has no IP."""
    df = keyed(df)
    if "_ip" not in df.columns:
        df = df.with_columns(
            pl.lit(None, pl.String).alias("_ip"), pl.lit(None, pl.String).alias("_net")
        )
    return df


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


# --------------------------------------------------------------------------- evidence parts


def _identities(members: pl.DataFrame, red: Redactor, zone: ZoneInfo) -> list[dict]:
    """IPs, networks and devices used by two or more of the case's accounts."""
    out = []
    for kind, col in (("ip", "_ip"), ("net", "_net"), ("device", "device_id")):
        if col not in members.columns:
            continue
        g = (
            members.filter(pl.col(col).is_not_null())
            .group_by(col)
            .agg(
                pl.col("user_id").unique().sort().alias("users"),
                pl.col("review_id").sort().alias("review_ids"),
                pl.col("shop_id").unique().sort().alias("shops"),
                pl.col("created_at").min().alias("first"),
                pl.col("created_at").max().alias("last"),
                pl.col("_ip").n_unique().alias("_n_ip"),
            )
            .filter(pl.col("users").list.len() >= 2)
        )
        if kind == "net":  # a network whose accounts all used one address is listed as that IP
            g = g.filter(pl.col("_n_ip") >= 2)
        for r in g.sort(
            [pl.col("users").list.len(), pl.col(col)], descending=[True, False]
        ).iter_rows(named=True):
            out.append(
                {
                    "type": kind,
                    "value": red.edge_key(kind, r[col]),
                    "n_accounts": len(r["users"]),
                    "accounts": [red.user(u) for u in r["users"]],
                    "review_ids": r["review_ids"],
                    "shop_ids": r["shops"],
                    "first": iso(r["first"], zone),
                    "last": iso(r["last"], zone),
                }
            )
    out.sort(key=lambda d: (-d["n_accounts"], d["type"], str(d["value"])))
    return out[:MAX_IDENTITIES]


def _text_clusters(members: pl.DataFrame, edges: list[dict], shop: str) -> list[dict]:
    """Each text cluster of the case: its first text and the others with shared spans."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if e["type"] == "text":
            by_key[e["key"]].update((e["a"], e["b"]))
    if not by_key or "text" not in members.columns:
        return []
    rows = {
        r["review_id"]: r
        for r in members.select("review_id", "text", "created_at", "user_id", "shop_id").iter_rows(
            named=True
        )
    }
    out = []
    for key, ids in by_key.items():
        revs = sorted(
            (rows[i] for i in ids if i in rows), key=lambda r: (r["created_at"], r["review_id"])
        )
        if len(revs) < 2:
            continue
        ref = revs[0]
        ref_text = ref["text"] or ""
        matches = []
        for r in revs[1 : MAX_MATCHES + 1]:
            sa, sb, sim = shared_spans(ref_text, r["text"] or "")
            matches.append(
                {
                    "review_id": r["review_id"],
                    "text": r["text"],
                    "similarity": round(sim, 4),
                    "spans": sb,
                    "reference_spans": sa,
                }
            )
        out.append(
            {
                "cluster": key,
                "shop_id": ref["shop_id"],
                "n_reviews": len(revs),
                "n_accounts": len({r["user_id"] for r in revs}),
                "reference": {"review_id": ref["review_id"], "text": ref_text},
                "matches": matches,
                "n_matches_omitted": max(len(revs) - 1 - MAX_MATCHES, 0),
            }
        )
    out.sort(key=lambda c: (c["shop_id"] != shop, -c["n_reviews"], c["cluster"]))
    return out


def _burst_runs(at_shop: pl.DataFrame, edges: list[dict]) -> list[tuple[str, int, int, int, int]]:
    """``(product, polarity, t0, t1, n)`` of each run of this shop's reviews joined by burst edges.

    Only reviews the case links by ``burst`` edges count (both in a significant
    burst, see :mod:`detector.cases`); a run ends where two of them are more
    than ``BURST_WINDOW_S`` apart.
    """
    ids: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if e["type"] == "burst":
            ids[e["key"]].update((e["a"], e["b"]))
    runs = []
    for key in sorted(ids):
        sub = at_shop.filter(pl.col("review_id").is_in(pl.Series(sorted(ids[key])).implode()))
        if sub.height < 2:
            continue
        t = np.sort(sub["_t"].to_numpy())
        cut = np.flatnonzero(np.diff(t) > BURST_WINDOW_S) + 1
        product, pol = sub["product_id"][0], int(sub["_pol"][0])
        for run in np.split(t, cut):
            if run.size >= 2:
                runs.append((product, pol, int(run[0]), int(run[-1]), int(run.size)))
    runs.sort(key=lambda r: (-r[4], r[0], r[2]))
    return runs


def _bursts(
    at_shop: pl.DataFrame,
    edges: list[dict],
    shop_reviews: pl.DataFrame,
    scan_span: float,
    zone: ZoneInfo,
) -> list[dict]:
    """Each burst of the case at this shop against the product's own rate of that polarity.

    ``n_window`` counts every review of the product and polarity in the burst
    window (cited or not); the baseline rate is measured outside the window
    (padded by ``BURST_WINDOW_S``) over the scan's span, at least
    ``BASELINE_FLOOR_S``; ``p_value`` is the Poisson chance of ``n_window`` or
    more at that rate.
    """
    out = []
    for product, pol, t0, t1, n in _burst_runs(at_shop, edges):
        t_all = (
            shop_reviews.filter((pl.col("product_id") == product) & (pl.col("_pol") == pol))["_t"]
            .sort()
            .to_numpy()
        )
        n_window = int(np.searchsorted(t_all, t1, "right") - np.searchsorted(t_all, t0, "left"))
        outside = int(
            np.searchsorted(t_all, t0 - BURST_WINDOW_S, "left")
            + (t_all.size - np.searchsorted(t_all, t1 + BURST_WINDOW_S, "right"))
        )
        period = max(scan_span - (t1 - t0) - 2 * BURST_WINDOW_S, BASELINE_FLOOR_S)
        rate_day = outside / period * DAY
        duration = max(t1 - t0, HOUR)
        expected = rate_day * duration / DAY
        p = float(stats.poisson.sf(n_window - 1, max(expected, 1e-9)))
        out.append(
            {
                "product_id": product,
                "polarity": pol,
                "start": iso(datetime.fromtimestamp(t0, UTC), zone),
                "end": iso(datetime.fromtimestamp(t1, UTC), zone),
                "duration_s": t1 - t0,
                "n_case": n,
                "n_window": n_window,
                "baseline_per_day": rate_day,
                "expected": expected,
                "p_value": p,
            }
        )
    return out


def _ring(members: pl.DataFrame, edges: list[dict], red: Redactor) -> dict | None:
    """Accounts of the case that co-reviewed products within the co-review window."""
    if not any(e["type"] == "ring" for e in edges):
        return None
    ring_ids = sorted({e["key"].split("|", 1)[0] for e in edges if e["type"] == "ring"})
    counts = members.group_by("user_id").len().sort(["len", "user_id"], descending=[True, False])
    users = counts["user_id"].head(MAX_RING_ACCOUNTS)
    m = members.filter(pl.col("user_id").is_in(users.implode())).select(
        "user_id", "product_id", "_t"
    )
    pairs = (
        m.join(m, on="product_id", suffix="_b")
        .filter(
            (pl.col("user_id") < pl.col("user_id_b"))
            & ((pl.col("_t") - pl.col("_t_b")).abs() <= COREVIEW_WINDOW_S)
        )
        .group_by("user_id", "user_id_b")
        .agg(pl.col("product_id").n_unique().alias("products"))
        .sort(["products", "user_id", "user_id_b"], descending=[True, False, False])
    )
    return {
        "ring_ids": ring_ids,
        "n_accounts": int(members["user_id"].n_unique()),
        "accounts": [red.user(u) for u in users.to_list()],
        "n_products": int(members["product_id"].n_unique()),
        "links": [
            {"a": red.user(a), "b": red.user(b), "products": int(p)}
            for a, b, p in pairs.iter_rows()
        ],
    }


def _reviewers(
    users: list[str], all_reviews: pl.DataFrame, red: Redactor, zone: ZoneInfo
) -> list[dict]:
    """Each account's activity over the whole scan (all shops)."""
    r = all_reviews.filter(pl.col("user_id").is_in(pl.Series(users).implode()))
    delay = (
        ((pl.col("created_at") - pl.col("delivered_at")).dt.total_seconds() / 60.0).median()
        if "delivered_at" in r.columns
        else pl.lit(None, pl.Float64)
    )
    g = (
        r.group_by("user_id")
        .agg(
            pl.len().alias("n_reviews"),
            (pl.col("rating") <= 2).sum().alias("n_negative"),
            pl.col("shop_id").filter(pl.col("rating") <= 2).n_unique().alias("neg_shops"),
            pl.col("created_at").min().alias("first"),
            pl.col("created_at").max().alias("last"),
            delay.alias("delay"),
        )
        .sort(["n_negative", "user_id"], descending=[True, False])
        .head(MAX_REVIEWERS)
    )
    return [
        {
            "user_id": red.user(x["user_id"]),
            "n_reviews": int(x["n_reviews"]),
            "n_negative": int(x["n_negative"]),
            "negative_shops": int(x["neg_shops"]),
            "first": iso(x["first"], zone),
            "last": iso(x["last"], zone),
            "median_minutes_after_delivery": None if x["delay"] is None else round(x["delay"], 1),
        }
        for x in g.iter_rows(named=True)
    ]


# --------------------------------------------------------------------------- views (chart geometry)

_W, _H, _L, _R, _T, _B = 720.0, 200.0, 44.0, 12.0, 12.0, 34.0


def _x(tt: float, lo: float, hi: float) -> float:
    return _L + (tt - lo) / max(hi - lo, 1.0) * (_W - _L - _R)


def _timeline_view(
    at_shop: pl.DataFrame,
    shop_reviews: pl.DataFrame,
    bursts: list[dict],
    scan_lo: int,
    scan_hi: int,
    lang: str,
    zone: ZoneInfo,
) -> dict:
    """Bars per time bin of the shop's reviews on the case's products; cited ones in red."""
    prods = (
        at_shop.group_by("product_id").len().sort(["len", "product_id"], descending=[True, False])
    )["product_id"].head(MAX_TIMELINE_PRODUCTS)
    t0, t1 = int(at_shop["_t"].min()), int(at_shop["_t"].max())
    pad = max(7 * DAY, (t1 - t0) // 4)
    lo, hi = max(t0 - pad, scan_lo), min(t1 + pad, scan_hi)
    if hi <= lo:
        lo, hi = t0 - DAY, t1 + DAY
    b = _bin_seconds(hi - lo)
    lo = lo - lo % b
    nb = int((hi - lo) // b) + 1
    hi = lo + nb * b
    rel = shop_reviews.filter(
        pl.col("product_id").is_in(prods.implode()) & (pl.col("_t") >= lo) & (pl.col("_t") < hi)
    )
    cited_ids = at_shop["review_id"].implode()
    is_cited = rel["review_id"].is_in(cited_ids).to_numpy()
    idx = ((rel["_t"].to_numpy() - lo) // b).astype(np.int64)
    cited = np.bincount(idx[is_cited], minlength=nb)[:nb]
    other = np.bincount(idx[~is_cited], minlength=nb)[:nb]
    top = max(int((cited + other).max()) if nb else 1, 1)
    plot_h = _H - _T - _B
    bw = (_W - _L - _R) / nb
    bars = []
    for i in range(nb):
        x = _L + i * bw
        ho = other[i] / top * plot_h
        hc = cited[i] / top * plot_h
        base = _H - _B
        if other[i]:
            bars.append({"x": x, "y": base - ho, "w": max(bw - 1, 1), "h": ho, "cls": "other"})
        if cited[i]:
            bars.append({"x": x, "y": base - ho - hc, "w": max(bw - 1, 1), "h": hc, "cls": "cited"})
    windows = []
    for bu in bursts:
        s = parse_iso(bu["start"]).timestamp()
        e = parse_iso(bu["end"]).timestamp()
        x0, x1 = _x(s, lo, hi), _x(max(e, s + b), lo, hi)
        windows.append({"x": x0, "w": max(x1 - x0, 3.0), "y": _T, "h": plot_h})
    baseline = None
    if bursts:
        per_bin = bursts[0]["baseline_per_day"] * b / DAY
        baseline = {"y": _H - _B - min(per_bin / top, 1.0) * plot_h, "x0": _L, "x1": _W - _R}
    ticks = []
    for k in range(5):
        tt = lo + (hi - lo) * k / 4
        ticks.append(
            {
                "x": _x(tt, lo, hi),
                "label": i18n.fmt_time(datetime.fromtimestamp(tt, UTC), zone)[
                    : 10 if b >= DAY else 16
                ],
            }
        )
    return {
        "width": _W,
        "height": _H,
        "plot": {"x0": _L, "x1": _W - _R, "y0": _T, "y1": _H - _B},
        "bars": bars,
        "windows": windows,
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
            "baseline_per_bin": bursts[0]["baseline_per_day"] * b / DAY if bursts else None,
            "windows": [[bu["start"], bu["end"]] for bu in bursts],
        },
    }


def _ring_view(ring: dict) -> dict:
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


def _strip_view(
    users: list[str], all_reviews: pl.DataFrame, shop: str, red: Redactor, zone: ZoneInfo
) -> dict | None:
    """1-2★ reviews of the accounts over time, one row per account."""
    r = all_reviews.filter(
        pl.col("user_id").is_in(pl.Series(users).implode()) & (pl.col("rating") <= 2)
    ).with_columns(pl.col("created_at").dt.epoch("s").alias("_t"))
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
            "label": i18n.fmt_time(datetime.fromtimestamp(lo + (hi - lo) * k / 4, UTC), zone)[:10],
        }
        for k in range(5)
    ]
    height = 22.0 * len(rows) + 40.0
    return {"width": _W, "height": height, "rows": rows, "ticks": ticks, "axis_y": height - 18.0}


# --------------------------------------------------------------------------- the packet


def _explanation(c: dict, lang: str) -> str:
    pol = -1 if c["n_negative_at_shop"] >= c["n_positive_at_shop"] else 1
    pol_txt = i18n.POLARITY[pol][lang]
    labels = [lk["label"] for lk in c["evidence"]["links"][:3]]
    span = i18n.fmt_duration(
        (parse_iso(c["end"]) - parse_iso(c["start"])).total_seconds(),
        lang,
    )
    if lang == "zh":
        sep = "；"
        return (
            f"本店{c['n_cited']}条评价（其中{c['n_negative_at_shop'] if pol < 0 else c['n_positive_at_shop']}条{pol_txt}；"
            f"案件共{c['n_reviews']}条、{c['n_users']}个账号、历时{span}）"
            + (f"，关联依据：{sep.join(labels)}。" if labels else "。")
        )
    return (
        f"{c['n_cited']} review(s) at this shop "
        f"({c['n_negative_at_shop'] if pol < 0 else c['n_positive_at_shop']} {pol_txt}; "
        f"{c['n_reviews']} in the case from {c['n_users']} account(s) over {span})"
        + (f", linked by: {'; '.join(labels)}." if labels else ".")
    )


def _appeal_text(case: dict, lang: str, limit: int | None) -> str:
    kind = KIND[case["kind"]][lang]
    top = case["evidence"]["links"][0]["label"] if case["evidence"]["links"] else ""
    n_other = case["n_reviews"] - 1
    revs = case["evidence"]["reviewers"]
    if case["kind"] == "pro_negative" and revs:
        shops = max(r["negative_shops"] for r in revs)
        neg = sum(r["n_negative"] for r in revs)
        if lang == "zh":
            lead = [
                f"本评价属于职业差评师案件{case['case_id']}：涉案账号在{shops}家店铺共留下{neg}条1–2星评价。",
                f"职业差评师案件{case['case_id']}：涉案账号在{shops}家店铺留下{neg}条差评。",
            ]
        else:
            lead = [
                f"Case {case['case_id']}: the account(s) left {neg} 1-2★ reviews at {shops} "
                "shops (professional negative reviewer).",
                f"Case {case['case_id']}: {neg} 1-2★ reviews by the same account(s) at {shops} shops.",
            ]
        return i18n.fit([*lead, *_appeal_candidates(case, lang, kind, top, n_other)], limit)
    return i18n.fit(_appeal_candidates(case, lang, kind, top, n_other), limit)


def _appeal_candidates(case: dict, lang: str, kind: str, top: str, n_other: int) -> list[str]:
    if lang == "zh":
        cands = [
            f"本评价属于{kind}案件{case['case_id']}：与另外{n_other}条评价关联（{top}）。"
            "证据见所附卡片及证据材料。",
            f"本评价属于{kind}案件{case['case_id']}，与另外{n_other}条评价关联（{top}）。",
            f"{kind}案件{case['case_id']}，关联{n_other}条评价。",
        ]
    else:
        cands = [
            f"This review is part of case {case['case_id']} ({kind.lower()}): linked to "
            f"{n_other} other review(s) by {top}. Evidence in the attached card and packet.",
            f"Part of case {case['case_id']} ({kind.lower()}), linked to {n_other} other review(s).",
            f"Case {case['case_id']}: {kind.lower()}.",
        ]
    return cands


def _select(bundle: ScanBundle, shop: str, include_all: bool) -> pl.DataFrame:
    """Cases with a review at the shop and their counts there; ``_selected`` marks those filed."""
    touching = bundle.cases.filter(pl.col("shop_ids").list.contains(pl.lit(shop)))
    if touching.height == 0:
        return touching.with_columns(
            pl.lit(0).alias("n_cited"),
            pl.lit(0).alias("n_negative_at_shop"),
            pl.lit(0).alias("n_positive_at_shop"),
            pl.lit(False).alias("_selected"),
        )
    shop_rating = bundle.reviews.filter(pl.col("shop_id") == shop).select("review_id", "rating")
    at = (
        touching.select("case_id", "review_ids")
        .explode("review_ids")
        .rename({"review_ids": "review_id"})
        .join(shop_rating, on="review_id", how="inner")
        .group_by("case_id")
        .agg(
            pl.len().alias("n_cited"),
            (pl.col("rating") <= 2).sum().alias("n_negative_at_shop"),
            (pl.col("rating") >= 4).sum().alias("n_positive_at_shop"),
        )
    )
    out = touching.join(at, on="case_id", how="inner")
    harms = (
        (pl.col("n_reviews") >= 2)
        & ((pl.col("n_users") >= 2) | (pl.col("kind") == "pro_negative"))
        & (pl.col("n_negative_at_shop") >= 1)
        & (pl.col("n_negative_at_shop") > pl.col("n_positive_at_shop"))
    )
    sel = pl.lit(True) if include_all else harms
    return out.with_columns(sel.alias("_selected")).sort(
        ["n_cited", "start", "case_id"], descending=[True, False, False]
    )


def _scan_command(bundle: ScanBundle) -> str:
    """The ``scan`` command line that reproduces the scan behind a packet."""
    s = bundle.summary
    load = s.get("load") or {}
    par = s.get("parameters") or {}
    parts = ["review-detector scan", *(shlex.quote(i["path"]) for i in bundle.inputs)]
    parts.append("--out SCAN_DIR")
    if load.get("columns"):
        spec = ",".join(f"{k}={v}" for k, v in load["columns"].items())
        parts.append(f"--columns {shlex.quote(spec)}")
    for k in ("since", "until"):
        if load.get(k):
            parts.append(f"--{k} {shlex.quote(str(load[k]))}")
    if par.get("families"):
        parts.append(f"--families {','.join(par['families'])}")
    if (s.get("threshold") or {}).get("method") == "fixed":
        parts.append(f"--threshold {s['threshold']['value']}")
    parts.append(f"--seed {par.get('seed', 0)}")
    return " ".join(parts)


def build_packet(bundle: ScanBundle, options: PacketOptions) -> Packet:
    """The packet for ``options.shop``; :class:`NoCasesError` when there is nothing to file."""
    options.validate()
    lang, shop = options.lang, options.shop
    profile = PLATFORMS[options.platform]
    reviews = bundle.reviews
    shop_reviews = reviews.filter(pl.col("shop_id") == shop)
    if shop_reviews.height == 0:
        top = reviews.group_by("shop_id").len().sort(["len", "shop_id"], descending=[True, False])
        shown = ", ".join(f"{s} ({n:,})" for s, n in top.head(5).iter_rows())
        raise InputError(
            f"shop {shop!r} has no reviews in the scanned input; shops with the most reviews: {shown}"
        )
    scores = bundle.scores.select("review_id", "score", "flagged", "reasons", "case_id")
    chosen = _select(bundle, shop, options.include_all)
    selected = chosen.filter(pl.col("_selected"))
    n_flagged = int(
        shop_reviews.join(scores.filter(pl.col("flagged")), on="review_id", how="semi").height
    )
    if selected.height == 0:
        others = chosen.height
        raise NoCasesError(
            f"no case harming shop {shop} was found: {n_flagged} of its {shop_reviews.height:,} "
            f"reviews are flagged, in {others} case(s) that are singletons or not attacks on the "
            "shop; no packet was written"
            + (" (use --all to build one from every case)" if others else "")
        )

    salt = hashlib.sha256("".join(i["sha256"] for i in bundle.inputs).encode()).hexdigest()
    red = Redactor(options.redact, salt=salt)
    zone = scan_zone(bundle.summary)
    now = generation_time()
    member_ids = selected.select(pl.col("review_ids").explode()).to_series().unique()
    members_all = _with_keys(
        reviews.filter(pl.col("review_id").is_in(member_ids.implode())).join(
            scores, on="review_id", how="left"
        )
    )
    shop_k = _with_keys(shop_reviews)
    cited_all = selected.select(pl.col("review_ids").explode()).to_series()
    claims = reason_texts(
        reviews,
        bundle.features,
        scores.filter(pl.col("review_id").is_in(cited_all.implode())),
        lang,
        zone,
        redact=lambda k, v: red.edge_key(k, v) if k in ("ip", "net", "device", "user") else v,
    )
    past: list[str] = []
    scan_t = reviews.select(
        pl.col("created_at").min().dt.epoch("s").alias("lo"),
        pl.col("created_at").max().dt.epoch("s").alias("hi"),
    ).row(0)
    scan_lo, scan_hi = int(scan_t[0]), int(scan_t[1])
    contract_cols = [c for c in CONTRACT if c in reviews.columns]
    window_days = profile.appeal_window_days

    cases_out: list[dict] = []
    views: dict[str, dict] = {}
    cited: set[str] = set()
    row_hashes: dict[str, str] = {}
    for c in selected.iter_rows(named=True):
        ids = pl.Series(c["review_ids"]).implode()
        members = members_all.filter(pl.col("review_id").is_in(ids)).sort("_t", "review_id")
        at_shop = members.filter(pl.col("shop_id") == shop)
        elsewhere = members.filter(pl.col("shop_id") != shop)
        edges = c["edges"] or []
        link_counts = Counter(e["type"] for e in edges)
        links = [
            {"type": k, "label": i18n.EDGE[k][lang], "n": n}
            for k, n in sorted(link_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        bursts = _bursts(at_shop, edges, shop_k, scan_hi - scan_lo, zone)
        ring = _ring(members, edges, red)
        users = (
            members.group_by("user_id").len().sort(["len", "user_id"], descending=[True, False])
        )["user_id"].to_list()
        reviewers = (
            _reviewers(users[:MAX_REVIEWERS], reviews, red, zone)
            if c["kind"] in ("pro_negative", "ring") or c["n_users"] <= 3
            else []
        )
        review_rows = []
        for r in at_shop.iter_rows(named=True):
            cited.add(r["review_id"])
            row_hashes[r["review_id"]] = row_sha256(r, contract_cols)
            deadline = r["created_at"] + timedelta(days=window_days) if window_days else None
            if deadline is not None and deadline < now:
                past.append(r["review_id"])
            review_rows.append(
                {
                    "review_id": r["review_id"],
                    "order_id": r.get("order_id"),
                    "created_at": iso(r["created_at"], zone),
                    "rating": int(r["rating"]),
                    "product_id": r["product_id"],
                    "user_id": red.user(r["user_id"]),
                    "ip": red.ip(r.get("ip")),
                    "device_id": red.device(r.get("device_id")),
                    "text": r.get("text"),
                    "score": None if r["score"] is None else round(float(r["score"]), 4),
                    "reasons": claims.get(r["review_id"], []),
                    "appeal_by": iso(deadline, zone),
                    "appeal_past": deadline is not None and deadline < now,
                }
            )
        related = []
        for r in elsewhere.head(MAX_RELATED).iter_rows(named=True):
            row_hashes[r["review_id"]] = row_sha256(r, contract_cols)
            related.append(
                {
                    "review_id": r["review_id"],
                    "shop_id": r["shop_id"],
                    "created_at": iso(r["created_at"], zone),
                    "rating": int(r["rating"]),
                    "product_id": r["product_id"],
                    "user_id": red.user(r["user_id"]),
                    "text": r.get("text"),
                }
            )
        case = {
            "case_id": c["case_id"],
            "kind": c["kind"],
            "kind_label": KIND[c["kind"]][lang],
            "shop_ids": c["shop_ids"],
            "product_ids": c["product_ids"],
            "start": iso(c["start"], zone),
            "end": iso(c["end"], zone),
            "n_reviews": int(c["n_reviews"]),
            "n_users": int(c["n_users"]),
            "n_cited": int(c["n_cited"]),
            "n_negative_at_shop": int(c["n_negative_at_shop"]),
            "n_positive_at_shop": int(c["n_positive_at_shop"]),
            "review_ids": sorted(at_shop["review_id"].to_list()),
            "related_review_ids": sorted(elsewhere["review_id"].to_list()),
            "evidence": {
                "links": links,
                "edges": [
                    {
                        "a": e["a"],
                        "b": e["b"],
                        "type": e["type"],
                        "key": red.edge_key(e["type"], e["key"]),
                    }
                    for e in edges
                ],
                "shared_identities": _identities(members, red, zone),
                "text_clusters": _text_clusters(members, edges, shop),
                "bursts": bursts,
                "ring": ring,
                "reviewers": reviewers,
            },
            "reviews": review_rows,
            "related_reviews": related,
        }
        case["explanation"] = _explanation(case, lang)
        case["appeal_text"] = _appeal_text(case, lang, profile.summary_max_chars)
        cases_out.append(case)
        views[c["case_id"]] = {
            "timeline": _timeline_view(at_shop, shop_k, bursts, scan_lo, scan_hi, lang, zone),
            "ring": _ring_view(ring) if ring and ring["accounts"] else None,
            "strip": _strip_view(users, reviews, shop, red, zone)
            if c["kind"] == "pro_negative"
            else None,
        }

    impact = compute_impact(shop_reviews, cited)
    kinds = sorted({c["kind"] for c in cases_out}, key=lambda k: list(KIND).index(k))
    attacks = not options.include_all
    summary = i18n.fit(
        i18n.summary_candidates(lang, len(cited), len(cases_out), kinds, shop, impact, attacks),
        profile.summary_max_chars,
    )
    unlinked = int(
        shop_reviews.join(scores.filter(pl.col("flagged")), on="review_id", how="semi")
        .filter(~pl.col("review_id").is_in(pl.Series(sorted(cited), dtype=pl.String).implode()))
        .height
    )
    warnings: list[str] = []
    if past and window_days:
        warnings.append(
            i18n.t("appeal_past", lang, n=len(past), days=window_days, platform=profile.key)
        )
    params = {
        "shop": shop,
        "lang": lang,
        "platform": options.platform,
        "redact": options.redact,
        "all": options.include_all,
    }
    cmd = (
        f"review-detector evidence SCAN_DIR --shop {shlex.quote(shop)} --lang {lang} "
        f"--platform {options.platform}"
        + (" --redact" if options.redact else "")
        + (" --all" if options.include_all else "")
    )
    data = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now, zone),
        "timezone": str(zone.key),
        "shop_id": shop,
        "lang": lang,
        "platform": profile.to_json(),
        "selection": "all" if options.include_all else "attacks",
        "redacted": options.redact,
        "summary": summary,
        "impact": impact,
        "n_flagged_at_shop": n_flagged,
        "n_flagged_unlinked": unlinked,
        "cases": cases_out,
        "files": {},
        "warnings": warnings,
        "integrity": {
            "engine": {
                "name": "review-detector",
                "version": __version__,
                "scan_version": bundle.summary.get("version"),
            },
            "inputs": bundle.inputs,
            "scan_outputs": bundle.outputs,
            "scan": {
                "parameters": bundle.summary.get("parameters"),
                "threshold": bundle.summary.get("threshold"),
                "load": {k: v for k, v in (bundle.summary.get("load") or {}).items() if k != "cwd"},
                "cases": (bundle.summary.get("cases") or {}).get("edge_rules"),
            },
            "packet_parameters": params,
            "rows": {
                "rule": ROW_HASH_RULE,
                "columns": contract_cols,
                "sha256": dict(sorted(row_hashes.items())),
            },
            "reproduce": [_scan_command(bundle), cmd],
        },
    }
    timeline = shop_reviews.select(
        "created_at",
        "rating",
        pl.col("review_id")
        .is_in(pl.Series(sorted(cited), dtype=pl.String).implode())
        .alias("cited"),
    ).sort("created_at")
    return Packet(data, views, timeline, options, profile, warnings, zone)
