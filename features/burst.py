"""Burst timing: many same-polarity reviews in a short window.

Measured against each product's (and shop's) own rate outside the window, as
a Poisson surprise, never as a raw count: a best-seller's steady stream is
not a burst, a sudden cluster of 1-star reviews on a shop that is usually
5-star is.

A burst alone is not evidence: flash sales bring genuine crowds in hours. So
``product_burst`` and ``shop_burst`` are context (shown in evidence, never
scored); the scored burst signal is ``fresh_burst``, the burst counted over
fresh accounts only, and only where fresh accounts make most of the window
and far more of it than they usually do at the shop and in the market
(:func:`features.windows.share_surprise`). An honest flash sale brings new
buyers too, but in proportion to everyone else; and where nearly every
account is new (a merchant's export, in which each buyer appears once) a
burst of new accounts is just a burst.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import by_rid, by_shop_shard, dense_codes, group_hash
from features.params import (
    BASELINE_FLOOR_S,
    BURST_WINDOW_S,
    FRESH_MAX_REVIEWS,
    FRESH_MIN_SHARE,
    FRESH_SHARE_SURPRISE,
    FRESH_SHOP_PSEUDO,
)
from features.registry import REGISTRY, Claim, Feature
from features.windows import burst_surprise, trait_surprise

F = Feature
C = Claim
BURST = (
    F(
        "product_burst",
        "burst",
        1,
        "part of a sudden burst of same-polarity reviews on the product, far above its usual rate",
        "属于该商品同倾向评价的突发集中，远高于平时水平",
        scored=False,
    ),
    F(
        "shop_burst",
        "burst",
        1,
        "part of a sudden burst of same-polarity reviews across the shop",
        "属于全店同倾向评价的突发集中",
        scored=False,
    ),
    F(
        "fresh_burst",
        "burst",
        1,
        "the burst is made of fresh accounts with almost no other reviews, far more of them "
        "than the shop and the market usually see",
        "突发集中的评价多来自几乎没有其他评价的新账号，远超本店和全平台新账号的通常比例",
        claim=C(
            2.0,
            "{n} {stars} reviews of product {product} from accounts with at most {fresh} reviews "
            "each between {start} and {end}, against {rate} {stars} reviews a day on it usually",
            "{start}至{end}，商品{product}收到{n}条来自评价数不超过{fresh}条的账号的{stars}评价，"
            "而该商品平时每天约{rate}条{stars}评价",
        ),
    ),
)


@REGISTRY.table(
    "bursts",
    requires=("shop_id", "product_id", "user_id", "rating", "created_at"),
    depends=("user_stats",),
    cost=1.1,
    scope="shop",
)
def bursts(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    df = (
        lf.select("_rid", "shop_id", "product_id", "user_id", "_pol", "_t")
        .join(
            tables["user_stats"].lazy().select("user_id", "user_review_count"),
            on="user_id",
            how="left",
        )
        .collect()
    )
    t = df["_t"].to_numpy()
    prod_h = group_hash(df, "product_id", "_pol")
    shop_h = group_hash(df, "shop_id", "_pol")
    fresh = (df["user_review_count"].to_numpy() <= FRESH_MAX_REVIEWS).astype(np.float64)
    market = _market_fresh_share(tables["user_stats"])

    def shard(rows: np.ndarray) -> dict[str, np.ndarray]:
        prod, shop, tt, fr = (
            dense_codes(prod_h[rows]),
            dense_codes(shop_h[rows]),
            t[rows],
            fresh[rows],
        )
        unusual = trait_surprise(
            prod, shop, fr > 0, tt, np.ones(rows.size, dtype=bool), market, BURST_WINDOW_S,
            FRESH_SHOP_PSEUDO, 1, FRESH_MIN_SHARE,
        )  # fmt: skip
        fresh_burst = burst_surprise(prod, tt, BURST_WINDOW_S, BASELINE_FLOOR_S, fr)
        return {
            "product_burst": burst_surprise(prod, tt, BURST_WINDOW_S, BASELINE_FLOOR_S),
            "shop_burst": burst_surprise(shop, tt, BURST_WINDOW_S, BASELINE_FLOOR_S),
            "fresh_burst": np.where((fr > 0) & (unusual >= FRESH_SHARE_SURPRISE), fresh_burst, 0.0),
        }

    return by_rid(df, **by_shop_shard(df, shard))


def _market_fresh_share(user_stats: pl.DataFrame) -> float:
    """The share of all reviews written by fresh accounts (from the global per-user counts)."""
    n = user_stats["user_review_count"]
    total = float(n.sum() or 0)
    return float(n.filter(n <= FRESH_MAX_REVIEWS).sum() or 0) / total if total else 0.0


@REGISTRY.step(
    "burst",
    requires=("shop_id", "product_id", "user_id", "rating", "created_at"),
    features=BURST,
    tables=("bursts",),
)
def burst(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.join(tables["bursts"].lazy(), on="_rid", how="left")
