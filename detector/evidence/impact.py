"""What citing the reviews does to the shop: rating, positive rate and DSR with and without them."""

from __future__ import annotations

import polars as pl

from detector.input.schema import DSR_COLUMNS


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
