"""What an incremental scan brings besides its new partitions: the stored history and model.

The scan is the same pipeline; the history is context for the features (every
global table is built over history + new reviews, :mod:`detector.scan.feature_step`)
and the model is given instead of fitted (:class:`detector.scan.scoring.GivenModel`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

from detector.input.load import LoadedInput
from detector.input.rejects import as_duplicates, is_later_copy
from detector.scan.scoring import GivenModel


@dataclass
class Prior:
    """The reviews scored before (narrow columns) and the model to score with, if any."""

    history: pl.DataFrame | None = None
    given: GivenModel | None = None
    #: New reviews rejected as repeats of a review in the history (set by :func:`without_seen`).
    n_duplicates: int = 0
    #: The first review of every order of the history and the new partitions
    #: (:func:`detector.input.plan.first_reviews`): derived review ids as one load of all.
    first: pl.DataFrame | None = None


def without_seen(loaded: LoadedInput, prior: Prior | None) -> LoadedInput:
    """``loaded`` less the reviews whose id the history holds, rejected as duplicates
    (as a full scan over every partition would: the history's copy comes first)."""
    if prior is None or prior.history is None or prior.history.height == 0:
        return loaded
    ids = pl.concat(
        [
            prior.history.select("review_id", pl.lit(0, pl.Int8).alias("_src")),
            loaded.reviews.select("review_id", pl.lit(1, pl.Int8).alias("_src")),
        ]
    )
    later = ids.select(is_later_copy(pl.col("_src")).alias("later"))["later"].tail(
        loaded.reviews.height
    )
    if not later.any():
        return loaded
    prior.n_duplicates = int(later.sum())
    kept, dup = loaded.reviews.filter(~later), loaded.reviews.filter(later)
    rejected = pl.concat([loaded.rejected, as_duplicates(dup)], how="diagonal_relaxed")
    return dataclasses.replace(loaded, reviews=kept, rejected=rejected)
