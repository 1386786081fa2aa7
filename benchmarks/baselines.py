"""The methods the benchmark compares, behind one calling convention.

Every method is a function ``(reviews, seed, **params) -> MethodOutput`` that
scores *every* row of ``reviews`` (contract columns), in row order, higher =
more suspicious, and makes its own yes/no flag decision:

* ``review_detector``: :func:`detector.scan.score_reviews`, flagged at its own
  label-free threshold.
* ``iforest_raw``: the baseline a data scientist writes first,
  :class:`sklearn.ensemble.IsolationForest` with default parameters on raw
  per-review behavioural features (:func:`raw_features`); flagged where
  ``predict`` says -1 (``contamination="auto"``).
* ``pyod_ecod`` / ``pyod_hbos``: PyOD's ECOD and HBOS with default parameters on
  the same raw features; flagged by their ``labels_`` (default contamination
  0.1, i.e. the top 10 %). PyOD is the optional extra ``review-detector[pyod]``
  and is imported only when these run.
* ``rank_average``: the mean percentile rank of review-detector's own features,
  each oriented by its registry direction (value x direction), no forest;
  flags its top 10 % (the share PyOD's default contamination flags).
* ``speagle``: SpEagle (Rayana & Akoglu, KDD 2015), the reference unsupervised
  method on review metadata, as configured in the UGFraud toolbox and
  re-implemented in :mod:`benchmarks.speagle`; flags a review whose posterior
  is at least 0.5 (its most likely label).

The forest-based methods get ``random_state=seed`` so that a run can be
repeated exactly; nothing else is tuned.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from benchmarks.metrics import average_ranks


@dataclass
class MethodOutput:
    """What a method returns: one score and flag per input row, in row order."""

    scores: np.ndarray
    flagged: np.ndarray
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A benchmarked method."""

    id: str
    label: str
    fn: Callable[..., MethodOutput]
    threshold_rule: str
    requires: tuple[str, ...] = ()  # importable modules (optional extras)
    description: str = ""

    def missing(self) -> list[str]:
        """Optional modules this method needs that are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


# ----------------------------------------------------------------------------- raw features

RAW_FEATURES: tuple[str, ...] = (
    "user_review_count",
    "user_mean_rating",
    "user_active_days",
    "rating_deviation",
    "product_review_count",
    "user_reviews_same_day",
    "text_length",
    "delay_hours",
)


def raw_features(reviews: pl.DataFrame) -> pl.DataFrame:
    """Per-review behavioural features as a first attempt would compute them.

    Not oriented, not clipped, no group context: the user's review count, mean
    rating and active span in days; the absolute difference between the
    rating and the product's mean rating; the product's review count; the
    number of reviews the user wrote that calendar day (UTC); text length in
    characters when a ``text`` column exists (0 for a missing text) and hours
    from delivery to review when ``delivered_at`` exists (missing: the median).
    Columns that cannot be computed are left out, so YelpChi gets six.
    """
    cols = set(reviews.columns)
    day = pl.col("created_at").dt.date()
    exprs = [
        pl.len().over("user_id").cast(pl.Float64).alias("user_review_count"),
        pl.col("rating").cast(pl.Float64).mean().over("user_id").alias("user_mean_rating"),
        (
            (pl.col("created_at").max() - pl.col("created_at").min())
            .over("user_id")
            .dt.total_seconds()
            / 86_400.0
        ).alias("user_active_days"),
        (
            pl.col("rating").cast(pl.Float64)
            - pl.col("rating").cast(pl.Float64).mean().over("product_id")
        )
        .abs()
        .alias("rating_deviation"),
        pl.len().over("product_id").cast(pl.Float64).alias("product_review_count"),
        pl.len().over("user_id", day).cast(pl.Float64).alias("user_reviews_same_day"),
    ]
    if "text" in cols and reviews["text"].null_count() < reviews.height:
        exprs.append(
            pl.col("text").str.len_chars().fill_null(0).cast(pl.Float64).alias("text_length")
        )
    if "delivered_at" in cols and reviews["delivered_at"].null_count() < reviews.height:
        delay = (pl.col("created_at") - pl.col("delivered_at")).dt.total_seconds() / 3600.0
        exprs.append(delay.fill_null(delay.median()).alias("delay_hours"))
    return reviews.select(exprs)


def _raw_matrix(reviews: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    feats = raw_features(reviews)
    return feats.to_numpy().astype(np.float64), feats.columns


# ----------------------------------------------------------------------------- methods

RANK_AVERAGE_FLAG_SHARE = 0.1


def top_share(scores: np.ndarray, share: float) -> np.ndarray:
    """Flag the ``share`` highest scores (ties at the cut-off all flagged)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return np.zeros(0, dtype=bool)
    k = max(1, int(round(share * s.size)))
    cut = np.sort(s)[::-1][k - 1]
    return s >= cut


def _scan_config_fields() -> dict[str, dataclasses.Field]:
    from detector.scan import ScanConfig

    return {f.name: f for f in dataclasses.fields(ScanConfig)}


def review_detector(
    reviews: pl.DataFrame,
    seed: int = 0,
    families: list[str] | None = None,
    keep_features: bool = False,
    **config,
) -> MethodOutput:
    """The engine itself: :func:`detector.scan.score_reviews` with ``ScanConfig``.

    ``config`` passes further ``ScanConfig`` fields (e.g. ``propagate``);
    fields this version of ``ScanConfig`` does not have raise ``TypeError``.
    ``keep_features`` adds ``info["feature_frame"]``: ``review_id`` and every
    computed feature, in row order (for per-feature figures).
    """
    from detector.scan import ScanConfig, score_reviews
    from features.registry import REGISTRY

    cfg = ScanConfig(families=families, seed=seed, **config)
    sr = score_reviews(reviews, cfg)
    aligned = reviews.select("review_id").join(
        sr.scores.select("review_id", "score", "flagged"),
        on="review_id",
        how="left",
        maintain_order="left",
    )
    n_missing = int(aligned["score"].null_count())
    used = list(sr.features.features)
    extra = {}
    if keep_features:
        extra["feature_frame"] = reviews.select("review_id").join(
            sr.features.frame.select("review_id", *used),
            on="review_id",
            how="left",
            maintain_order="left",
        )
    return MethodOutput(
        scores=aligned["score"].fill_null(-np.inf).to_numpy().astype(np.float64),
        flagged=aligned["flagged"].fill_null(False).to_numpy().astype(bool),
        info={
            "threshold": sr.threshold,
            "threshold_method": getattr(sr, "threshold_method", None),
            "config": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(cfg).items()
                if isinstance(v, int | float | str | bool | list | tuple | type(None))
            },
            "features": used,
            "families_used": sorted({REGISTRY.get(n).family for n in used}),
            "graph_kinds": list(sr.graph_kinds),
            "unscored": n_missing,
            "stage_seconds": {k: round(v, 3) for k, v in sr.timings.items() if "." not in k},
            **extra,
        },
    )


def iforest_raw(reviews: pl.DataFrame, seed: int = 0) -> MethodOutput:
    """IsolationForest, default parameters, on :func:`raw_features`."""
    from sklearn.ensemble import IsolationForest

    X, names = _raw_matrix(reviews)
    model = IsolationForest(random_state=seed).fit(X)
    return MethodOutput(
        scores=-model.score_samples(X),
        flagged=model.predict(X) == -1,
        info={"features": names},
    )


def _pyod(cls_path: str, reviews: pl.DataFrame) -> MethodOutput:
    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    X, names = _raw_matrix(reviews)
    model = cls().fit(X)
    return MethodOutput(
        scores=np.asarray(model.decision_scores_, dtype=np.float64),
        flagged=np.asarray(model.labels_, dtype=bool),
        info={"features": names},
    )


def pyod_ecod(reviews: pl.DataFrame, seed: int = 0) -> MethodOutput:
    """PyOD ECOD (empirical-CDF outlier score), default parameters, raw features."""
    return _pyod("pyod.models.ecod.ECOD", reviews)


def pyod_hbos(reviews: pl.DataFrame, seed: int = 0) -> MethodOutput:
    """PyOD HBOS (histogram-based outlier score), default parameters, raw features."""
    return _pyod("pyod.models.hbos.HBOS", reviews)


def rank_average(reviews: pl.DataFrame, seed: int = 0) -> MethodOutput:
    """Mean percentile rank of review-detector's oriented features (no forest)."""
    from features.pipeline import compute_features
    from features.registry import REGISTRY

    fr = compute_features(reviews)
    names = fr.features
    n = fr.frame.height
    total = np.zeros(n)
    for f in names:  # numpy ranks: bit-identical from run to run (Polars' rank is not, by 1 ulp)
        total += average_ranks(fr.frame[f].to_numpy() * float(REGISTRY.get(f).direction)) / n
    ranked = pl.DataFrame({"review_id": fr.frame["review_id"], "score": total / max(len(names), 1)})
    aligned = reviews.select("review_id").join(
        ranked, on="review_id", how="left", maintain_order="left"
    )
    score = aligned["score"].fill_null(-np.inf).to_numpy().astype(np.float64)
    return MethodOutput(
        scores=score,
        flagged=top_share(score, RANK_AVERAGE_FLAG_SHARE),
        info={"features": list(names)},
    )


def speagle(reviews: pl.DataFrame, seed: int = 0) -> MethodOutput:
    """SpEagle on ids, ratings and dates (:mod:`benchmarks.speagle`); deterministic, ``seed`` unused."""
    from benchmarks.speagle import speagle_scores

    score = speagle_scores(reviews)
    return MethodOutput(
        scores=score,
        flagged=score >= 0.5,
        info={"features": "SpEagle's user, product and review features (metadata only)"},
    )


METHODS: dict[str, Method] = {
    m.id: m
    for m in (
        Method(
            "review_detector",
            "review-detector",
            review_detector,
            "own label-free threshold (score_reviews)",
            description="this engine: detector.scan.score_reviews with the default ScanConfig (every feature family)",
        ),
        Method(
            "iforest_raw",
            "IsolationForest, raw features",
            iforest_raw,
            "predict() == -1 (contamination='auto')",
            description="sklearn IsolationForest, default parameters, raw per-review features",
        ),
        Method(
            "pyod_ecod",
            "PyOD ECOD",
            pyod_ecod,
            "labels_ (contamination=0.1)",
            requires=("pyod",),
            description="PyOD ECOD, default parameters, raw per-review features",
        ),
        Method(
            "pyod_hbos",
            "PyOD HBOS",
            pyod_hbos,
            "labels_ (contamination=0.1)",
            requires=("pyod",),
            description="PyOD HBOS, default parameters, raw per-review features",
        ),
        Method(
            "rank_average",
            "rank average of features",
            rank_average,
            "top 10 % of scores",
            description="mean percentile rank of review-detector's oriented features, no model",
        ),
        Method(
            "speagle",
            "SpEagle",
            speagle,
            "posterior >= 0.5",
            description=(
                "SpEagle (KDD 2015): metadata priors and belief propagation over the "
                "user-review-product graph, UGFraud's configuration re-implemented vectorised"
            ),
        ),
    )
}
