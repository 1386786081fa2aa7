"""Template similarity: near-duplicate texts posted together.

Campaigns reuse one template with light paraphrase. Honest buyers also
repeat themselves ("好评", "此用户没有填写评价", "质量很好"), but those texts
are short, platform defaults, or spread over many shops and months. So only
long, specific texts are clustered, platform-wide phrases are dropped, and
the review-level signal is how many *other* reviewers posted the same
template at the same shop within a few days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import by_rid, group_codes
from features.minhash import cluster_texts
from features.params import (
    COMMON_PHRASE_SURPRISE,
    COMMON_PHRASE_USERS,
    PHRASE_SLOW_WINDOW_S,
    TEXT_WINDOW_S,
)
from features.registry import REGISTRY, Claim, Feature
from features.windows import first_in_window, poisson_surprise, window_sums

F = Feature
C = Claim
TEXT = (
    F(
        "text_dup_window",
        "text",
        1,
        "other reviewers posted a near-identical text at this shop within a few days",
        "其他账号在数日内于本店发布了几乎相同的评价内容",
        claim=C(
            1.0,
            "{k} other account(s) posted a near-identical text at this shop within {h} h",
            "另外{k}个账号在{h}小时内于本店发布了几乎相同的内容",
        ),
    ),
    F(
        "text_cluster_users",
        "text",
        1,
        "the text belongs to a template used by many different accounts",
        "评价内容属于被大量不同账号使用的模板",
        claim=C(
            2.0,
            "{k} other accounts used the same text template",
            "另外{k}个账号使用了相同的评价模板",
        ),
    ),
    F(
        "text_cluster_shops",
        "text",
        1,
        "the same template text was posted at many different shops (copy-paste complaints or praise)",
        "相同模板内容出现在多家不同店铺（复制粘贴式差评或好评）",
        claim=C(
            2.0,
            "the same text template was posted at {k} other shops",
            "相同模板内容还出现在另外{k}家店铺",
        ),
    ),
)


@REGISTRY.table("text_clusters", requires=("text", "user_id", "shop_id"), cost=4.1)
def text_clusters(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Template cluster and its spread, per review whose text is in a kept cluster.

    Keyed by ``_rid``: the texts are matched to their cluster once, here, so
    every later join is on an integer instead of the text (four joins of
    long strings cost about 2 s per million reviews).
    """
    cand = (
        lf.filter(pl.col("_tmpl"))
        .select("_rid", "_text_norm", "user_id", "shop_id", "_t")
        .collect()
    )
    # sorted, so LSH buckets are chained in text order (reproducible clusters)
    uniq = cand["_text_norm"].unique().sort()
    # each review's text as its position among the unique texts, before the
    # clustering, so the reviews' strings are not held through it (with the
    # leaner LSH pairs: 10M reviews' table peak 3.9 -> 2.8 GB)
    at = pl.DataFrame({"_text_norm": uniq, "_u": pl.int_range(uniq.len(), eager=True)})
    cand = cand.join(at, on="_text_norm").drop("_text_norm")
    del at
    labels = pl.Series("text_cluster", cluster_texts(uniq), dtype=pl.Int64)
    del uniq
    rows = cand.with_columns(labels.gather(cand["_u"])).drop("_u")
    del cand, labels
    rows = rows.filter(in_phrase_burst(rows, cluster_stats(rows)))
    stats = cluster_stats(rows)
    # A template repeats across accounts (a campaign) or across shops (one
    # operator's copy-paste complaints).
    keep = stats.filter((pl.col("_users") > 1) | (pl.col("_shops") > 1))
    return (
        rows.select("_rid", "text_cluster")
        .join(
            keep.select(
                "text_cluster",
                (pl.col("_users") - 1).cast(pl.Float64).alias("text_cluster_users"),
                (pl.col("_shops") - 1).cast(pl.Float64).alias("text_cluster_shops"),
            ),
            on="text_cluster",
        )
        .sort("_rid")
    )


def cluster_stats(rows: pl.DataFrame) -> pl.DataFrame:
    """``text_cluster -> _users, _shops``: distinct writers and shops of each cluster in ``rows``."""
    return rows.group_by("text_cluster").agg(
        pl.col("user_id").n_unique().alias("_users"),
        pl.col("shop_id").n_unique().alias("_shops"),
    )


def in_phrase_burst(rows: pl.DataFrame, stats: pl.DataFrame) -> pl.Series:
    """Per row of ``rows``: False where its text is a common phrase written outside any burst of it.

    A cluster of at least ``COMMON_PHRASE_USERS`` writers may be a phrase
    honest buyers write at every shop, week after week ("物流很快，质量很好"),
    or the template of a campaign that piles up at the shops it serves; often
    both: a ring or a boost campaign writes a common phrase too. For each
    cluster at each shop, the writers near each review are compared with what
    the phrase's share of the shop's other reviews predicts for the shop's
    reviews in that window (Poisson surprise, ``-log10 p``): a flash sale
    brings every phrase of the shop in a crowd at once, which is no burst of
    the phrase. Windows of ``TEXT_WINDOW_S`` (a campaign within days) and
    ``PHRASE_SLOW_WINDOW_S`` (a campaign over weeks) are tried. Only the
    reviews whose window reaches ``COMMON_PHRASE_SURPRISE`` stay in the
    cluster: the campaign's burst is a template, the thousands of buyers who
    wrote the phrase elsewhere and at other times are not its accounts
    (counting them made one wave of a ring a "template of 6,000 accounts",
    whose honest majority then outvoted the ring in propagation). Clusters
    below ``COMMON_PHRASE_USERS`` writers are kept whole. It reads only the
    shops' own reviews (``rows``: every review that may be a template, with
    its cluster), so neither unrelated shops nor a one-shop export change it.
    """
    big = stats.filter(pl.col("_users") >= COMMON_PHRASE_USERS).select("text_cluster")
    in_big = rows["text_cluster"].is_in(big["text_cluster"].implode()).to_numpy()
    keep = ~in_big
    if in_big.any():
        burst = np.zeros(int(in_big.sum()), dtype=bool)
        for window in (TEXT_WINDOW_S, PHRASE_SLOW_WINDOW_S):
            burst |= phrase_surprise(rows, in_big, window) >= COMMON_PHRASE_SURPRISE
        keep[np.flatnonzero(in_big)] = burst
    return pl.Series("_keep", keep)


def phrase_surprise(rows: pl.DataFrame, rated: np.ndarray, window: int) -> np.ndarray:
    """Surprise of the cluster's writers within ``window`` of each ``rated`` row at its shop.

    Against the cluster's share of the shop's writers outside the window
    (see :func:`in_phrase_burst`); one value per row where ``rated`` is True.
    """
    t_all = rows["_t"].to_numpy()
    shop_all = group_codes(rows, "shop_id")
    # the shop's writers near each review and in all (distinct per window, as the phrase's)
    shop_first = first_in_window(shop_all, group_codes(rows, "user_id"), t_all, window)
    shop_near = window_sums(shop_all, t_all, shop_first.astype(np.float64), window)[rated]
    shop_total = np.bincount(shop_all, weights=shop_first)[shop_all][rated]
    df = rows.filter(pl.Series(rated))
    g = group_codes(df, "text_cluster", "shop_id")
    t = df["_t"].to_numpy()
    first = first_in_window(g, group_codes(df, "user_id"), t, window).astype(np.float64)
    near = window_sums(g, t, first, window)
    total = np.bincount(g, weights=first)[g]
    # the phrase's share of the shop's writers outside the window (add-one smoothed)
    share = (np.maximum(total - near, 0.0) + 1.0) / (np.maximum(shop_total - shop_near, 0.0) + 1.0)
    expected = np.minimum(share, 1.0) * np.maximum(shop_near - 1.0, 0.0)
    return poisson_surprise(np.maximum(near - 1.0, 0.0), expected)


@REGISTRY.table(
    "text_windows",
    requires=("text", "user_id", "shop_id", "created_at"),
    depends=("text_clusters",),
    scope="shop",
)
def text_windows(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    df = (
        lf.select("_rid", "user_id", "shop_id", "_t")
        .join(tables["text_clusters"].lazy().select("_rid", "text_cluster"), on="_rid", how="inner")
        .collect()
    )
    if df.height == 0:
        return by_rid(df, text_dup_window=np.zeros(0))
    g = group_codes(df, "text_cluster", "shop_id")
    users = group_codes(df, "user_id")
    t = df["_t"].to_numpy()
    first = first_in_window(g, users, t, TEXT_WINDOW_S)
    near = window_sums(g, t, first.astype(np.float64), TEXT_WINDOW_S)
    return by_rid(df, text_dup_window=np.maximum(near - 1.0, 0.0))


@REGISTRY.step(
    "template",
    requires=("text", "user_id", "shop_id", "created_at"),
    features=TEXT,
    tables=("text_clusters", "text_windows"),
)
def template(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return (
        lf.join(tables["text_windows"].lazy(), on="_rid", how="left")
        .join(
            tables["text_clusters"]
            .lazy()
            .select("_rid", "text_cluster_users", "text_cluster_shops"),
            on="_rid",
            how="left",
        )
        .with_columns(
            pl.col("text_dup_window", "text_cluster_users", "text_cluster_shops").fill_null(0.0)
        )
    )
