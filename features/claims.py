"""The facts behind a reason: the review's own numbers that its claim states.

A reason is a feature in its suspicious tail (:meth:`features.registry.Feature.in_tail`);
what it *says* is the feature's :class:`~features.registry.Claim` filled with
facts recounted here from the reviews themselves (every account's reviews,
every product's ratings, the other accounts on one address within the
window ...), so a reader can check each number against the export. Counts a
feature already is (template users, ring partners) are taken from the
feature's value.

:func:`claim_facts` returns, per ``(review_id, feature)``, a dict of facts, or
``None`` when the data does not support a claim (a reason whose claim would
be empty is not shown). Values are numbers, ``datetime`` (UTC), ``timedelta``
or ``{"en": ..., "zh": ...}`` word pairs; wording and number formatting are
the caller's (``detector.wording``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from features.params import (
    BASELINE_FLOOR_S,
    BURST_WINDOW_S,
    COREVIEW_WINDOW_S,
    DAY,
    FRESH_MAX_REVIEWS,
    HOUR,
    IDENTITY_WINDOW_S,
    RING_MIN_PRODUCTS,
    TEXT_WINDOW_S,
)
from features.prepare import ip_keys, row_exprs
from features.prompt import PROMPT_MINUTES, PROMPT_WINDOW_S, is_prompt

Facts = dict[tuple[str, str], dict | None]
STARS = {-1: {"en": "1–2★", "zh": "1–2星"}, 1: {"en": "4–5★", "zh": "4–5星"}}
_USER = ("user_review_count", "user_active_days", "user_extreme_share", "user_neg_shops")
_USER += ("user_day_share",)
_VALUE = {
    "text_dup_window": lambda v: {"k": int(v), "h": TEXT_WINDOW_S // HOUR},
    "text_cluster_users": lambda v: {"k": int(v)},
    "text_cluster_shops": lambda v: {"k": int(v)},
    "device_product_users": lambda v: {"k": int(v)},
    "ring_partners": lambda v: {
        "k": int(v),
        "m": RING_MIN_PRODUCTS,
        "h": COREVIEW_WINDOW_S // HOUR,
    },
    "ring_core": lambda v: {"k": int(v)},
    "ring_size": lambda v: {"n": int(v)},
}


def keyed(reviews: pl.DataFrame) -> pl.DataFrame:
    """``reviews`` with ``_t`` (epoch s), ``_pol``, with ``delivered_at`` ``_delay_min`` and,
    with an ``ip`` column, ``_ip``/``_net``.

    Columns already there are kept (a scan's link keys carry them).
    """
    # the same expressions as the feature pipeline's, for the columns not there yet
    wanted = {"_t", "_pol", "_delay_min"} - set(reviews.columns)
    missing = [e for e in row_exprs(set(reviews.columns)) if e.meta.output_name() in wanted]
    df = reviews.with_columns(missing) if missing else reviews
    if "ip" in df.columns and "_ip" not in df.columns:
        df = df.join(ip_keys(df.lazy().select("ip")).collect(), on="ip", how="left")
    return df


def _user_facts(reviews: pl.DataFrame, users: pl.Series) -> dict[str, dict]:
    g = (
        reviews.filter(pl.col("user_id").is_in(users.implode()))
        .group_by("user_id")
        .agg(
            pl.len().alias("n"),
            (pl.col("rating") <= 2).sum().alias("n_neg"),
            pl.col("rating").is_in([1, 5]).sum().alias("n_ext"),
            pl.col("shop_id").filter(pl.col("rating") <= 2).n_unique().alias("shops"),
            (pl.col("_t").max() - pl.col("_t").min()).alias("span"),
            (pl.col("_t") // DAY).value_counts().struct.field("count").max().alias("max_day"),
        )
    )
    return {r["user_id"]: r for r in g.iter_rows(named=True)}


def _user_claim(name: str, u: dict) -> dict | None:
    n = u["n"]
    if name == "user_review_count":
        return {"n": n}
    if name == "user_active_days":
        return {"n": n, "span": timedelta(seconds=int(u["span"]))} if n >= 2 else None
    if name == "user_extreme_share":
        return {"k": u["n_ext"], "n": n} if u["n_ext"] else None
    if name == "user_neg_shops":
        return {"shops": u["shops"], "k": u["n_neg"], "n": n} if u["shops"] >= 2 else None
    return {"k": u["max_day"], "n": n} if u["max_day"] >= 2 else None


def _window_others(
    reviews: pl.DataFrame, rows: pl.DataFrame, on: list[str], window: int
) -> dict[str, int]:
    """Per row of ``rows``: distinct other accounts sharing ``on`` within ``window`` seconds."""
    if rows.height == 0:
        return {}
    other = reviews.select(*on, pl.col("user_id").alias("_u"), pl.col("_t").alias("_to"))
    m = (
        rows.select("review_id", "user_id", "_t", *on)
        .drop_nulls(on)
        .join(other, on=on)
        .filter(
            (pl.col("_u") != pl.col("user_id")) & ((pl.col("_to") - pl.col("_t")).abs() <= window)
        )
        .group_by("review_id")
        .agg(pl.col("_u").n_unique().alias("k"))
    )
    return dict(m.iter_rows())


def _burst_facts(reviews: pl.DataFrame, rows: pl.DataFrame) -> dict[str, dict]:
    """Fresh accounts' same-polarity reviews of the product within the burst window."""
    if rows.height == 0:
        return {}
    counts = reviews.group_by("user_id").len("_n")
    rv = reviews.join(counts, on="user_id").select(
        "product_id",
        "_pol",
        pl.col("_t").alias("_to"),
        (pl.col("_n") <= FRESH_MAX_REVIEWS).alias("_fresh"),
    )
    lo, hi = reviews["_t"].min(), reviews["_t"].max()
    m = rows.select("review_id", "product_id", "_pol", "_t").join(rv, on=["product_id", "_pol"])
    near = (pl.col("_to") - pl.col("_t")).abs() <= BURST_WINDOW_S
    g = m.group_by("review_id").agg(
        pl.col("_to").filter(near & pl.col("_fresh")).len().alias("n"),
        pl.col("_to").filter(near & pl.col("_fresh")).min().alias("t0"),
        pl.col("_to").filter(near & pl.col("_fresh")).max().alias("t1"),
        (~near).sum().alias("outside"),
        pl.col("product_id").first(),
        pl.col("_pol").first(),
    )
    period = max(hi - lo - 2 * BURST_WINDOW_S, BASELINE_FLOOR_S)
    out = {}
    for r in g.iter_rows(named=True):
        if r["n"] < 3 or r["_pol"] == 0:
            continue
        out[r["review_id"]] = {
            "n": r["n"],
            "stars": STARS[r["_pol"]],
            "product": r["product_id"],
            "fresh": FRESH_MAX_REVIEWS,
            "start": datetime.fromtimestamp(r["t0"], UTC),
            "end": datetime.fromtimestamp(r["t1"], UTC),
            "rate": r["outside"] / period * DAY,
        }
    return out


def _trait_counts(
    reviews: pl.DataFrame, rows: pl.DataFrame, trait: pl.Expr, window: int
) -> pl.DataFrame:
    """Per row of ``rows``: the product's same-polarity reviews near it showing ``trait``
    like it, and the shop's others, as :func:`features.windows.share_surprise` counts them.

    ``n``: the product's reviews of the row's polarity whose trait is known within
    ``window`` seconds (the row's own included), ``k`` of them with the row's value
    (first ``t0``, last ``t1``); ``m``: the shop's other reviews whose trait is known
    (all but those ``n``), ``m_k`` of them with the row's value.
    """
    known = reviews.with_columns(trait.alias("_v")).filter(pl.col("_v").is_not_null())
    rv = known.select("product_id", "_pol", pl.col("_t").alias("_to"), pl.col("_v").alias("_vo"))
    m = rows.with_columns(trait.alias("_v")).select(
        "review_id", "shop_id", "product_id", "_pol", "_t", "_v"
    )
    near = (pl.col("_to") - pl.col("_t")).abs() <= window
    same = near & (pl.col("_vo") == pl.col("_v"))
    g = (
        m.join(rv, on=["product_id", "_pol"])
        .group_by("review_id")
        .agg(
            near.sum().alias("n"),
            same.sum().alias("k"),
            pl.col("_to").filter(same).min().alias("t0"),
            pl.col("_to").filter(same).max().alias("t1"),
            *[pl.col(c).first() for c in ("shop_id", "product_id", "_pol", "_v")],
        )
    )
    shop = known.group_by("shop_id").len("_sn")
    shop_v = known.group_by("shop_id", "_v").len("_sk")
    return (
        g.join(shop, on="shop_id")
        .join(shop_v, on=["shop_id", "_v"])
        .with_columns(
            (pl.col("_sn") - pl.col("n")).alias("m"), (pl.col("_sk") - pl.col("k")).alias("m_k")
        )
    )


def _trait_facts(r: dict) -> dict:
    """The facts :func:`_trait_counts` gives a row, its times as datetimes (UTC)."""
    return {
        "k": r["k"],
        "n": r["n"],
        "stars": STARS[r["_pol"]],
        "product": r["product_id"],
        "start": datetime.fromtimestamp(r["t0"], UTC),
        "end": datetime.fromtimestamp(r["t1"], UTC),
        "m": r["m"],
        "m_k": r["m_k"],
    }


def _region_facts(reviews: pl.DataFrame, rows: pl.DataFrame) -> dict[str, dict]:
    """The product's same-polarity reviews near each row showing its IP属地, and the shop's
    others (:func:`_trait_counts` with the province as the trait)."""
    rows = rows.filter(pl.col("ip_region").is_not_null() & (pl.col("_pol") != 0))
    if rows.height == 0:
        return {}
    g = _trait_counts(reviews, rows, pl.col("ip_region"), BURST_WINDOW_S)
    h = BURST_WINDOW_S // HOUR
    return {
        r["review_id"]: {**_trait_facts(r), "region": r["_v"], "h": h}
        for r in g.iter_rows(named=True)
    }


def _prompt_facts(reviews: pl.DataFrame, rows: pl.DataFrame) -> dict[str, dict]:
    """The product's same-polarity reviews near each prompt row, how many of them prompt,
    and the shop's others (:func:`_trait_counts` with "prompt" as the trait, as
    :func:`features.prompt.prompt_bursts` counts them)."""
    rows = rows.filter(is_prompt(pl.col("_delay_min")) & (pl.col("_pol") != 0))
    if rows.height == 0:
        return {}
    g = _trait_counts(reviews, rows, is_prompt(pl.col("_delay_min")), PROMPT_WINDOW_S)
    d, minutes = PROMPT_WINDOW_S // DAY, int(PROMPT_MINUTES)
    return {
        r["review_id"]: {**_trait_facts(r), "d": d, "minutes": minutes}
        for r in g.iter_rows(named=True)
    }


def _product_facts(reviews: pl.DataFrame, rows: pl.DataFrame) -> dict[str, dict]:
    g = (
        reviews.filter(pl.col("product_id").is_in(rows["product_id"].implode()))
        .group_by("product_id")
        .agg(
            pl.col("rating").cast(pl.Float64).sum().alias("s"),
            pl.len().alias("n"),
            pl.col("_t").min().alias("first"),
        )
    )
    p = {r["product_id"]: r for r in g.iter_rows(named=True)}
    out = {}
    for r in rows.iter_rows(named=True):
        q = p[r["product_id"]]
        n = q["n"] - 1
        out[r["review_id"]] = {
            "dev": {"rating": r["rating"], "n": n, "mean": (q["s"] - r["rating"]) / n}
            if n
            else None,
            "age": {"age": timedelta(seconds=int(r["_t"] - q["first"]))},
        }
    return out


def _delay(minutes: float | None) -> dict | None:
    """Facts of ``review_delay_minutes``: the minutes from confirmed receipt to the review."""
    if minutes is None or minutes != minutes:
        return None
    m = abs(minutes)
    en, zh = (
        (f"{m:.0f} min", f"{m:.0f}分钟") if m < 120 else (f"{m / 60:.1f} h", f"{m / 60:.1f}小时")
    )
    if minutes >= 0:
        return {"when": {"en": f"{en} after", "zh": f"后{zh}"}, "minutes": minutes}
    return {"when": {"en": f"{en} before", "zh": f"前{zh}（收货前）"}, "minutes": minutes}


def claim_facts(reviews: pl.DataFrame, features: pl.DataFrame, pairs: pl.DataFrame) -> Facts:
    """Facts for each ``(review_id, feature)`` of ``pairs``.

    Parameters
    ----------
    reviews : DataFrame
        Every review of the scan: ``review_id``, ``shop_id``, ``product_id``,
        ``user_id``, ``rating``, ``created_at`` (or its ``_t``) and, when
        present, ``ip`` (or ``_ip``/``_net``) and ``device_id``: contract
        columns, or a scan's link keys; counts are over all of them.
    features : DataFrame
        ``review_id`` and the feature columns, for at least the reviews of ``pairs``.
    pairs : DataFrame
        ``review_id``, ``feature``: the reasons to state.
    """
    out: Facts = {}
    if pairs.height == 0:
        return out
    reviews = keyed(reviews)
    ids = pairs["review_id"].unique()
    rows = reviews.filter(pl.col("review_id").is_in(ids.implode()))
    by_id = {r["review_id"]: r for r in rows.iter_rows(named=True)}
    wanted = set(pairs["feature"].unique().to_list())
    users = _user_facts(reviews, rows["user_id"].unique()) if wanted & set(_USER) else {}
    burst = _burst_facts(reviews, rows) if "fresh_burst" in wanted else {}
    region = (
        _region_facts(reviews, rows)
        if "region_burst" in wanted and "ip_region" in reviews.columns
        else {}
    )
    prompt = (
        _prompt_facts(reviews, rows)
        if "prompt_burst" in wanted and "_delay_min" in reviews.columns
        else {}
    )
    prod = (
        _product_facts(reviews, rows) if wanted & {"rating_deviation", "product_age_days"} else {}
    )
    h = IDENTITY_WINDOW_S // HOUR
    others: dict[str, dict[str, int]] = {}
    for name, on in (
        ("ip_shop_burst", ["_ip", "shop_id"]),
        ("net_shop_burst", ["_net", "shop_id"]),
        ("net_product_burst", ["_net", "product_id"]),
    ):
        if name in wanted and on[0] in reviews.columns:
            others[name] = _window_others(reviews, rows, on, IDENTITY_WINDOW_S)
    devices = {}
    if "device_users" in wanted and "device_id" in reviews.columns:
        devices = dict(
            reviews.filter(pl.col("device_id").is_in(rows["device_id"].drop_nulls().implode()))
            .group_by("device_id")
            .agg(pl.col("user_id").n_unique())
            .iter_rows()
        )
    values = features.filter(pl.col("review_id").is_in(ids.implode()))
    value = {r["review_id"]: r for r in values.iter_rows(named=True)}
    for rid, name in pairs.select("review_id", "feature").iter_rows():
        r = by_id.get(rid)
        facts: dict | None = None
        if r is None:
            pass
        elif name in _USER:
            facts = _user_claim(name, users[r["user_id"]])
        elif name == "fresh_burst":
            facts = burst.get(rid)
        elif name == "region_burst":
            facts = region.get(rid)
        elif name == "prompt_burst":
            facts = prompt.get(rid)
        elif name == "rating_deviation":
            facts = prod[rid]["dev"]
        elif name == "product_age_days":
            facts = prod[rid]["age"]
        elif name == "review_delay_minutes":
            facts = _delay(value.get(rid, {}).get(name))
        elif name == "rating_extreme":
            facts = {"rating": int(r["rating"])} if r["rating"] in (1, 5) else None
        elif name in others:
            k = others[name].get(rid, 0)
            key = {"ip": r.get("_ip"), "net": r.get("_net"), "product": r["product_id"]}
            facts = {"k": k, "h": h, **key} if k else None
        elif name == "device_users":
            n = devices.get(r.get("device_id"), 0)
            facts = {"n": n, "device": r.get("device_id")} if n >= 2 else None
        elif name in _VALUE and value.get(rid, {}).get(name) is not None:
            facts = _VALUE[name](value[rid][name])
            if not any(v for k, v in facts.items() if k in ("k", "n")):
                facts = None
        out[(rid, name)] = facts
    return out
