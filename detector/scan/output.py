"""What a scan writes: the output files, ``summary.json``, and the result it returns."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector import __version__
from detector.atomic import write_json
from detector.cases import case_summary
from detector.hashing import file_sha256
from detector.input.load import LoadedInput, input_record
from detector.input.rejects import NoRowsError, all_rejected_error, reason_counts
from detector.input.spec import InputSpec
from detector.partition import PARTITIONED_OUTPUTS, partition_values, write_partitioned
from detector.scan.config import ScanConfig
from features import params
from models.isolation import OneSidedIsolationForest
from models.threshold import Threshold

OUTPUT_FILES = (
    "explanations.parquet",
    "scores.parquet",
    "features.parquet",
    "summary.json",
    "rejected.parquet",
    "cases.parquet",
)
#: Every entry a scan (plain, partitioned or incremental) writes into ``out``; other
#: entries (the user's) are carried into each new version.
SCAN_OUTPUTS = (*OUTPUT_FILES, *PARTITIONED_OUTPUTS, "runs")


def keeps_foreign(name: str) -> bool:
    """Whether a new scan version carries the entry ``name`` of the current one: not a scan output."""
    return name not in SCAN_OUTPUTS


@dataclass
class ScanResult:
    """In-memory result of :func:`detector.scan.run_scan` (what was also written to disk).

    After an out-of-core scan ``scores`` holds the flagged reviews only and
    ``features`` is None: the full outputs are the files.
    """

    scores: pl.DataFrame
    features: object | None
    model: OneSidedIsolationForest
    threshold: float
    summary: dict
    loaded: LoadedInput
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Findings:
    """What ``summary.json`` reports of a scan's results, however the scan ran."""

    scored: int
    flagged_scores: pl.DataFrame
    used: list[str]
    unavailable: dict[str, list[str]]
    threshold: Threshold
    graph_kinds: list[str]
    cases: pl.DataFrame


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the seconds the block takes as ``timings[name]`` (``summary.json``'s ``timings_s``)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - t0


def write_partitions(
    directory: Path, frames: dict, keys: pl.DataFrame, partition_by: str, file_name: str
) -> None:
    """Write ``frames`` (name -> rows aligned with those of ``keys``, which holds their ``_t``)
    as hive partitions by ``partition_by`` under ``directory / name``."""
    part = keys.select(partition_values(pl.col("_t"), partition_by).alias(partition_by))
    for name, frame in frames.items():
        keyed = pl.concat([frame, part], how="horizontal")
        write_partitioned(keyed, directory / name, partition_by, file_name=file_name)


def write_common(directory: Path, cases, explanations: pl.DataFrame, rejected: pl.DataFrame):
    """Write the outputs every scan writes whole: cases, explanations and rejects (if any)."""
    cases.write_parquet(directory / "cases.parquet", compression="zstd")
    explanations.write_parquet(directory / "explanations.parquet", compression="zstd")
    if rejected.height:
        rejected.write_parquet(directory / "rejected.parquet", compression="zstd")


def _summary(files, rows: dict, run_id: str, record: dict, **sections) -> dict:
    """A ``summary.json``: the input files and rows, ``sections``, the run and how input was read.

    ``record`` is the ``input`` section; ``load`` is its older spelling, kept for
    readers of old scans.
    """
    load = {k: record.get(k) for k in ("since", "until")}
    return {
        "version": __version__,
        "inputs": [{"path": str(p), "sha256": file_sha256(p)} for p in files],
        "rows": rows,
        **sections,
        "run_id": run_id,
        "input": record,
        "load": {"columns": record.get("columns") or None, **load, "cwd": os.getcwd()},
    }


def write_summary(
    directory: Path,
    config: ScanConfig,
    loaded: LoadedInput,
    found: Findings,
    timings: dict[str, float],
    run: dict,
) -> dict:
    """Write (and return) the ``summary.json`` of a scan into ``directory``.

    ``run`` holds ``engine`` (``engine.describe()``), ``mode`` (in or out of
    core, and why) and ``run_id``. The configuration's own sections come from
    :meth:`ScanConfig.to_dict`, extended with what the scan found (``input`` by
    :func:`detector.input.load.input_record`).
    """
    by_dir = found.flagged_scores.group_by("direction").len().sort("direction")
    flagged = dict(zip(by_dir["direction"].to_list(), by_dir["len"].to_list(), strict=True))
    sections = config.to_dict()
    record = input_record(config.input, loaded)  # sections["input"], extended
    windows = {
        k: getattr(params, k) for k in dir(params) if k.isupper() and k not in ("HOUR", "DAY")
    }
    rows = {"input": loaded.n_input, "scored": found.scored, "rejected": loaded.rejected.height}
    rows.update(flagged=int(sum(flagged.values())), flagged_by_direction=flagged)
    summary = _summary(
        loaded.files,
        rows,
        run["run_id"],
        record,
        signals={
            "used": found.used,
            "unavailable": [
                {"feature": k, "missing_columns": v} for k, v in found.unavailable.items()
            ],
        },
        threshold=found.threshold.record(),
        parameters={**sections["parameters"], "graph_kinds": found.graph_kinds, "windows": windows},
        timings_s={k: round(v, 4) for k, v in timings.items()},
        engine=run["engine"],
        mode={**sections["mode"], **run["mode"]},
        output=sections["output"],
        cases=case_summary(found.cases),
    )
    write_json(summary, directory / "summary.json")
    return summary


def write_all_rejected(
    directory: Path, out: Path, exc: NoRowsError, spec: InputSpec, run_id: str | None = None
) -> NoRowsError:
    """Write the outputs of a scan whose every row was rejected into ``directory``,
    to be published as ``out``; the error to raise once they are.

    ``run_id`` names the published version (``directory``'s name by default).
    """
    done = all_rejected_error(exc.files, exc.n_input, exc.rejected, out / "rejected.parquet")
    counts = reason_counts(exc.rejected)
    rows = {"input": exc.n_input, "scored": 0, "rejected": exc.rejected.height, "flagged": 0}
    rows["flagged_by_direction"] = {}
    summary = _summary(
        exc.files,
        rows,
        run_id or directory.name,
        spec.to_dict(),
        rejected_reasons=dict(zip(counts["kind"], counts["rows"], strict=True)),
        error=str(done),
    )
    exc.rejected.write_parquet(directory / "rejected.parquet", compression="zstd")
    write_json(summary, directory / "summary.json")
    return done
