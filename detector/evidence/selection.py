"""Which cases a shop's packet files, and why.

By default a packet files the cases that *harm* the shop (:func:`harms_shop`):
cases whose reviews *at this shop* are mostly 1-2★ and that link reviews of
two or more accounts, or are a professional negative reviewer's (one
account's 1-2★ reviews at three or more shops). One buyer's two bad reviews
are not a campaign and are left out. ``include_all`` takes every case with a
review at the shop, singletons and boosts included. The cited reviews are the
selected cases' reviews at this shop (a merchant can only appeal those); a
case's reviews at other shops are shown as context.
"""

from __future__ import annotations

import polars as pl

from detector.errors import InputError
from detector.evidence.scanload import ScanBundle

__all__ = ["NoCasesError", "harms_shop", "select_cases", "shop_reviews"]


class NoCasesError(Exception):
    """The shop has no case to file; nothing is written."""

    exit_code = 3


def harms_shop() -> pl.Expr:
    """True for a case whose reviews at a shop attack it: the cases a packet files by default.

    The case has two or more reviews, from two or more accounts or from a
    professional negative reviewer, and more 1-2★ than 4-5★ reviews at the
    shop (at least one). Reads the case columns ``n_reviews``, ``n_users``,
    ``kind`` and the per-shop counts ``n_negative_at_shop``,
    ``n_positive_at_shop``. The monitor counts a shop's attacks by this rule.
    """
    return (
        (pl.col("n_reviews") >= 2)
        & ((pl.col("n_users") >= 2) | (pl.col("kind") == "pro_negative"))
        & (pl.col("n_negative_at_shop") >= 1)
        & (pl.col("n_negative_at_shop") > pl.col("n_positive_at_shop"))
    )


def shop_reviews(reviews: pl.DataFrame, shop: str) -> pl.DataFrame:
    """The shop's reviews; :class:`InputError` naming the biggest shops when it has none."""
    mine = reviews.filter(pl.col("shop_id") == shop)
    if mine.height == 0:
        top = reviews.group_by("shop_id").len().sort(["len", "shop_id"], descending=[True, False])
        shown = ", ".join(f"{s} ({n:,})" for s, n in top.head(5).iter_rows())
        raise InputError(
            f"shop {shop!r} has no reviews in the scanned input; shops with the most reviews: {shown}"
        )
    return mine


def _at_shop_counts(bundle: ScanBundle, touching: pl.DataFrame, shop: str) -> pl.DataFrame:
    """Per case: its reviews at the shop (``n_cited``) and how many are 1-2★ / 4-5★."""
    shop_rating = bundle.reviews.filter(pl.col("shop_id") == shop).select("review_id", "rating")
    return (
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


def select_cases(bundle: ScanBundle, shop: str, include_all: bool) -> pl.DataFrame:
    """Cases with a review at the shop and their counts there; ``_selected`` marks those filed."""
    touching = bundle.cases.filter(pl.col("shop_ids").list.contains(pl.lit(shop)))
    if touching.height == 0:
        return touching.with_columns(
            pl.lit(0).alias("n_cited"),
            pl.lit(0).alias("n_negative_at_shop"),
            pl.lit(0).alias("n_positive_at_shop"),
            pl.lit(False).alias("_selected"),
        )
    out = touching.join(_at_shop_counts(bundle, touching, shop), on="case_id", how="inner")
    sel = pl.lit(True) if include_all else harms_shop()
    return out.with_columns(sel.alias("_selected")).sort(
        ["n_cited", "start", "case_id"], descending=[True, False, False]
    )


def no_cases(shop: str, n_flagged: int, n_reviews: int, n_touching: int) -> NoCasesError:
    """The error for a shop none of whose cases is filed."""
    return NoCasesError(
        f"no case harming shop {shop} was found: {n_flagged} of its {n_reviews:,} "
        f"reviews are flagged, in {n_touching} case(s) that are singletons or not attacks on the "
        "shop; no packet was written"
        + (" (use --all to build one from every case)" if n_touching else "")
    )
