"""Per shop and per day figures of a scan: all reviews, and without the reviews in cases.

The daily table holds counts and integer sums besides the rates, so a rule
can pool any window of days exactly (``sum(num) / sum(den)``) and a table
merged from several runs says the same as one computed at once.

Columns (one row per shop and local day, sorted by ``shop_id``, ``date``):

``shop_id`` String, ``date`` Date (the day in the input's time zone);
``reviews``, ``positive`` (4-5 star), ``negative`` (1-2 star), ``rating_sum``;
``good_rate`` (好评率 = positive / reviews), ``bad_rate`` (差评率 = negative /
reviews), ``rating_mean``; for each DSR column the input has,
``dsr_<dim>_n`` (ratings given), ``dsr_<dim>_sum`` and ``dsr_<dim>`` (their
mean); the same columns with the suffix ``_clean`` over the reviews in no
case; ``in_cases`` (reviews in a case), ``attack_negative`` (1-2 star reviews
in a case that harms the shop), ``attack_case_ids`` and ``case_ids``
(List[String], sorted).
"""

from __future__ import annotations

import polars as pl

from detector.evidence.selection import harms_shop
from detector.input.schema import DSR_COLUMNS

__all__ = ["DAILY_KEYS", "daily_metrics", "shop_case_counts"]

DAILY_KEYS = ("shop_id", "date")
_NEG = pl.col("rating") <= 2
_POS = pl.col("rating") >= 4


def shop_case_counts(rows: pl.LazyFrame, cases: pl.LazyFrame) -> pl.LazyFrame:
    """``case_id``, ``shop_id``, the case's 1-2 / 4-5 star counts at the shop and ``harms``.

    ``rows`` holds ``case_id`` (null outside cases), ``shop_id`` and ``rating``
    of every review.
    """
    return (
        rows.filter(pl.col("case_id").is_not_null())
        .group_by("case_id", "shop_id")
        .agg(
            _NEG.sum().alias("n_negative_at_shop"),
            _POS.sum().alias("n_positive_at_shop"),
        )
        .join(cases.select("case_id", "kind", "n_reviews", "n_users"), on="case_id", how="left")
        .with_columns(harms_shop().fill_null(False).alias("harms"))
    )


def _counts(dsr: list[str], suffix: str, keep: pl.Expr) -> list[pl.Expr]:
    """Counts and sums of the reviews where ``keep`` holds, named with ``suffix``."""

    def s(name: str) -> str:
        return name + suffix

    out = [
        keep.sum().cast(pl.Int64).alias(s("reviews")),
        (keep & _POS).sum().cast(pl.Int64).alias(s("positive")),
        (keep & _NEG).sum().cast(pl.Int64).alias(s("negative")),
        pl.col("rating").filter(keep).cast(pl.Int64).sum().alias(s("rating_sum")),
    ]
    for d in dsr:
        out += [
            (keep & pl.col(d).is_not_null()).sum().cast(pl.Int64).alias(s(f"{d}_n")),
            pl.col(d).filter(keep).cast(pl.Int64).sum().alias(s(f"{d}_sum")),
        ]
    return out


def _ratios(dsr: list[str], suffix: str) -> list[pl.Expr]:
    def ratio(num: str, den: str) -> pl.Expr:
        d = pl.col(den + suffix)
        return pl.when(d > 0).then(pl.col(num + suffix) / d).otherwise(None)

    out = [
        ratio("positive", "reviews").alias(f"good_rate{suffix}"),
        ratio("negative", "reviews").alias(f"bad_rate{suffix}"),
        ratio("rating_sum", "reviews").alias(f"rating_mean{suffix}"),
    ]
    return out + [ratio(f"{d}_sum", f"{d}_n").alias(f"{d}{suffix}") for d in dsr]


def daily_columns(dsr: list[str]) -> list[str]:
    """The daily table's columns in their order, for the DSR dimensions ``dsr``."""
    cols = list(DAILY_KEYS)
    for suffix in ("", "_clean"):
        cols += [f"{c}{suffix}" for c in ("reviews", "positive", "negative", "rating_sum")]
        cols += [f"{d}{x}{suffix}" for d in dsr for x in ("_n", "_sum")]
        cols += [f"{c}{suffix}" for c in ("good_rate", "bad_rate", "rating_mean")]
        cols += [f"{d}{suffix}" for d in dsr]
    return cols + ["in_cases", "attack_negative", "attack_case_ids", "case_ids"]


def daily_metrics(
    reviews: pl.DataFrame | pl.LazyFrame,
    scores: pl.DataFrame | pl.LazyFrame,
    cases: pl.DataFrame | pl.LazyFrame,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """The daily table of a scan (see the module docstring for its columns).

    Parameters
    ----------
    reviews : DataFrame or LazyFrame
        Scored reviews in the input contract: ``review_id``, ``shop_id``,
        ``rating``, ``created_at`` (UTC) and any of the DSR columns.
    scores : DataFrame or LazyFrame
        ``review_id`` and ``case_id`` (null for a review in no case), as in
        ``scores.parquet``.
    cases : DataFrame or LazyFrame
        ``cases.parquet`` of the scan (``case_id``, ``kind``, ``n_reviews``,
        ``n_users``).
    timezone : str
        IANA zone whose calendar days the table counts (``Asia/Shanghai`` for
        a Chinese shop's day).
    """
    reviews, scores, cases = (f.lazy() for f in (reviews, scores, cases))
    dsr = [d for d in DSR_COLUMNS if d in reviews.collect_schema().names()]
    rows = reviews.select(
        "review_id",
        "shop_id",
        "rating",
        *dsr,
        pl.col("created_at").dt.convert_time_zone(timezone).dt.date().alias("date"),
    ).join(scores.select("review_id", "case_id"), on="review_id", how="left")
    harms = shop_case_counts(rows, cases).select("case_id", "shop_id", "harms")
    rows = rows.join(harms, on=["case_id", "shop_id"], how="left").with_columns(
        pl.col("harms").fill_null(False), pl.col("case_id").is_not_null().alias("_in_case")
    )
    in_case = pl.col("_in_case")
    attacking = pl.col("harms") & _NEG
    daily = (
        rows.group_by(*DAILY_KEYS)
        .agg(
            *_counts(dsr, "", pl.col("rating").is_not_null()),
            *_counts(dsr, "_clean", ~in_case),
            in_case.sum().cast(pl.Int64).alias("in_cases"),
            attacking.sum().cast(pl.Int64).alias("attack_negative"),
            pl.col("case_id").filter(attacking).unique().sort().alias("attack_case_ids"),
            pl.col("case_id").filter(in_case).unique().sort().alias("case_ids"),
        )
        .with_columns(*_ratios(dsr, ""), *_ratios(dsr, "_clean"))
        .select(daily_columns(dsr))
        .sort(*DAILY_KEYS)
    )
    return daily.collect()
