"""Incremental scans: score only the input partitions not seen before.

``review-detector scan INPUT --out OUT --incremental STATE_DIR``

STATE_DIR holds everything a later run needs::

    state.json                 seen partitions (path, size, mtime, SHA-256, run), features,
                               threshold, engine version; written last: the commit point
    model.joblib               the fitted forest, its feature list and the engine version
    history/part-<run>.parquet narrow columns of every review scored so far

What a run does
---------------
1. Lists the input files (each file is a partition). A file whose size and
   mtime match ``state.json`` is unchanged; when only the mtime moved, the
   SHA-256 decides. A *changed* seen partition is an error (an incremental
   scan only adds partitions; scan afresh with a new STATE_DIR to rescore).
   No new partition: nothing is read or written, and the CLI says so.
2. Loads and validates only the new partitions. A review id already in the
   history is rejected as ``duplicate review_id (first kept)``, as a full
   scan over all partitions would.
3. Computes features of the new reviews over *history + new reviews*: every
   global table (user history, bursts, IP/subnet/device aggregates, text
   clusters, co-review rings) is rebuilt from the compact history store, so a
   burst window or a ring spanning a partition boundary, and a user's history,
   count exactly as in a full scan. Feature values of new reviews are
   identical to those of a full scan over all partitions.
4. Scores the new reviews with the stored model (no refit) and flags them with
   the stored threshold; propagation and cases run over the new reviews.
5. Appends ``scores/month=*/part-<run>.parquet`` and
   ``features/month=*/part-<run>.parquet`` to OUT, puts this run's summary,
   cases, explanations and rejects in ``OUT/runs/<run>/`` and replaces
   ``OUT/summary.json``; then appends the history, and commits ``state.json``.

Not recomputed: loading and validating seen partitions, the model fit, the
threshold, and the scores of earlier reviews (they keep the score they got,
even if later reviews would now add context to them). The first run (empty
STATE_DIR) is a full scan that fits and stores the model.

History holds per review only what the global tables read: ids, rating,
time, ip, device and - for texts long enough to be template candidates only -
the text (other texts never reach a cross-review table).

A run interrupted before ``state.json`` is committed leaves the state as it
was; the next run scores the same partitions again under the same run number,
replacing the part files the interrupted run may have published.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from detector import __version__
from detector.atomic import atomic_path, staging_dir, write_json
from detector.contract import (
    DUPLICATE_REASON,
    InputError,
    InputSpec,
    LoadedInput,
    as_spec,
    resolve_inputs,
)
from detector.engines.base import Engine, get_engine
from detector.hashing import file_sha256
from detector.interrupts import deferred_interrupt
from detector.partition import PARTITIONED_OUTPUTS, append_parts
from models.persist import load_model, save_model

STATE_VERSION = 1
STATE_FILE = "state.json"
MODEL_FILE = "model.joblib"
HISTORY_DIR = "history"
RUNS_DIR = "runs"


# --------------------------------------------------------------------------- state


def history_columns() -> list[str]:
    """Contract columns any global table reads (plus ``review_id``), in contract order."""
    from detector.schema import CONTRACT
    from features.pipeline import REGISTRY  # registers every feature module

    need = {"review_id"}
    for table in REGISTRY.tables.values():
        need.update(table.requires)
    return [c for c in CONTRACT if c in need]


def compact_history(reviews: pl.DataFrame) -> pl.DataFrame:
    """The history rows of ``reviews``: narrow columns, text only where it is a template."""
    from features.textnorm import is_template_candidate, normalize_text

    cols = [c for c in history_columns() if c in reviews.columns]
    out = reviews.select(cols)
    if "text" in out.columns:
        norm = normalize_text(pl.col("text").fill_null(""))
        out = out.with_columns(
            pl.when(is_template_candidate(norm)).then(pl.col("text")).alias("text")
        )
    return out


@dataclasses.dataclass
class State:
    """The contents of STATE_DIR."""

    root: Path
    manifest: dict

    @classmethod
    def open(cls, root: str | os.PathLike) -> State:
        root = Path(root)
        path = root / STATE_FILE
        if not path.exists():
            return cls(root, {"version": STATE_VERSION, "runs": 0, "partitions": {}})
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path} is not a valid state file: {exc}") from None
        if manifest.get("version") != STATE_VERSION:
            raise InputError(
                f"{path} was written by another state version ({manifest.get('version')}); "
                "start a new STATE_DIR"
            )
        return cls(root, manifest)

    @property
    def runs(self) -> int:
        return int(self.manifest.get("runs", 0))

    @property
    def partitions(self) -> dict[str, dict]:
        return self.manifest.setdefault("partitions", {})

    def has_model(self) -> bool:
        return (self.root / MODEL_FILE).exists() and "features" in self.manifest

    def load_model(self):
        # refuses a model fitted by another engine version: its features may differ
        saved = load_model(self.root / MODEL_FILE)
        return saved.model, saved.features

    def history(self) -> pl.DataFrame | None:
        files = [self.root / HISTORY_DIR / f for f in self.manifest.get("history", [])]
        if not files:
            return None
        return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def classify(files: list[Path], state: State) -> tuple[list[Path], list[Path], dict[str, dict]]:
    """Split ``files`` into new and unchanged; a changed seen file raises :class:`InputError`.

    Returns ``(new, unchanged, refreshed)`` where ``refreshed`` maps seen files
    whose mtime moved but whose bytes did not to their new identity.
    """
    new, same, refreshed = [], [], {}
    for f in files:
        key = str(f.resolve())
        seen = state.partitions.get(key)
        if seen is None:
            new.append(f)
            continue
        ident = _identity(f)
        if ident["size"] == seen["size"] and ident["mtime_ns"] == seen["mtime_ns"]:
            same.append(f)
            continue
        if ident["size"] == seen["size"] and file_sha256(f) == seen["sha256"]:
            refreshed[key] = {**seen, **ident}
            same.append(f)
            continue
        raise InputError(
            f"partition {f} changed since run {seen.get('run')} scanned it; an incremental scan "
            f"only adds partitions: scan afresh with a new --incremental directory to rescore it"
        )
    return new, same, refreshed


# --------------------------------------------------------------------------- engine


class IncrementalEngine(Engine):
    """Wraps an engine: history as context for features, the stored model for scoring."""

    def __init__(self, base: Engine, history: pl.DataFrame | None, model=None, features=None):
        super().__init__(base.progress)
        self.base = base
        self.name = base.name
        self.history = history
        self.model = model
        self.features = features
        self.fallbacks = base.fallbacks
        self.timings = base.timings
        self.n_duplicates = 0
        self._scored: list[str] | None = None

    def describe(self) -> dict:
        return self.base.describe()

    def warm(self, n_rows: int) -> None:
        if hasattr(self.base, "warm"):
            self.base.warm(n_rows)

    def load(self, inputs, spec=None) -> LoadedInput:
        loaded = self.base.load(inputs, spec)
        if self.history is None or self.history.height == 0:
            return loaded
        seen = self.history.select("review_id")
        dup = loaded.reviews.join(seen, on="review_id", how="semi", maintain_order="left")
        if dup.height == 0:
            return loaded
        self.n_duplicates = dup.height
        kept = loaded.reviews.join(seen, on="review_id", how="anti", maintain_order="left")
        as_text = dup.select(
            [pl.col(c).cast(pl.String, strict=False) for c in dup.columns]
        ).with_columns(pl.lit(DUPLICATE_REASON).alias("reason"))
        rejected = pl.concat([loaded.rejected, as_text], how="diagonal_relaxed")
        return dataclasses.replace(loaded, reviews=kept, rejected=rejected)

    def compute_features(self, reviews, families=None):
        if self.history is None or self.history.height == 0:
            fr = self.base.compute_features(reviews, families)
        else:
            reviews = reviews.collect() if isinstance(reviews, pl.LazyFrame) else reviews
            hist = self.history.select([c for c in self.history.columns if c in reviews.columns])
            hist = hist.cast({c: reviews.schema[c] for c in hist.columns})
            both = pl.concat([hist, reviews], how="diagonal")
            fr = self.base.compute_features(both, families)
            fr = _tail(fr, hist.height)
        self._scored = list(fr.scored)
        return fr

    def build_table(self, table, lf, tables):
        return self.base.build_table(table, lf, tables)

    def fit(self, model, X: np.ndarray, keys: np.ndarray | None = None):
        if self.model is None:
            return self.base.fit(model, X, keys)
        if self._scored is not None and self.features is not None and self._scored != self.features:
            raise InputError(
                "the stored model was fitted on features "
                f"{self.features}, this input gives {self._scored}; "
                "the input columns changed: scan afresh with a new --incremental directory"
            )
        # the fitted state replaces the fresh model's, parameters included
        model.__dict__.clear()
        model.__dict__.update(self.model.__dict__)
        return model

    def score_samples(self, model, X):
        return self.base.score_samples(model, X)

    def contributions(self, model, X):
        return self.base.contributions(model, X)


def _tail(fr, offset: int):
    """The part of a FeatureResult that belongs to rows ``_rid >= offset``, renumbered from 0."""
    rid = pl.col("_rid")

    def cut(df: pl.DataFrame | None) -> pl.DataFrame | None:
        if df is None:
            return None
        return df.filter(rid >= offset).with_columns(rid - offset)

    matrix = None if fr.matrix is None else fr.matrix[offset:]  # rows in _rid order
    return dataclasses.replace(fr, frame=cut(fr.frame), keys=cut(fr.keys), matrix=matrix)


# --------------------------------------------------------------------------- the run


def run_incremental(
    inputs,
    out: str | os.PathLike,
    state_dir: str | os.PathLike,
    columns: dict[str, str] | None = None,
    since=None,
    until=None,
    config=None,
    engine: str | Engine | None = None,
    partition_by: str = "month",
    spec: InputSpec | None = None,
):
    """Scan the partitions of ``inputs`` not seen in ``state_dir``; None when there are none.

    ``spec`` (:class:`detector.contract.InputSpec`) says how to read them
    (``columns``/``since``/``until`` are its older spelling). Returns the
    :class:`detector.scan.ScanResult` of the new reviews.
    """
    from detector.scan import ScanConfig, run_scan

    spec = as_spec(spec, columns, since, until)
    config = config or ScanConfig()
    owns = not isinstance(engine, Engine)
    engine = get_engine(engine)
    try:
        state = State.open(state_dir)
        files = resolve_inputs(inputs)
        new, _same, refreshed = classify(files, state)
        if not new:
            if refreshed:
                state.partitions.update(refreshed)
                _commit(state)
            return None
        run = state.runs + 1
        history = state.history()
        model = features = None
        threshold_note = None
        if state.has_model():
            model, features = state.load_model()
            if config.threshold is None and "threshold" in state.manifest:
                config = dataclasses.replace(config, threshold=state.manifest["threshold"])
                threshold_note = {
                    "value": state.manifest["threshold"],
                    "from_run": state.manifest.get("threshold_run", 1),
                    "method": state.manifest.get("threshold_method"),
                }
        inc = IncrementalEngine(engine, history, model, features)

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with staging_dir(out, ".staging-inc-") as work:
            t0 = time.perf_counter()
            result = run_scan(
                new,
                work / "scan",
                spec=spec,
                config=config,
                engine=inc,
                partition_by=partition_by,
            )
            result.summary["incremental"] = {
                "state_dir": str(Path(state_dir).resolve()),
                "run": run,
                "new_partitions": [str(p) for p in new],
                "seen_partitions": len(state.partitions),
                "history_reviews": 0 if history is None else history.height,
                "model": "reused" if model is not None else "fitted",
                "threshold": threshold_note or {"value": result.threshold, "method": "this run"},
                "duplicates_of_history": inc.n_duplicates,
            }
            _publish_run(work / "scan", out, run, result.summary)
            _update_state(
                state, result, new, refreshed, run, model is None, time.perf_counter() - t0
            )
        return result
    finally:
        if owns:
            engine.close()


def _publish_run(scan_dir: Path, out: Path, run: int, summary: dict) -> None:
    """Append this run's partition files to ``out`` and file its other outputs under runs/."""
    tag = f"{run:05d}"
    for name in PARTITIONED_OUTPUTS:
        for f in sorted((scan_dir / name).rglob("*.parquet")):
            f.rename(f.with_name(f"part-{tag}.parquet"))
    write_json(summary, scan_dir / "summary.json")
    run_dir = out / RUNS_DIR / tag
    staged_run = scan_dir / ".run"
    staged_run.mkdir()
    for f in scan_dir.iterdir():
        if f.is_file():
            shutil.copy2(f, staged_run / f.name)
    with deferred_interrupt():
        append_parts(scan_dir, out, PARTITIONED_OUTPUTS)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        os.replace(staged_run, run_dir)
        os.replace(scan_dir / "summary.json", out / "summary.json")


def _update_state(state: State, result, new, refreshed, run: int, fitted: bool, seconds: float):
    """Append the history, store the model (first run) and commit ``state.json`` last."""
    root = state.root
    (root / HISTORY_DIR).mkdir(parents=True, exist_ok=True)
    hist_name = f"part-{run:05d}.parquet"
    with atomic_path(root / HISTORY_DIR / hist_name) as tmp:
        compact_history(result.loaded.reviews).write_parquet(tmp, compression="zstd")
    m = state.manifest
    if fitted:
        save_model(
            root / MODEL_FILE,
            result.model,
            list(result.features.scored),
            result.summary.get("parameters", {}),
        )
        m["features"] = list(result.features.scored)
        m["threshold"] = result.threshold
        m["threshold_method"] = result.summary.get("threshold", {}).get("method")
        m["threshold_run"] = run
    state.partitions.update(refreshed)
    hashed = {str(Path(i["path"]).resolve()): i.get("sha256") for i in result.summary["inputs"]}
    for f in new:
        key = str(f.resolve())
        state.partitions[key] = {
            **_identity(f),
            "sha256": hashed.get(key) or file_sha256(f),
            "run": run,
        }
    m["history"] = [*[h for h in m.get("history", []) if h != hist_name], hist_name]
    m["runs"] = run
    m["engine_version"] = __version__
    m["history_columns"] = history_columns()
    m.setdefault("log", []).append(
        {
            "run": run,
            "new_partitions": len(new),
            "reviews": result.scores.height,
            "seconds": round(seconds, 3),
        }
    )
    _commit(state)


def _commit(state: State) -> None:
    state.root.mkdir(parents=True, exist_ok=True)
    write_json(state.manifest, state.root / STATE_FILE)
