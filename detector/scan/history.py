"""What an incremental scan brings besides its new partitions: the stored history and model.

The scan is the same pipeline; the history is context for the features (every
global table is built over history + new reviews) and the model is given
instead of fitted (:class:`detector.scan.scoring.GivenModel`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

from detector.input.load import LoadedInput
from detector.input.rejects import DUPLICATE_REASON
from detector.scan.scoring import GivenModel
from features.pipeline import Handoff


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
    as_text = dup.select(
        [pl.col(c).cast(pl.String, strict=False) for c in dup.columns]
    ).with_columns(pl.lit(DUPLICATE_REASON).alias("reason"))
    rejected = pl.concat([loaded.rejected, as_text], how="diagonal_relaxed")
    return dataclasses.replace(loaded, reviews=kept, rejected=rejected)


def features_over_history(engine, reviews, families, prior: Prior | None):
    """The features of ``reviews``, their global tables built over history + ``reviews``."""
    if prior is None or prior.history is None or prior.history.height == 0:
        return engine.compute_features(reviews, families)
    reviews = reviews.take() if isinstance(reviews, Handoff) else reviews
    hist = prior.history.select([c for c in prior.history.columns if c in reviews.columns])
    hist = hist.cast({c: reviews.schema[c] for c in hist.columns})
    fr = engine.compute_features(pl.concat([hist, reviews], how="diagonal"), families)
    return _tail(fr, hist.height)


def _tail(fr, offset: int):
    """The part of a FeatureResult that belongs to rows ``_rid >= offset``, renumbered from 0."""
    rid = pl.col("_rid")

    def cut(df: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if df is None else df.filter(rid >= offset).with_columns(rid - offset)

    matrix = None if fr.matrix is None else fr.matrix[offset:]  # rows in _rid order
    return dataclasses.replace(fr, frame=cut(fr.frame), keys=cut(fr.keys), matrix=matrix)
