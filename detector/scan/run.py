"""Running a scan: resolve the mode, run the pipeline in core or out of core, publish.

Every output of one scan is written into a new version of ``out`` and made
current in one rename only after all of it was written
(:class:`detector.publish.Publication`), so a failed or killed run leaves the
previous outputs (or none), never a mix.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import polars as pl

from detector.cases import attach_case_ids, build_cases
from detector.engines import Engine, get_engine
from detector.errors import InputError
from detector.input.load import load_reviews, weak_identities
from detector.input.rejects import NoRowsError, all_rejected_error
from detector.input.spec import InputSpec
from detector.progress import ScanProgress
from detector.publish import Publication
from detector.scan import outofcore
from detector.scan.config import ScanConfig
from detector.scan.feature_step import shard_features
from detector.scan.history import Prior, without_seen
from detector.scan.output import (
    Findings,
    ScanResult,
    keeps_foreign,
    timed,
    write_all_rejected,
    write_common,
    write_partitions,
    write_summary,
)
from detector.scan.scoring import score_reviews
from features.pipeline import FeatureResult, Handoff


class ModeError(InputError):
    """A scan mode the engine cannot run (out of core on an engine that distributes itself)."""


def run_scan(
    inputs,
    out: str | Path,
    config: ScanConfig | None = None,
    engine: str | Engine | None = None,
    progress: ScanProgress | None = None,
    keep_reviews: bool = True,
    spec: InputSpec | None = None,
    partition_by: str | None = None,
    out_of_core: bool | None | str = "config",
    shard_rows: int | None = None,
) -> ScanResult:
    """Scan ``inputs`` and write the results into directory ``out``.

    ``config`` (:class:`ScanConfig`) says everything the results depend on;
    ``spec``, ``partition_by``, ``out_of_core`` and ``shard_rows`` are keyword
    spellings of its fields (``out_of_core=None`` chooses by the input's size
    and the memory available). ``engine`` is ``"polars"`` (default), ``"ray"``
    or an :class:`Engine`; ``progress`` shows stages (silent by default).
    ``keep_reviews=False`` frees the loaded reviews as soon as the features are
    prepared and leaves ``result.loaded.reviews`` empty.

    ``out`` is checked before any work (:class:`detector.publish.OutputError`);
    the outputs are published all at once: Ctrl-C, SIGTERM, ``kill -9`` or a
    failure leave ``out`` as it was. An out-of-core scan's ``result.scores``
    holds only the flagged reviews and ``result.features`` is None.
    """
    config = configured(config, spec, partition_by, out_of_core, shard_rows)
    publication = Publication(out, carry=keeps_foreign)
    with publication:
        done = stage_or_rejects(
            inputs,
            publication.path,
            publication.run_id,
            Path(out),
            config,
            engine=engine,
            progress=progress,
            keep_reviews=keep_reviews,
        )
        if isinstance(done, ScanResult):
            return done
    raise done


def stage_or_rejects(
    inputs, directory: Path, run_id: str, out: Path, config: ScanConfig, **stage_options
) -> ScanResult | NoRowsError:
    """:func:`stage_scan` into ``directory``, the scan to be published as ``out``.

    When every row is rejected, the rejects and their counts are the scan's
    outputs, written into ``directory`` to be published like any other
    (replacing an earlier scan's); returns the :class:`NoRowsError` to raise
    once they are. An input with no rows at all raises at once (nothing to
    publish). ``stage_options`` are :func:`stage_scan`'s (``engine``,
    ``progress``, ``keep_reviews``).
    """
    try:
        return stage_scan(inputs, directory, run_id, config, **stage_options)
    except NoRowsError as exc:
        if exc.rejected.height == 0:
            raise
        return write_all_rejected(directory, out, exc, config.input)


def configured(
    config: ScanConfig | None,
    spec: InputSpec | None = None,
    partition_by: str | None = None,
    out_of_core: bool | None | str = "config",
    shard_rows: int | None = None,
) -> ScanConfig:
    """``config`` with the keyword spellings of its fields that were given."""
    config = (config or ScanConfig()).with_options(
        input=spec, partition_by=partition_by, shard_rows=shard_rows
    )
    if out_of_core != "config":
        config = dataclasses.replace(config, out_of_core=out_of_core)
    return config


def check_mode(config: ScanConfig, engine: Engine | type[Engine]) -> None:
    """Refuse a mode the engine (or engine class) cannot run (:class:`ModeError`)."""
    if config.out_of_core and not engine.supports_out_of_core:
        raise ModeError(
            f"out-of-core scans run on the polars engine; the {engine.name} engine "
            "distributes a large scan itself"
        )


def choose_mode(inputs, config: ScanConfig, engine: Engine) -> dict:
    """In core or out of core, and why (``summary.json``'s ``mode``)."""
    check_mode(config, engine)
    if config.out_of_core is not None:
        return {"out_of_core": bool(config.out_of_core), "chosen": False, "why": "asked for"}
    if not engine.supports_out_of_core:
        why = f"in core: the {engine.name} engine distributes a large scan itself"
        return {"out_of_core": False, "chosen": True, "why": why}
    chosen, why = outofcore.choose_out_of_core(inputs, config.input)
    return {"out_of_core": chosen, "chosen": True, "why": why}


def stage_scan(
    inputs,
    directory: Path,
    run_id: str,
    config: ScanConfig | None = None,
    engine: str | Engine | None = None,
    progress: ScanProgress | None = None,
    keep_reviews: bool = True,
    prior: Prior | None = None,
    **options,
) -> ScanResult:
    """:func:`run_scan` writing every output into the new directory ``directory``, unpublished.

    ``run_id`` is recorded in ``summary.json``; the caller publishes (or
    discards) ``directory``. ``prior`` (an incremental scan's history and
    model) is context for the features and the model to score with;
    ``options`` are :func:`configured`'s (``spec``, ``out_of_core`` ...).
    """
    config = configured(config, **options)
    Path(directory).mkdir(parents=True, exist_ok=True)
    owns_engine = not isinstance(engine, Engine)
    engine = get_engine(engine, progress=progress)
    try:
        mode = choose_mode(inputs, config, engine)
        if mode["out_of_core"]:
            if prior is not None:
                raise ModeError("an incremental scan runs in core (its new partitions are small)")
            return outofcore.run_out_of_core(inputs, directory, config, engine, mode, run_id)
        return in_core(inputs, directory, config, engine, keep_reviews, mode, run_id, prior)
    finally:
        if owns_engine:
            engine.close()


def write_rows(directory: Path, scores: pl.DataFrame, fr: FeatureResult, partition_by) -> None:
    """Write scores and features: single files, or hive partitions by ``partition_by``."""
    features = fr.frame.drop("_rid")
    if partition_by is None:
        scores.write_parquet(directory / "scores.parquet", compression="zstd")
        features.write_parquet(directory / "features.parquet", compression="zstd")
        return
    # scores, features and keys are all in _rid order
    frames = {"scores": scores, "features": features}
    write_partitions(directory, frames, fr.keys, partition_by, "part-0.parquet")


def in_core(inputs, directory: Path, config, engine, keep_reviews, mode, run_id, prior=None):
    """The scan as one shard held in memory: load, features, score, cases, write."""
    progress, timings, t_all = engine.progress, {}, time.perf_counter()
    with timed(timings, "load"):
        with progress.stage("load") as st:
            first = prior.first if prior is not None else None
            loaded = load_reviews(inputs, spec=config.input, first_reviews=first)
            st.advance(loaded.n_input)
        progress.rows = loaded.reviews.height
        loaded = without_seen(loaded, prior)
    if loaded.reviews.height == 0:
        raise all_rejected_error(loaded.files, loaded.n_input, loaded.rejected)
    engine.warm(loaded.reviews.height)
    reviews = loaded.reviews
    if not keep_reviews:
        reviews, loaded.reviews = Handoff(loaded.reviews), loaded.reviews.clear()
    with timed(timings, "features"):
        history = prior.history if prior is not None else None
        fr = shard_features(engine, reviews, config.families, history=history)
        del reviews
    sr = score_reviews(fr, config, engine, prior.given if prior else None)
    with timed(timings, "cases"), progress.stage("cases"):
        cases = build_cases(sr.scores, fr.keys, fr.frame, weak_identities(loaded))
        scores = attach_case_ids(sr.scores, cases.review_case)
    timings.update({**sr.timings, "features": timings["features"]})
    with timed(timings, "write"), progress.stage("write", total=scores.height):
        write_common(directory, cases.cases, sr.explanations, loaded.rejected)
        write_rows(directory, scores, fr, config.partition_by)
    timings["total"] = time.perf_counter() - t_all
    flagged = scores.filter(pl.col("flagged"))
    found = Findings(
        scores.height, flagged, fr.features, fr.unavailable, sr.threshold_choice, sr.graph_kinds,
        cases.cases,
    )  # fmt: skip
    run = {"engine": engine.describe(), "mode": mode, "run_id": run_id}
    summary = write_summary(directory, config, loaded, found, timings, run)
    return ScanResult(scores, fr, sr.model, sr.threshold, summary, loaded, timings)
