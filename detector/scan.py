"""Scan orchestration: load -> features -> score -> flag -> write.

Every output of one scan is written into a new version of ``out`` and made
current in one rename only after all of it was written
(:class:`detector.publish.Publication`), so a failed or killed run leaves the
previous outputs (or none), never a mix.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from detector import __version__
from detector.atomic import write_json
from detector.cases import attach_case_ids, build_cases, case_summary
from detector.engines import Engine, get_engine
from detector.hashing import file_sha256
from detector.input.load import LoadedInput, input_record, weak_identities
from detector.input.rejects import NoRowsError, all_rejected_error, reason_counts
from detector.input.spec import InputSpec, as_spec
from detector.partition import PARTITIONED_OUTPUTS, partition_values, write_partitioned
from detector.progress import ScanProgress
from detector.publish import Publication
from features import params
from features.pipeline import FeatureResult, Handoff
from features.registry import LINKED_EVIDENCE, REGISTRY
from models.content import content_keys
from models.explain import MAX_REASONS, MIN_SHARE
from models.graph import build_kinds, default_kinds
from models.isolation import OneSidedIsolationForest
from models.propagation import propagate
from models.threshold import TARGET_PRECISION, Threshold, estimate, precision_threshold

OUTPUT_FILES = (
    "explanations.parquet",
    "scores.parquet",
    "features.parquet",
    "summary.json",
    "rejected.parquet",
    "cases.parquet",
)

SCORES_SCHEMA = {
    "review_id": pl.String,
    "score": pl.Float64,
    "flagged": pl.Boolean,
    "direction": pl.String,
    "reasons": pl.List(pl.String),
    "case_id": pl.String,
}


@dataclass
class ScanConfig:
    """Parameters of one scan; all recorded in ``summary.json``."""

    families: Sequence[str] | None = None
    seed: int = 0
    #: A fixed flag threshold; None chooses it for ``target_precision``.
    threshold: float | None = None
    #: Flags are chosen so that their estimated precision (mean posterior) is this.
    target_precision: float = TARGET_PRECISION
    #: Trees of the forest: 100 (Liu et al.'s and scikit-learn's default). With the target-precision
    #: threshold and its per-flag floor, flags at model seeds 0-4 agree to Jaccard 0.996-1.000 on
    #: generated 20k sets (dev seeds 0, 1); 300 trees gave the same at three times the scoring cost.
    n_estimators: int = 100
    max_samples: int = 256
    clip_quantile: float = 0.7
    #: Spread forest scores over the review graph (users, products, evidence groups).
    propagate: bool = True
    #: Node kinds of the review graph; None chooses by the available signals
    #: (see :func:`models.graph.default_kinds`).
    graph_kinds: Sequence[str] | None = None
    #: SpEagle's edge-potential strength.
    eps: float = 0.1
    #: Forest scores map linearly onto prior fake-probabilities in this range.
    prior_low: float = 0.25
    prior_high: float = 0.75


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
    """

    scores: pl.DataFrame
    features: FeatureResult
    model: OneSidedIsolationForest
    threshold: float
    timings: dict[str, float] = field(default_factory=dict)
    threshold_method: str = "fixed"
    graph_kinds: list[str] = field(default_factory=list)
    explanations: pl.DataFrame | None = None
    #: The threshold with its label-free precision estimate (``summary.json``'s ``threshold``).
    threshold_choice: Threshold | None = None


@dataclass
class ScanResult:
    """In-memory result of :func:`run_scan` (what was also written to disk).

    After an out-of-core scan ``scores`` holds the flagged reviews only and
    ``features`` is None: the full outputs are the files.
    """

    scores: pl.DataFrame
    features: FeatureResult | None
    model: OneSidedIsolationForest
    threshold: float
    summary: dict
    loaded: LoadedInput
    timings: dict[str, float] = field(default_factory=dict)


def score_reviews(
    reviews: pl.DataFrame | Handoff,
    config: ScanConfig | None = None,
    engine: Engine | None = None,
) -> ScoreResult:
    """Features, score, flag and reasons for valid reviews (no I/O).

    ``engine`` runs the heavy stages (tables, fit, scoring, explanations); the
    reference engine (this process) by default. See :mod:`detector.engines`.
    ``reviews`` given as a :class:`features.pipeline.Handoff` is freed once
    the features are prepared (the columns no feature reads, texts first).
    """
    config = config or ScanConfig()
    engine = engine or Engine()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    fr = engine.compute_features(reviews, config.families)
    timings["features"] = time.perf_counter() - t0
    timings.update({f"features.{k}": v for k, v in fr.timings.items()})

    t0 = time.perf_counter()
    names = fr.scored
    X = fr.scored_matrix()  # a view of the feature values, not a copy
    model = new_model(names, config)
    if names:
        # the fit's sample and draws are keyed on the reviews, not their positions
        engine.fit(model, X, content_keys(fr.frame["review_id"]))
        score = engine.score_samples(model, X)
    else:
        score = np.zeros(fr.frame.height)
    timings["score"] = time.perf_counter() - t0
    # Forest scores become prior fake-probabilities; without propagation the
    # prior is the final score, so the 0.5 threshold means the same in both.
    prior = config.prior_low + (config.prior_high - config.prior_low) * score
    score = prior
    graph_kinds: tuple[str, ...] = ()
    if config.propagate and names:
        t0 = time.perf_counter()
        graph_kinds = (
            tuple(config.graph_kinds)
            if config.graph_kinds is not None
            else default_kinds(fr.features, fr.unavailable)
        )
        kinds = build_kinds(fr.keys, config.eps, graph_kinds)
        # the kinds the input gave nodes for (no text: no template nodes)
        graph_kinds = tuple(k.name for k in kinds)
        score = propagate(prior, kinds)
        timings["propagate"] = time.perf_counter() - t0

    choice = choose_threshold(score, config)
    threshold, method = choice.value, choice.method
    flagged = score >= threshold
    t0 = time.perf_counter()
    idx = np.flatnonzero(flagged)
    explanations, reasons = explain_and_reason(
        model, X[idx] if names else X[:0], idx, names, prior, score, config, engine
    )
    timings["explain"] = time.perf_counter() - t0

    keys = fr.keys.select("_rid", "review_id", "rating")
    scores = scores_frame(keys, score, flagged, reasons)
    explanations = (
        explanations.join(fr.frame.select("_rid", "review_id"), on="_rid").select(
            "review_id", "term", "contribution"
        )
        if explanations.height
        else pl.DataFrame(schema=EXPLANATION_SCHEMA)
    )
    return ScoreResult(
        scores,
        fr,
        model,
        float(threshold),
        timings,
        method,
        list(graph_kinds),
        explanations,
        choice,
    )


def new_model(names: list[str], config: ScanConfig) -> OneSidedIsolationForest:
    """The (unfitted) scorer of a scan over the scored features ``names``."""
    return OneSidedIsolationForest(
        directions=[REGISTRY.get(n).direction for n in names],
        clip_quantile=config.clip_quantile,
        n_estimators=config.n_estimators,
        max_samples=config.max_samples,
        random_state=config.seed,
    )


def choose_threshold(score: np.ndarray, config: ScanConfig) -> Threshold:
    """The flag threshold: ``config.threshold``, or the one for ``config.target_precision``."""
    if config.threshold is not None:
        return estimate(score, config.threshold, "fixed", None)
    return precision_threshold(score, config.target_precision)


def explain_and_reason(
    model: OneSidedIsolationForest,
    X_flagged: np.ndarray,
    rows: np.ndarray,
    names: list[str],
    prior: np.ndarray,
    score: np.ndarray,
    config: ScanConfig,
    engine: Engine | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Explanations (``_rid``, ``term``, ``contribution``) and reasons (``_rid -> reasons``) of flagged rows.

    Reasons are the features in their suspicious tail (:func:`tail_mask`),
    ordered by contribution; a flagged review with none has no reason.

    ``X_flagged`` holds the scored features of ``rows`` (the flagged ``_rid``
    values, ascending); ``prior`` and ``score`` cover every review.
    """
    explanations = explain_flagged(model, X_flagged, rows, names, prior, score, config, engine)
    if not names or rows.size == 0:
        return explanations, pl.DataFrame(schema={"_rid": pl.Int64, "reasons": pl.List(pl.String)})
    Z = model.transform(X_flagged)
    allowed = tail_mask(X_flagged, Z, names)
    r_idx, f_idx = np.nonzero(allowed)
    tails = pl.DataFrame(
        {"_rid": rows[r_idx].astype(np.int64), "term": [names[j] for j in f_idx]},
        schema={"_rid": pl.Int64, "term": pl.String},
    )
    reasons = reasons_from(explanations.join(tails, on=["_rid", "term"], how="semi"))
    missing = np.setdiff1d(rows[allowed.any(axis=1)], reasons["_rid"].to_numpy())
    if missing.size:
        # a review in a suspicious tail that the forest did not credit: its most unusual one
        at = np.searchsorted(rows, missing)
        top = np.argmax(np.where(allowed[at], Z[at], -np.inf), axis=1)
        reasons = pl.concat(
            [
                reasons,
                pl.DataFrame(
                    {"_rid": missing.astype(np.int64), "reasons": [[names[j]] for j in top]}
                ),
            ]
        )
    return explanations, reasons


def tail_mask(X: np.ndarray, Z: np.ndarray, names: list[str]) -> np.ndarray:
    """Which features of each row may be given as a reason.

    A feature is a reason only where its value is in its suspicious tail
    (its registry :class:`~features.registry.Claim`, and any feature the claim
    is ``given``) *and* the scorer's one-sided transform ``Z`` puts it above
    the ordinary part of the population: a value every account shares (one
    review each) is no reason, whatever contribution the forest gave it.
    """
    ok = Z > 0
    col = {n: j for j, n in enumerate(names)}
    for j, n in enumerate(names):
        f = REGISTRY.get(n)
        if f.claim is None:
            ok[:, j] = False
            continue
        x = X[:, j]
        ok[:, j] &= (x >= f.claim.tail) if f.direction > 0 else (x <= f.claim.tail)
        for other, least in f.claim.given:
            ok[:, j] &= (X[:, col[other]] >= least) if other in col else False
    return ok


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


EXPLANATION_SCHEMA = {"review_id": pl.String, "term": pl.String, "contribution": pl.Float64}


def reasons_from(explanations: pl.DataFrame) -> pl.DataFrame:
    """``_rid -> reasons``: the features carrying at least ``MIN_SHARE`` of a score, strongest first.

    ``explanations`` holds only the terms that may be reasons (features in
    their suspicious tail, see :func:`tail_mask`); at most ``MAX_REASONS``.
    ``linked_evidence`` is never a reason: what propagation added is a
    property of the model, not a statement about the review (the packet shows
    the concrete links of its case instead).
    """
    schema = {"_rid": pl.Int64, "reasons": pl.List(pl.String)}
    c = pl.col("contribution")
    kept = explanations.filter((c > 0) & (pl.col("term") != LINKED_EVIDENCE.name))
    if kept.height == 0:
        return pl.DataFrame(schema=schema)
    return (
        kept.sort(["_rid", "contribution", "term"], descending=[False, True, False])
        .with_columns(
            c.sum().over("_rid").alias("_total"),
            pl.int_range(pl.len()).over("_rid").alias("_rank"),
        )
        .filter((pl.col("_rank") == 0) | (c >= MIN_SHARE * pl.col("_total")))
        .group_by("_rid", maintain_order=True)
        .agg(pl.col("term").head(MAX_REASONS).alias("reasons"))
        .select("_rid", "reasons")
    )


def explain_flagged(
    model: OneSidedIsolationForest,
    X: np.ndarray,
    rows: np.ndarray,
    names: list[str],
    prior: np.ndarray,
    score: np.ndarray,
    config: ScanConfig,
    engine: Engine | None = None,
) -> pl.DataFrame:
    """Baseline plus per-term contributions for the given rows, in long form.

    ``score = prior_low + sum(contributions)``: the forest's per-feature
    contributions (scaled into the prior's range) explain the prior, and the
    ``linked_evidence`` term is what propagation added or removed.
    """
    if rows.size == 0 or not names:
        return pl.DataFrame(
            schema={"_rid": pl.Int64, "term": pl.String, "contribution": pl.Float64}
        )
    _, contrib = (engine or Engine()).contributions(model, X)
    contrib = contrib * (config.prior_high - config.prior_low)
    linked = score[rows] - prior[rows]
    terms = [*names, LINKED_EVIDENCE.name]
    full = np.column_stack([contrib, linked])
    nz = full != 0
    r_idx, t_idx = np.nonzero(nz)
    return pl.DataFrame(
        {
            "_rid": rows[r_idx].astype(np.int64),
            "term": [terms[t] for t in t_idx],
            "contribution": full[r_idx, t_idx],
        }
    )


#: Every entry a scan (plain, partitioned or incremental) writes into ``out``; other
#: entries (the user's) are carried into each new version.
SCAN_OUTPUTS = (*OUTPUT_FILES, *PARTITIONED_OUTPUTS, "runs")


def keeps_foreign(name: str) -> bool:
    """Whether a new scan version carries the entry ``name`` of the current one: not a scan output."""
    return name not in SCAN_OUTPUTS


def _write_rows(
    staging: Path, scores: pl.DataFrame, fr: FeatureResult, partition_by: str | None
) -> list[str]:
    """Write scores and features: single files, or hive partitions by ``partition_by``."""
    features = fr.frame.drop("_rid")
    if partition_by is None:
        scores.write_parquet(staging / "scores.parquet", compression="zstd")
        features.write_parquet(staging / "features.parquet", compression="zstd")
        return ["scores.parquet", "features.parquet"]
    part = fr.keys.select(
        "review_id", partition_values(pl.col("_t"), partition_by).alias(partition_by)
    )
    for name, frame in (("scores", scores), ("features", features)):
        keyed = frame.join(part, on="review_id", how="left", maintain_order="left")
        write_partitioned(keyed, staging / name, partition_by)
    return ["scores", "features"]


def run_scan(
    inputs,
    out: str | Path,
    columns: dict[str, str] | None = None,
    since=None,
    until=None,
    config: ScanConfig | None = None,
    engine: str | Engine | None = None,
    progress: ScanProgress | None = None,
    partition_by: str | None = None,
    keep_reviews: bool = True,
    out_of_core: bool | None = False,
    shard_rows: int | None = None,
    spec: InputSpec | None = None,
) -> ScanResult:
    """Scan ``inputs`` and write the results into directory ``out``.

    ``engine`` is ``"polars"`` (default), ``"ray"`` or an :class:`Engine`;
    ``progress`` shows stages (silent by default); ``partition_by="month"``
    writes scores and features as hive partitions (:mod:`detector.partition`).
    ``keep_reviews=False`` frees the loaded reviews as soon as the features are
    prepared (a large scan holds its texts and unused columns no longer) and
    leaves ``result.loaded.reviews`` empty.

    ``out`` is checked before any work (a file, a read-only or full disk:
    :class:`detector.publish.OutputError`); the outputs are written into a new
    version of ``out`` and published all at once
    (:class:`detector.publish.Publication`): Ctrl-C, SIGTERM, ``kill -9`` or a
    failure leave ``out`` as it was. ``summary.json`` names the version as
    ``run_id``.

    ``out_of_core=True`` streams the scan through shards of whole shops of at
    most ``shard_rows`` reviews (:mod:`detector.outofcore`) for inputs larger
    than memory: the same results, but ``result.scores`` holds only the
    flagged reviews and ``result.features`` is None (everything is on disk).
    ``None`` chooses by the input's size and the memory available
    (:func:`detector.outofcore.choose_out_of_core`); ``summary.json`` records
    the mode and why under ``mode``.

    ``spec`` (:class:`detector.input.spec.InputSpec`) says how to read the
    input: column mapping, preset, shop, time zone, order exports, time
    window (``columns``/``since``/``until`` are its older spelling);
    ``summary.json`` records it under ``input``.
    """
    spec = as_spec(spec, columns, since, until)
    publication = Publication(out, carry=keeps_foreign)
    with publication:
        try:
            return stage_scan(
                inputs,
                publication.path,
                publication.run_id,
                spec=spec,
                config=config,
                engine=engine,
                progress=progress,
                partition_by=partition_by,
                keep_reviews=keep_reviews,
                out_of_core=out_of_core,
                shard_rows=shard_rows,
            )
        except NoRowsError as exc:
            if exc.rejected.height == 0:
                raise
            # every row rejected: the rejects and their counts are this scan's outputs,
            # published like any other (replacing an earlier scan's)
            done = write_all_rejected(publication.path, Path(out), exc, spec)
    raise done


def stage_scan(
    inputs,
    directory: Path,
    run_id: str,
    spec: InputSpec | None = None,
    config: ScanConfig | None = None,
    engine: str | Engine | None = None,
    progress: ScanProgress | None = None,
    partition_by: str | None = None,
    keep_reviews: bool = True,
    out_of_core: bool | None = False,
    shard_rows: int | None = None,
) -> ScanResult:
    """:func:`run_scan` writing every output into the new directory ``directory``, unpublished.

    ``run_id`` is recorded in ``summary.json``. The caller publishes (or
    discards) ``directory``.
    """
    spec = as_spec(spec)
    config = config or ScanConfig()
    Path(directory).mkdir(parents=True, exist_ok=True)
    owns_engine = not isinstance(engine, Engine)
    engine = get_engine(engine, progress=progress)
    mode = {"out_of_core": bool(out_of_core), "chosen": False, "why": "asked for"}
    if out_of_core is None:
        from detector.outofcore import choose_out_of_core

        if engine.name in ("polars", "reference"):
            chosen, why = choose_out_of_core(inputs, spec)
        else:
            chosen, why = (
                False,
                f"in core: the {engine.name} engine distributes a large scan itself",
            )
        mode = {"out_of_core": chosen, "chosen": True, "why": why}
    try:
        if mode["out_of_core"]:
            from detector.outofcore import SHARD_ROWS, run_out_of_core

            result, _ = run_out_of_core(
                inputs,
                directory,
                directory,
                spec,
                config,
                engine,
                partition_by,
                shard_rows or SHARD_ROWS,
                mode,
                run_id=run_id,
            )
            return result
        return _run_scan(
            inputs, directory, spec, config, engine, partition_by, keep_reviews, mode, run_id
        )
    finally:
        if owns_engine:
            engine.close()


def write_all_rejected(
    directory: Path, out: Path, exc: NoRowsError, spec: InputSpec
) -> NoRowsError:
    """Write the outputs of a scan whose every row was rejected into ``directory``,
    to be published as ``out``; the error to raise once they are."""
    done = all_rejected_error(exc.files, exc.n_input, exc.rejected, out / "rejected.parquet")
    counts = reason_counts(exc.rejected)
    summary = {
        "version": __version__,
        "inputs": [{"path": str(p), "sha256": file_sha256(p)} for p in exc.files],
        "rows": {
            "input": exc.n_input,
            "scored": 0,
            "rejected": exc.rejected.height,
            "flagged": 0,
            "flagged_by_direction": {},
        },
        "rejected_reasons": dict(zip(counts["kind"], counts["rows"], strict=True)),
        "error": str(done),
        "run_id": directory.name,
        "input": spec.to_dict(),
        "load": {
            "columns": spec.columns or None,
            "since": spec.to_dict()["since"],
            "until": spec.to_dict()["until"],
            "cwd": os.getcwd(),
        },
    }
    exc.rejected.write_parquet(directory / "rejected.parquet", compression="zstd")
    write_json(summary, directory / "summary.json")
    return done


def _run_scan(
    inputs, staging: Path, spec, config, engine, partition_by, keep_reviews, mode, run_id
) -> ScanResult:
    progress = engine.progress
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    loaded = engine.load(inputs, spec)
    timings["load"] = time.perf_counter() - t0
    if loaded.reviews.height == 0:
        raise all_rejected_error(loaded.files, loaded.n_input, loaded.rejected)
    if hasattr(engine, "warm"):
        engine.warm(loaded.reviews.height)

    if keep_reviews:
        sr = score_reviews(loaded.reviews, config, engine=engine)
    else:
        handoff, loaded.reviews = Handoff(loaded.reviews), loaded.reviews.clear()
        sr = score_reviews(handoff, config, engine=engine)
    scores, fr, model, threshold = sr.scores, sr.features, sr.model, sr.threshold
    t0 = time.perf_counter()
    with progress.stage("cases"):
        cases = build_cases(scores, fr.keys, fr.frame, weak_identities(loaded))
        scores = attach_case_ids(scores, cases.review_case)
    timings["cases"] = time.perf_counter() - t0
    timings.update(sr.timings)

    t0 = time.perf_counter()
    with progress.stage("write", total=scores.height):
        cases.cases.write_parquet(staging / "cases.parquet", compression="zstd")
        _write_rows(staging, scores, fr, partition_by)
        sr.explanations.write_parquet(staging / "explanations.parquet", compression="zstd")
        if loaded.rejected.height:
            loaded.rejected.write_parquet(staging / "rejected.parquet", compression="zstd")
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    summary = with_scan_context(
        build_summary(loaded, sr, config, timings),
        engine.describe(),
        mode or {"out_of_core": False, "chosen": False, "why": "asked for"},
        partition_by,
        input_record(spec, loaded),
        cases.cases,
        run_id=run_id,
    )
    write_json(summary, staging / "summary.json")
    return ScanResult(scores, fr, model, threshold, summary, loaded, timings)


def with_scan_context(
    summary: dict,
    engine: dict,
    mode: dict,
    partition_by: str | None,
    inputs: dict,
    cases: pl.DataFrame,
    run_id: str | None = None,
) -> dict:
    """``summary`` plus what every scan records besides its results.

    The engine (``engine.describe()``), the in-core or out-of-core ``mode``
    and why, the output layout, how the input was read (``input``:
    :func:`detector.input.load.input_record`, read back to quote texts and
    check packets; ``load`` keeps its older ``columns``/``since``/``until``
    spelling), the case counts and the ``run_id`` of the published version.
    """
    if run_id:
        summary["run_id"] = run_id
    summary["engine"] = engine
    summary["mode"] = mode
    summary["output"] = {"partition_by": partition_by}
    summary["input"] = inputs
    summary["load"] = {
        "columns": inputs.get("columns") or None,
        "since": inputs.get("since"),
        "until": inputs.get("until"),
        "cwd": os.getcwd(),
    }
    summary["cases"] = case_summary(cases)
    return summary


def build_summary(
    loaded: LoadedInput,
    sr: ScoreResult,
    config: ScanConfig,
    timings: dict[str, float],
) -> dict:
    """The ``summary.json`` record of a scan."""
    scores, fr = sr.scores, sr.features
    by_dir = scores.filter(pl.col("flagged")).group_by("direction").len().sort("direction")
    return summary_record(
        loaded,
        scored=scores.height,
        flagged_by_direction=dict(
            zip(by_dir["direction"].to_list(), by_dir["len"].to_list(), strict=True)
        ),
        used=fr.features,
        unavailable=fr.unavailable,
        threshold=sr.threshold_choice,
        graph_kinds=sr.graph_kinds,
        config=config,
        timings=timings,
    )


def summary_record(
    loaded: LoadedInput,
    scored: int,
    flagged_by_direction: dict[str, int],
    used: list[str],
    unavailable: dict[str, list[str]],
    threshold: Threshold,
    graph_kinds: list[str],
    config: ScanConfig,
    timings: dict[str, float],
) -> dict:
    """``summary.json`` from its parts (an out-of-core scan never holds every score at once)."""
    return {
        "version": __version__,
        "inputs": [{"path": str(p), "sha256": file_sha256(p)} for p in loaded.files],
        "rows": {
            "input": loaded.n_input,
            "scored": scored,
            "rejected": loaded.rejected.height,
            "flagged": int(sum(flagged_by_direction.values())),
            "flagged_by_direction": dict(sorted(flagged_by_direction.items())),
        },
        "signals": {
            "used": used,
            "unavailable": [{"feature": k, "missing_columns": v} for k, v in unavailable.items()],
        },
        "threshold": threshold.record(),
        "parameters": {
            "seed": config.seed,
            "target_precision": config.target_precision,
            "families": list(config.families) if config.families else None,
            "n_estimators": config.n_estimators,
            "max_samples": config.max_samples,
            "clip_quantile": config.clip_quantile,
            "propagate": config.propagate,
            "graph_kinds": graph_kinds,
            "eps": config.eps,
            "prior_range": [config.prior_low, config.prior_high],
            "windows": {
                k: getattr(params, k)
                for k in dir(params)
                if k.isupper() and k not in ("HOUR", "DAY")
            },
        },
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
