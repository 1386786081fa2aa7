"""Reviewer history: what the account behind a review has done elsewhere.

Fake accounts are young and single-purpose: few reviews, all extreme, in a
short active span, several on one day. Professional negative reviewers leave
1-star reviews at many unrelated shops. A review written minutes after the
buyer confirmed receipt is a script; a person takes days. A new listing's
first ratings are the ones sellers buy (新品破零: the first sales and reviews
decide whether the platform shows the product at all), so a review's place in
its product's life is measured too.
"""

from __future__ import annotations

import polars as pl

from features.registry import REGISTRY, Claim, Feature

F = Feature
C = Claim
HISTORY = (
    F(
        "user_review_count",
        "history",
        -1,
        "the reviewer has written very few reviews (fresh or single-use account)",
        "评价者账号评价数极少（新号或一次性账号）",
        neutral=10.0,
        claim=C(
            2.0,
            "this account has {n} review(s) in the data",
            "该账号在数据中仅有{n}条评价",
        ),
    ),
    F(
        "user_active_days",
        "history",
        -1,
        "all of the reviewer's reviews fall within a very short period",
        "评价者的全部评价集中在极短时间内",
        neutral=365.0,
        claim=C(
            1.0,
            "all {n} reviews of this account were written within {span}",
            "该账号的全部{n}条评价发布于{span}之内",
            given=(("user_review_count", 3.0),),
        ),
    ),
    F(
        "user_extreme_share",
        "history",
        1,
        "the reviewer gives almost only 1-star or 5-star ratings",
        "评价者几乎只打1星或5星",
        claim=C(
            0.9,
            "{k} of this account's {n} reviews are 1★ or 5★",
            "该账号{n}条评价中有{k}条为1星或5星",
            given=(("user_review_count", 3.0),),
        ),
    ),
    F(
        "user_neg_shops",
        "history",
        1,
        "the reviewer mostly gives 1-2 stars, at many different shops (professional negative reviewer)",
        "评价者以1-2星差评为主，且分布在多家店铺（疑似职业差评师）",
        claim=C(
            2.0,
            "this account left 1–2★ reviews at {shops} shops ({k} of its {n} reviews are 1–2★)",
            "该账号在{shops}家店铺留下1–2星评价（其{n}条评价中{k}条为1–2星）",
        ),
        alone=True,
    ),
    F(
        "user_day_share",
        "history",
        1,
        "most of the reviewer's reviews were written on one single day",
        "评价者的大部分评价集中在同一天发布",
        claim=C(
            0.5,
            "{k} of this account's {n} reviews were written on one day (UTC)",
            "该账号{n}条评价中有{k}条发布于同一天（UTC）",
            given=(("user_review_count", 3.0),),
        ),
    ),
    F(
        "rating_deviation",
        "history",
        1,
        "the rating is far from what other buyers gave the same product",
        "评分与该商品其他买家的评分差距很大",
        claim=C(
            2.0,
            "rated {rating}★ where the product's {n} other reviews average {mean}★",
            "评分{rating}星，而该商品其他{n}条评价平均{mean}星",
        ),
    ),
    F(
        "product_age_days",
        "history",
        -1,
        "the review came in the product's first days of reviews, when sellers buy a new listing its first ratings",
        "评价发布于商品评价的最初几天（新品刷单、冲基础销量的常见时机）",
        neutral=365.0,
        claim=C(
            2.0,
            "posted {age} after the product's first review in the data",
            "发布于该商品在数据中的首条评价之后{age}",
        ),
    ),
)
DELAY = (
    F(
        "review_delay_minutes",
        "history",
        -1,
        "the review came minutes after (or before) the buyer confirmed receipt",
        "确认收货后几分钟内（甚至收货前）即发布评价",
        neutral=2880.0,
        claim=C(
            60.0,
            "posted {when} the buyer confirmed receipt",
            "评价发布于确认收货{when}",
        ),
        alone=True,
    ),
)


@REGISTRY.table("user_stats", requires=("user_id", "shop_id", "rating", "created_at"), cost=0.3)
def user_stats(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Per-user aggregates over the whole history."""
    daily = (
        lf.group_by("user_id", "_day")
        .agg(pl.len().alias("_nd"))
        .group_by("user_id")
        .agg(pl.col("_nd").max().alias("user_max_daily"))
    )
    base = lf.group_by("user_id").agg(
        pl.len().cast(pl.Float64).alias("user_review_count"),
        ((pl.col("_t").max() - pl.col("_t").min()) / 86_400.0).alias("user_active_days"),
        pl.col("rating").is_in([1, 5]).mean().alias("user_extreme_share"),
        pl.col("shop_id")
        .filter(pl.col("rating") <= 2)
        .n_unique()
        .cast(pl.Float64)
        .alias("user_neg_shops"),
        (pl.col("rating") <= 2).mean().alias("_neg_share"),
    )
    # Normalised by activity: a prolific genuine reviewer also has busy days
    # and bad experiences at several shops; raw counts would reward them.
    return (
        base.join(daily, on="user_id", how="left")
        .with_columns(
            pl.when(pl.col("user_review_count") > 1)
            .then((pl.col("user_max_daily") - 1) / (pl.col("user_review_count") - 1))
            .otherwise(0.0)
            .alias("user_day_share"),
            (pl.col("user_neg_shops") * pl.col("_neg_share")).alias("user_neg_shops"),
        )
        .drop("user_max_daily", "_neg_share")
        .collect()
    )


@REGISTRY.table("product_ratings", requires=("product_id", "rating", "created_at"))
def product_ratings(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Per-product rating sum and count (leave-one-out consensus) and first review time."""
    return (
        lf.group_by("product_id")
        .agg(
            pl.col("rating").cast(pl.Float64).sum().alias("_p_sum"),
            pl.len().alias("_p_n"),
            pl.col("_t").min().alias("_p_first"),
        )
        .collect()
    )


@REGISTRY.step(
    "history",
    requires=("user_id", "shop_id", "product_id", "rating", "created_at"),
    features=HISTORY,
    tables=("user_stats", "product_ratings"),
)
def history(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    loo = (pl.col("_p_sum") - pl.col("rating")) / (pl.col("_p_n") - 1)
    return (
        lf.join(tables["user_stats"].lazy(), on="user_id", how="left")
        .join(tables["product_ratings"].lazy(), on="product_id", how="left")
        .with_columns(
            pl.when(pl.col("_p_n") > 1)
            .then((pl.col("rating") - loo).abs())
            .otherwise(0.0)
            .alias("rating_deviation"),
            # Days since the product's first review in the data. A product
            # already on sale when the data starts looks young at first; the
            # one-sided transform keeps only the youngest tail, and a single
            # weak signal cannot isolate a review on its own.
            ((pl.col("_t") - pl.col("_p_first")) / 86_400.0).alias("product_age_days"),
        )
        .drop("_p_sum", "_p_n", "_p_first")
    )


@REGISTRY.step("delivery_delay", requires=("delivered_at", "created_at"), features=DELAY)
def delivery_delay(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.with_columns(pl.col("_delay_min").alias("review_delay_minutes"))
