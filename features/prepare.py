"""Derived columns every feature step may rely on.

Added once, before any table or step runs; all start with ``_`` and never
reach the output files. They are the only ``_`` names the feature stage
reads: an input column of one of these names (:data:`DERIVED`), or of any
other name no step asks for, is never read, so it cannot change a result.

``_rid``
    Int64 row key; tables are keyed by it so joins back are integer joins.
``_t``, ``_day``
    ``created_at`` in epoch seconds and epoch days.
``_pol``
    Rating polarity: 1 for 4-5 stars, -1 for 1-2, 0 for 3. Bursts and
    templates are counted within one polarity: praise and smear are
    different campaigns.
``_ip``, ``_net``
    Canonical IP text and its /24 (IPv4) or /64 (IPv6) network. A masked
    address (``117.136.*.*``, as the loader keeps it) has no ``_ip`` (it is
    no one address) and the network it reveals as ``_net``
    (``117.136.0.0/16``; ``117.136.5.*`` gives the /24 a full address of it has).
``_text_norm``, ``_tmpl``
    Normalised text and whether it is long and specific enough to count as a
    template.
``_delay_min``
    Minutes from confirmed receipt to the review.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from features.ipaddr import ip_normalized, ip_prefix, masked_prefix
from features.textnorm import is_template_candidate, normalize_text

#: The column a load adds when ``user_id`` is weak: masked nicknames (``梁***k``) kept
#: for display while ``user_id`` holds a pseudo-account per order (detector.input.identities).
WEAK_USER_MARK = "user_nick"
#: Features that describe the account behind a review (its history, rings, the
#: freshness of a burst's accounts). With a weak ``user_id`` they would describe the
#: pseudo-account, i.e. the review itself, and claim account behaviour that no one
#: observed: :func:`account_features_withheld` withholds them.
PER_ACCOUNT: frozenset[str] = frozenset(
    {
        "user_review_count",
        "user_active_days",
        "user_extreme_share",
        "user_neg_shops",
        "user_day_share",
        "ring_partners",
        "ring_core",
        "ring_size",
        "fresh_burst",
    }
)
#: What ``summary.json`` lists as missing for a withheld per-account feature.
WEAK_USER_REASON = "user_id (weak: masked nicknames are not accounts)"


def account_features_withheld(columns: Iterable[str]) -> bool:
    """Whether reviews with these columns have a weak ``user_id`` (see :data:`PER_ACCOUNT`)."""
    return WEAK_USER_MARK in set(columns)


#: Inputs that steps and tables read only through their derived columns.
READ_AS_DERIVED: frozenset[str] = frozenset({"created_at", "delivered_at", "ip", "text"})

#: Every column :func:`prepare` derives; input columns of these names are left out.
DERIVED: tuple[str, ...] = (
    "_rid",
    "_t",
    "_day",
    "_pol",
    "_ip",
    "_net",
    "_text_norm",
    "_tmpl",
    "_delay_min",
)

DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "_ip": ("ip",),
    "_net": ("ip",),
    "_text_norm": ("text",),
    "_tmpl": ("text",),
    "_delay_min": ("delivered_at",),
}


def ip_keys(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``ip -> (_ip, _net)`` over the distinct addresses only.

    The parsing is a chain of regular expressions; run per distinct address on
    the in-memory engine it is cheap, while per row on the streaming engine
    the patterns are recompiled for every morsel (measured 100x slower).
    """
    uniq = lf.select(pl.col("ip").unique()).drop_nulls().collect(engine="in-memory")
    masked = pl.col("ip").str.contains("*", literal=True)
    v6 = pl.col("ip").str.contains(":", literal=True)
    # IPv4 (the bulk) needs no normalising: its text is canonical once valid.
    v4 = uniq.filter(~v6 & ~masked).with_columns(
        pl.col("ip").alias("_ip"), pl.col("ip").str.replace(r"\.[0-9]+$", ".0/24").alias("_net")
    )
    six = uniq.filter(v6).with_columns(
        ip_normalized(pl.col("ip")).alias("_ip"), ip_prefix(pl.col("ip")).alias("_net")
    )
    hidden = uniq.filter(masked & ~v6).with_columns(
        pl.lit(None, pl.String).alias("_ip"), masked_prefix(pl.col("ip")).alias("_net")
    )
    return pl.concat([v4, six, hidden]).lazy()


def row_exprs(cols: set[str]) -> list[pl.Expr]:
    """Derived columns computed from each row's own values (times, polarity, delay)."""
    exprs: list[pl.Expr] = [
        pl.col("created_at").dt.epoch("s").alias("_t"),
        (pl.col("created_at").dt.epoch("s") // 86_400).alias("_day"),
        pl.when(pl.col("rating") >= 4)
        .then(pl.lit(1, pl.Int8))
        .when(pl.col("rating") <= 2)
        .then(pl.lit(-1, pl.Int8))
        .otherwise(pl.lit(0, pl.Int8))
        .alias("_pol"),
    ]
    if "delivered_at" in cols:
        exprs.append(
            ((pl.col("created_at") - pl.col("delivered_at")).dt.total_seconds() / 60.0).alias(
                "_delay_min"
            )
        )
    return exprs


def _text_exprs() -> list[pl.Expr]:
    norm = normalize_text(pl.col("text").fill_null(""))
    return [norm.alias("_text_norm"), is_template_candidate(norm).alias("_tmpl")]


def _own_derived(names: Iterable[str], keyed: bool) -> list[str]:
    """Input columns named like a derived column (``_rid`` kept when ``keyed``): dropped."""
    return [c for c in names if c in DERIVED and not (keyed and c == "_rid")]


def prepare(lf: pl.LazyFrame, keyed: bool = False) -> pl.LazyFrame:
    """Add the derived columns the available inputs allow.

    ``keyed``: ``lf`` carries each row's ``_rid`` (a shard of a larger input
    carries its rows' keys in the whole input); otherwise ``_rid`` is the row
    position. Input columns named like a derived column are replaced.
    """
    if keyed and "_rid" not in lf.collect_schema().names():
        raise ValueError("keyed reviews need their _rid")
    lf = lf.drop(_own_derived(lf.collect_schema().names(), keyed))
    cols = set(lf.collect_schema().names())
    out = lf if keyed else lf.with_row_index("_rid")
    out = out.with_columns(pl.col("_rid").cast(pl.Int64)).with_columns(row_exprs(cols))
    if "ip" in cols:
        out = out.join(ip_keys(lf), on="ip", how="left", nulls_equal=False)
    if "text" in cols:
        out = out.with_columns(_text_exprs())
    return out


def prepare_frame(reviews: pl.DataFrame, keep: Iterable[str], keyed: bool = False) -> pl.DataFrame:
    """:func:`prepare` materialised: the ``keep`` input columns and every derived column.

    ``_rid`` is the row position, or with ``keyed`` the ``_rid`` that
    ``reviews`` carries (a shard of an out-of-core scan); input columns named
    like a derived column are never kept.

    The same values in the same row order as ``prepare(reviews.lazy())``, but
    the kept input columns are the input's own buffers, not copies (1.5 GB at
    10M reviews), and only the derived columns are computed: row-wise ones
    in place, the IP keys over distinct addresses, the text normalisation
    (the costly part) on the streaming engine, on every core.
    """
    if keyed and "_rid" not in reviews.columns:
        raise ValueError("keyed reviews need their _rid")
    cols, keep = set(reviews.columns), set(keep) - set(DERIVED)
    rid = (
        reviews.select(pl.col("_rid").cast(pl.Int64))
        if keyed  # a shard keeps its rows' keys in the whole input
        else pl.DataFrame({"_rid": np.arange(reviews.height, dtype=np.int64)})
    )
    parts = [
        rid,
        reviews.select([c for c in reviews.columns if c in keep]),
        reviews.select(row_exprs(cols)),
    ]
    if "ip" in cols:
        lf = reviews.lazy().select("ip")
        parts.append(
            lf.join(ip_keys(lf), on="ip", how="left", nulls_equal=False, maintain_order="left")
            .select("_ip", "_net")
            .collect()
        )
    if "text" in cols:
        norm = (
            reviews.lazy()
            .select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"), "text")
            .select("_i", *_text_exprs())
            .collect(engine="streaming")
        )
        if not norm["_i"].is_sorted():
            norm = norm.sort("_i")
        parts.append(norm.drop("_i"))
    return pl.concat(parts, how="horizontal")
