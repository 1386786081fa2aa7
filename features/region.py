"""IP属地: a burst on a product whose reviewers come from one province far beyond its share.

Chinese review pages show each review's IP属地 (a province); many merchant
exports carry it and no address, so for those merchants it is the only
network-like signal. A province is a coarse identity: millions of honest
buyers share one. So a review is not suspicious for its province, only a
*burst* whose reviewers come from one province far more than that province's
share says: of the product's same-polarity reviews within the burst window,
how many show the review's province, against a binomial at the larger of the
province's share of the market and of the shop's reviews outside the window
(shrunk towards the market).

Honest behaviour that also does this, and why it is not surprising here: a
regional shop (most buyers from one province) sets its own share; Guangdong's
sheer size is the market share; a national flash sale brings every province in
proportion. A sale promoted in one city does concentrate, but brings its city's
buyers among everyone else's: a review counts only where at least
:data:`REGION_MIN_SHARE` of the window's other reviews show its province (a
farm's burst is nearly all its own). Measured on the matrix's honest
``regional`` cell (regional shops and local sales, no IP): none flagged.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import by_rid, by_shop_shard, dense_codes, group_hash
from features.params import BURST_WINDOW_S
from features.registry import REGISTRY, Claim, Feature
from features.windows import share_surprise

#: Other same-province reviews in the window below this are never surprising.
REGION_MIN_OTHERS = 5
#: ... and below this share of the window's other reviews (a local promotion brings a city's
#: buyers among everyone else's; a farm's burst is nearly all its own).
REGION_MIN_SHARE = 0.8
#: Pseudo-reviews at the market's share that a shop's own share is shrunk with.
REGION_SHOP_PSEUDO = 50.0

REGION = (
    Feature(
        "region_burst",
        "identity",
        1,
        "part of a burst of reviews on the product from one province (IP属地), far beyond "
        "that province's share of the shop's and the market's reviewers",
        "属于该商品同一IP属地（省份）评价的突发集中，远超该省在本店及全平台评价者中的占比",
        claim=Claim(
            6.0,
            "{k} of the {n} {stars} reviews with an IP属地 of product {product} within {h} h of "
            "this one show {region} ({start} to {end}), against {m_k} of the shop's {m} other "
            "reviews with an IP属地",
            "该评价前后{h}小时内，商品{product}有IP属地的{n}条{stars}评价中{k}条来自{region}"
            "（{start}至{end}），而本店其他{m}条有IP属地的评价中{m_k}条来自{region}",
        ),
    ),
)


@REGISTRY.table("region_shares", requires=("ip_region",), cost=0.05)
def region_shares(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Each province's share of the reviews that show one (the market's baseline)."""
    return (
        lf.select("ip_region")
        .drop_nulls()
        .group_by("ip_region")
        .len()
        .with_columns((pl.col("len") / pl.col("len").sum()).alias("_region_share"))
        .select("ip_region", "_region_share")
        .sort("ip_region")
        .collect()
    )


@REGISTRY.table(
    "region_bursts",
    requires=("shop_id", "product_id", "rating", "created_at", "ip_region"),
    depends=("region_shares",),
    cost=0.3,
    scope="shop",
)
def region_bursts(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    df = (
        lf.select("_rid", "shop_id", "product_id", "_pol", "_t", "ip_region")
        .join(tables["region_shares"].lazy(), on="ip_region", how="left")
        .collect()
    )
    t = df["_t"].to_numpy()
    known = df["ip_region"].is_not_null().to_numpy()
    market = df["_region_share"].fill_null(0.0).to_numpy()
    prod_h = group_hash(df, "product_id", "_pol")
    reg_h = group_hash(df, "product_id", "_pol", "ip_region")
    shop_h = group_hash(df, "shop_id")
    shop_reg_h = group_hash(df, "shop_id", "ip_region")

    def shard(rows: np.ndarray) -> dict[str, np.ndarray]:
        kn = known[rows]
        return {
            "region_burst": region_surprise(
                dense_codes(prod_h[rows]),
                dense_codes(reg_h[rows]),
                dense_codes(shop_h[rows]),
                dense_codes(shop_reg_h[rows]),
                t[rows],
                kn,
                market[rows],
            )
        }

    return by_rid(df, **by_shop_shard(df, shard))


def region_surprise(
    group: np.ndarray,
    group_region: np.ndarray,
    shop: np.ndarray,
    shop_region: np.ndarray,
    t: np.ndarray,
    known: np.ndarray,
    market: np.ndarray,
    window: int = BURST_WINDOW_S,
) -> np.ndarray:
    """``-log10`` binomial tail of a review's province among its group's reviews near it
    (:func:`features.windows.share_surprise` with the province as the trait)."""
    return share_surprise(
        group, group_region, shop, shop_region, t, known, market, window,
        REGION_SHOP_PSEUDO, REGION_MIN_OTHERS, REGION_MIN_SHARE,
    )  # fmt: skip


@REGISTRY.step(
    "region",
    requires=("shop_id", "product_id", "rating", "created_at", "ip_region"),
    features=REGION,
    tables=("region_bursts",),
)
def region(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.join(tables["region_bursts"].lazy(), on="_rid", how="left")
