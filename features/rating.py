"""The review's own rating: 1★ and 5★ are the ratings bought reviews give.

SpEagle's review feature EXT (Rayana & Akoglu, KDD 2015): a paid review
boosts or smears, so it sits at an end of the scale. Most honest reviews are
extreme too, so the one-sided transform gives the feature weight only where
extreme ratings are a minority of the data.
"""

from __future__ import annotations

import polars as pl

from features.registry import REGISTRY, Claim, Feature

EXTREME = (
    Feature(
        "rating_extreme",
        "history",
        1,
        "the review gives the extreme rating 1★ or 5★",
        "该评价打出极端评分（1星或5星）",
        claim=Claim(
            1.0, "rated {rating}★, an end of the scale", "评分为{rating}星（评分区间的端点）"
        ),
    ),
)


@REGISTRY.step("rating_extreme", requires=("rating",), features=EXTREME)
def rating_extreme(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.with_columns(pl.col("rating").is_in([1, 5]).cast(pl.Float64).alias("rating_extreme"))
