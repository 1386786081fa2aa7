"""The evidence of one case: the facts a platform reviewer can check for each cited review.

Shared identities, text clusters with their shared spans, bursts against the
product's own rate, the co-review ring, the accounts' activity, and the rows
of the cited reviews and of the case's reviews at other shops. Row keys
(``_t``, ``_pol``, ``_ip``, ``_net``) are :func:`features.prepare.prepare`'s,
the ones the scan linked the reviews by.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from scipy import stats

from detector.evidence import i18n
from detector.evidence.safety import Redactor
from detector.evidence.spans import shared_spans
from detector.wording import iso
from features.params import BASELINE_FLOOR_S, BURST_WINDOW_S, COREVIEW_WINDOW_S, DAY, HOUR
from features.prepare import DERIVED, prepare
from features.prompt import is_prompt
from models.graph import BURST_WINDOW as DELAY_WINDOW
from models.graph import delay_burst_kind, node_hashes
from models.surprise import SHOP_PSEUDO

#: Caps that keep one packet readable; everything capped is still counted.
MAX_MATCHES = 300  # texts with spans per cluster in packet.json
MAX_RING_ACCOUNTS = 40
MAX_REVIEWERS = 12
MAX_IDENTITIES = 30
MAX_RELATED = 100  # reviews of a case at other shops

#: The row keys the evidence reads, as the scan derived them.
ROW_KEYS = ("_t", "_pol", "_ip", "_net")


def with_keys(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` (row order kept) with the scan's row keys; null ``_ip``/``_net`` without an IP."""
    cols = [c for c in df.columns if c not in DERIVED and c != "_order"]
    lf = prepare(df.select(cols).with_row_index("_order").lazy())
    derived = [k for k in ROW_KEYS if k in lf.collect_schema().names()]
    out = lf.select("_order", *cols, *derived).collect().sort("_order").drop("_order")
    if "_ip" not in out.columns:
        out = out.with_columns(
            pl.lit(None, pl.String).alias("_ip"), pl.lit(None, pl.String).alias("_net")
        )
    return out


def delay_groups(reviews: pl.DataFrame) -> pl.DataFrame:
    """Per member of a ``delay_burst`` group of the scan, the group's numbers.

    Membership is recomputed from the reviews as the scan's graph builds it
    (:func:`models.graph.delay_burst_kind`): the prompt reviews of a product
    in one window of ``DELAY_WINDOW`` seconds, far beyond the reference share.
    Columns: ``review_id``, ``product_id``, ``t0``/``t1`` (the window, epoch
    s, inclusive), ``k`` (its prompt reviews), ``n`` (its reviews with a
    receipt time), ``ref`` (``"shop"``: the shop's reviews outside the group,
    or ``"market"``: every review), ``ref_k``/``ref_n`` (prompt and all
    reviews with a receipt time there). The shop is the reference when its
    share, shrunk towards the market's as the scan shrinks it, is the larger;
    its raw share, stated, is then larger still. Shares counting the
    campaigns themselves only raise the bar the group is stated against.
    """
    if "delivered_at" not in reviews.columns:
        return pl.DataFrame(schema={"review_id": pl.String})
    cols = ["review_id", "product_id", "shop_id", "rating", "created_at", "delivered_at"]
    keys = prepare(reviews.select(cols).lazy()).select(*cols[:3], "_t", "_delay_min").collect()
    member = delay_burst_kind(node_hashes(keys, ("delay_burst",))).ids >= 0
    known = keys.with_columns(pl.Series("_member", member)).filter(
        pl.col("_delay_min").is_not_null()
    )
    known = known.with_columns(
        (pl.col("_t") // DELAY_WINDOW).alias("_w"),
        is_prompt(pl.col("_delay_min")).cast(pl.Int64).alias("_prompt"),
    )
    m_k, m_n = int(known["_prompt"].sum()), known.height
    market = m_k / max(m_n, 1)
    groups = known.group_by("product_id", "_w", "shop_id").agg(
        pl.len().alias("n"), pl.col("_prompt").sum().alias("k")
    )
    shops = known.group_by("shop_id").agg(
        pl.col("_prompt").sum().alias("s_k"), pl.len().alias("s_n")
    )
    out_k, out_n = pl.col("s_k") - pl.col("k"), pl.col("s_n") - pl.col("n")
    by_shop = (out_n > 0) & ((out_k + SHOP_PSEUDO * market) / (out_n + SHOP_PSEUDO) > market)
    return (
        known.filter("_member")
        .select("review_id", "product_id", "_w")
        .join(groups.join(shops, on="shop_id"), on=["product_id", "_w"])
        .select(
            "review_id",
            "product_id",
            (pl.col("_w") * DELAY_WINDOW).alias("t0"),
            ((pl.col("_w") + 1) * DELAY_WINDOW - 1).alias("t1"),
            pl.col("k").cast(pl.Int64),
            pl.col("n").cast(pl.Int64),
            pl.when(by_shop).then(pl.lit("shop")).otherwise(pl.lit("market")).alias("ref"),
            pl.when(by_shop).then(out_k).otherwise(m_k).cast(pl.Int64).alias("ref_k"),
            pl.when(by_shop).then(out_n).otherwise(m_n).cast(pl.Int64).alias("ref_n"),
        )
        .sort("review_id")
    )


def identities(members: pl.DataFrame, red: Redactor, zone: ZoneInfo) -> list[dict]:
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


def text_clusters(members: pl.DataFrame, edges: list[dict], shop: str) -> list[dict]:
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


def bursts(
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


def ring(members: pl.DataFrame, edges: list[dict], red: Redactor) -> dict | None:
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


def reviewers(
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


def links(edges: list[dict], lang: str) -> list[dict]:
    """How many edges of each type link the case, the most frequent first."""
    counts = Counter(e["type"] for e in edges)
    return [
        {"type": k, "label": i18n.EDGE[k][lang], "n": n}
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def accounts_by_activity(members: pl.DataFrame) -> list[str]:
    """The case's accounts, the one with most reviews in it first."""
    counts = members.group_by("user_id").len().sort(["len", "user_id"], descending=[True, False])
    return counts["user_id"].to_list()


def appeal_deadline(created_at: datetime, window_days: int | None) -> datetime | None:
    """The last moment a review can be appealed (``None``: the platform sets no window)."""
    return created_at + timedelta(days=window_days) if window_days else None


def cited_row(
    r: dict, red: Redactor, zone: ZoneInfo, deadline: datetime | None, now: datetime
) -> dict:
    """One cited review as ``packet.json`` lists it (without its reasons)."""
    return {
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
        "reasons": [],
        "appeal_by": iso(deadline, zone),
        "appeal_past": deadline is not None and deadline < now,
    }


def related_row(r: dict, red: Redactor, zone: ZoneInfo) -> dict:
    """One review of the case at another shop (context, not cited)."""
    return {
        "review_id": r["review_id"],
        "shop_id": r["shop_id"],
        "created_at": iso(r["created_at"], zone),
        "rating": int(r["rating"]),
        "product_id": r["product_id"],
        "user_id": red.user(r["user_id"]),
        "text": r.get("text"),
    }
