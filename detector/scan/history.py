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
from detector.input.rejects import as_duplicates
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
    (as a full scan over every partition would: the first copy is kept)."""
    if prior is None or prior.history is None or prior.history.height == 0:
        return loaded
    seen = prior.history.select("review_id")
    dup = loaded.reviews.join(seen, on="review_id", how="semi", maintain_order="left")
    if dup.height == 0:
        return loaded
    prior.n_duplicates = dup.height
    kept = loaded.reviews.join(seen, on="review_id", how="anti", maintain_order="left")
    rejected = pl.concat([loaded.rejected, as_duplicates(dup)], how="diagonal_relaxed")
    return dataclasses.replace(loaded, reviews=kept, rejected=rejected)
