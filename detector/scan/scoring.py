"""The scan's model steps, once for every scan: fit (or a given model), score, prior,
propagate, threshold, explanations and reasons, the scores table.

An in-core scan runs them over one frame (:func:`score_reviews`); an
out-of-core scan over shards on disk (:mod:`detector.scan.outofcore`), calling
the same functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from detector.engines import Engine
from detector.errors import InputError
from detector.scan.config import ScanConfig
from detector.scan.feature_step import shard_features
from features.pipeline import FeatureResult, Handoff
from features.registry import REGISTRY
from models.content import content_keys
from models.explain import EXPLAINED, REASONS, explanation_terms, reasons
from models.graph import default_kinds, kinds_from_hashes, node_hashes
from models.isolation import OneSidedIsolationForest
from models.propagation import propagate
from models.threshold import Threshold, estimate, precision_threshold

SCORES_SCHEMA = {
    "review_id": pl.String,
    "score": pl.Float64,
    "flagged": pl.Boolean,
    "direction": pl.String,
    "reasons": pl.List(pl.String),
    "case_id": pl.String,
}
EXPLANATION_SCHEMA = {"review_id": pl.String, "term": pl.String, "contribution": pl.Float64}


@dataclass
class ScoreResult:
    """Scores of valid reviews and everything needed to explain them.

    Attributes
    ----------
    scores : pl.DataFrame
        One row per review in ``SCORES_SCHEMA`` (``case_id`` filled by cases).
    features : FeatureResult
        Feature values, global tables and per-review link keys.
    model : OneSidedIsolationForest
        The fitted scorer.
    threshold : float
        Scores at or above it are flagged.
    timings : dict
        Seconds per stage.
    threshold_method : str
        How the threshold was chosen: ``"target_precision"`` or ``"fixed"``.
    graph_kinds : list of str
        Node kinds propagation ran over (empty without propagation).
    explanations : pl.DataFrame
        For flagged reviews: ``review_id``, ``term``, ``contribution``; with the
        baseline ``prior_low`` they add up to the review's score.
    threshold_choice : Threshold
        The threshold with its label-free precision estimate.
    """

    scores: pl.DataFrame
    features: FeatureResult
    model: OneSidedIsolationForest
    threshold: float
    timings: dict[str, float] = field(default_factory=dict)
    threshold_method: str = "fixed"
    graph_kinds: list[str] = field(default_factory=list)
    explanations: pl.DataFrame | None = None
    threshold_choice: Threshold | None = None


@dataclass
class GivenModel:
    """A fitted scorer to score with instead of fitting one, and the features it was fitted on."""

    model: OneSidedIsolationForest
    features: list[str]


class FeaturesChanged(InputError):
    """The features of the input differ from those a given model was fitted on (exit 2)."""


def new_model(names: list[str], config: ScanConfig) -> OneSidedIsolationForest:
    """The (unfitted) scorer of a scan over the scored features ``names``."""
    return OneSidedIsolationForest(
        directions=[REGISTRY.get(n).direction for n in names],
        tail_features=[REGISTRY.get(n).alone for n in names],
        clip_quantile=config.clip_quantile,
        n_estimators=config.n_estimators,
        max_samples=config.max_samples,
        random_state=config.seed,
    )


def fit_model(
    names: list[str],
    config: ScanConfig,
    keys: np.ndarray,
    sample: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    given: GivenModel | None = None,
) -> OneSidedIsolationForest:
    """The scan's scorer: ``given``, or a new one fitted on the rows it samples.

    ``keys`` are the content keys of every review by ``_rid``; ``sample(rows)``
    returns the feature values of those ``_rid`` and the ``_rid`` of each
    value row (any order: the fit orders them by their keys).
    """
    if given is not None:
        if list(given.features) != list(names):
            raise FeaturesChanged(
                f"the stored model was fitted on features {list(given.features)}, this input "
                f"gives {list(names)}; the input columns changed: scan afresh with a new "
                "--incremental directory"
            )
        return given.model
    model = new_model(names, config)
    if names:
        X, rids = sample(model.sample_rows(keys))
        model.fit_sample(X, keys[rids])
    return model


def to_prior(score: np.ndarray, config: ScanConfig) -> np.ndarray:
    """Forest scores as prior fake-probabilities (without propagation, the final scores)."""
    return config.prior_low + (config.prior_high - config.prior_low) * score


def propagated(
    prior: np.ndarray, hashes: pl.DataFrame | None, config: ScanConfig
) -> tuple[np.ndarray, list[str]]:
    """Final scores from the priors over the review graph, and the node kinds it had.

    ``hashes`` are :func:`models.graph.node_hashes` of every review in ``_rid``
    order (None without propagation: the priors are the scores).
    """
    if hashes is None:
        return prior, []
    built = kinds_from_hashes(hashes, config.eps)
    return propagate(prior, built), [k.name for k in built]  # the kinds the input gave nodes for


def graph_kinds(config: ScanConfig, names: list[str], features, unavailable) -> tuple[str, ...]:
    """The review graph's node kinds propagation should use (none without propagation)."""
    if not (config.propagate and names):
        return ()
    if config.graph_kinds is not None:
        return tuple(config.graph_kinds)
    return default_kinds(features, unavailable)


def choose_threshold(score: np.ndarray, config: ScanConfig) -> Threshold:
    """The flag threshold: ``config.threshold``, or the one for ``config.target_precision``."""
    if config.threshold is not None:
        return estimate(score, config.threshold, "fixed", None)
    return precision_threshold(score, config.target_precision)


@dataclass(frozen=True)
class Flags:
    """The threshold chosen, who passes it, and the flagged reviews' explanations."""

    choice: Threshold
    flagged: np.ndarray  # bool per review (``_rid`` order)
    rows: np.ndarray  # the flagged ``_rid`` values, ascending
    explained: pl.DataFrame  # ``_rid``, ``term``, ``contribution``
    reasons: pl.DataFrame  # ``_rid -> reasons``


def flag_and_explain(
    model: OneSidedIsolationForest,
    names: list[str],
    prior: np.ndarray,
    score: np.ndarray,
    config: ScanConfig,
    engine: Engine,
    features_of: Callable[[np.ndarray], np.ndarray],
) -> Flags:
    """Threshold ``score``, then explain and word the flagged reviews (see :mod:`models.explain`).

    ``prior`` and ``score`` cover every review; ``features_of(rows)`` returns the
    scored features (columns in ``names`` order) of the ``_rid`` values ``rows``:
    a slice in memory, a gather from the shards out of core.
    """
    choice = choose_threshold(score, config)
    flagged = score >= choice.value
    rows = np.flatnonzero(flagged)
    if rows.size == 0 or not names:
        empty = pl.DataFrame(schema=EXPLAINED), pl.DataFrame(schema=REASONS)
        return Flags(choice, flagged, rows, *empty)
    X_flagged = features_of(rows)
    _, contrib = engine.contributions(model, X_flagged)
    contrib = contrib * (config.prior_high - config.prior_low)
    explanations = explanation_terms(contrib, rows, names, score[rows] - prior[rows])
    Z = model.transform(X_flagged)
    return Flags(
        choice, flagged, rows, explanations, reasons(explanations, X_flagged, Z, rows, names)
    )


def with_review_ids(explanations: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Explanations keyed on ``review_id`` (``ids`` maps ``_rid`` to it), in ``EXPLANATION_SCHEMA``."""
    if explanations.height == 0:
        return pl.DataFrame(schema=EXPLANATION_SCHEMA)
    return explanations.join(ids.select("_rid", "review_id"), on="_rid").select(
        list(EXPLANATION_SCHEMA)
    )


def scores_frame(
    keys: pl.DataFrame, score: np.ndarray, flagged: np.ndarray, reasons: pl.DataFrame
) -> pl.DataFrame:
    """Rows of ``SCORES_SCHEMA`` (``case_id`` null) in ``_rid`` order.

    ``keys`` holds ``_rid``, ``review_id`` and ``rating`` of the reviews;
    ``score`` and ``flagged`` are aligned with its rows; ``reasons`` maps
    ``_rid`` to reasons (reviews without any get an empty list).
    """
    return (
        keys.with_columns(
            pl.Series("score", score, dtype=pl.Float64),
            pl.Series("flagged", flagged, dtype=pl.Boolean),
        )
        .join(reasons, on="_rid", how="left")
        .with_columns(pl.col("reasons").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .with_columns(
            pl.when(pl.col("rating") >= 4)
            .then(pl.lit("boost"))
            .otherwise(pl.lit("attack"))
            .alias("direction")
        )
        .with_columns(pl.lit(None, dtype=pl.String).alias("case_id"))
        .sort("_rid")
        .select(list(SCORES_SCHEMA))
    )


def score_reviews(
    reviews: pl.DataFrame | Handoff | FeatureResult,
    config: ScanConfig | None = None,
    engine: Engine | None = None,
    given: GivenModel | None = None,
) -> ScoreResult:
    """Features, score, flag and reasons for valid reviews held in memory (no I/O).

    ``engine`` runs the heavy stages (tables, scoring, explanations); the
    reference engine (this process) by default. ``reviews`` given as a
    :class:`features.pipeline.Handoff` is freed once the features are prepared;
    given as a :class:`~features.pipeline.FeatureResult`, its features are used.
    ``given`` scores with a fitted model instead of fitting one.
    """
    config, engine = config or ScanConfig(), engine or Engine()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    fr = reviews
    if not isinstance(reviews, FeatureResult):
        fr = shard_features(engine, reviews, config.families)
    timings["features"] = time.perf_counter() - t0
    timings.update({f"features.{k}": v for k, v in fr.timings.items()})

    t0 = time.perf_counter()
    names, X = fr.scored, fr.scored_matrix()  # a view of the feature values, not a copy
    keys = content_keys(fr.frame["review_id"])  # the fit is keyed on reviews, not positions
    with engine.progress.stage("fit", total=X.shape[0]):
        model = fit_model(names, config, keys, lambda rows: (X[rows], rows), given)
    score = engine.score_samples(model, X) if names else np.zeros(fr.frame.height)
    timings["score"] = time.perf_counter() - t0
    prior = to_prior(score, config)
    kinds = graph_kinds(config, names, fr.features, fr.unavailable)
    t0 = time.perf_counter()
    score, kinds = propagated(prior, node_hashes(fr.keys, kinds) if kinds else None, config)
    if kinds:
        timings["propagate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fl = flag_and_explain(model, names, prior, score, config, engine, lambda rows: X[rows])
    timings["explain"] = time.perf_counter() - t0
    keys = fr.keys.select("_rid", "review_id", "rating")
    scores = scores_frame(keys, score, fl.flagged, fl.reasons)
    explained = with_review_ids(fl.explained, fr.frame)
    choice = fl.choice
    return ScoreResult(
        scores,
        fr,
        model,
        float(choice.value),
        timings,
        choice.method,
        kinds,
        explained,
        choice,
    )
