"""The engine adapter: *how* a scan's heavy stages run, never *what* they compute.

A scan is load -> prepare -> global tables -> feature steps -> fit -> score ->
explain -> cases -> write. The feature logic (tables and steps of
:mod:`features.registry`) and the model (:mod:`models.isolation`) are shared by
every engine; an :class:`Engine` only decides where and how they run:

``load(inputs, columns, since, until)``
    Read and validate the input into a :class:`detector.input.load.LoadedInput`.
``compute_features(reviews, families)``
    Run :func:`features.pipeline.compute_features` with this engine's
    ``build_table`` hook.
``build_table(table, lf, tables)``
    Build one global table (IP/subnet aggregates, bursts, text clusters,
    co-review pairs ...) from the prepared frame.
``fit(model, X)``
    Fit the forest (once, on a sample; the fitted model is then shared).
``score_samples(model, X)`` / ``contributions(model, X)``
    Score and explain rows; both are per row, so chunking never changes a value.

Engines must give the same values as :class:`Engine` itself (the reference)
within 1e-9; ``tests/test_engines.py`` checks it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import polars as pl

from detector.progress import ScanProgress, null_progress
from features.registry import Table


class Engine:
    """Reference engine: everything in this process, Polars and numpy.

    Parameters
    ----------
    progress : ScanProgress, optional
        Where stages report rows and rate; silent by default.
    """

    name = "reference"

    def __init__(self, progress: ScanProgress | None = None):
        self.progress = progress or null_progress()
        #: Tables built by a fallback instead of this engine's own plan (name -> how).
        self.fallbacks: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release workers and clusters; safe to call twice."""

    def describe(self) -> dict:
        """What ``summary.json`` records about the engine."""
        out: dict = {"name": self.name}
        if self.fallbacks:
            out["fallbacks"] = dict(self.fallbacks)
        return out

    # -- stages ----------------------------------------------------------------
    def load(self, inputs, spec=None):
        """Read and validate the input (:func:`detector.input.load.load_reviews`) as
        ``spec`` (:class:`detector.input.spec.InputSpec`) says."""
        from detector.input.load import load_reviews

        with self.progress.stage("load") as st:
            loaded = load_reviews(inputs, spec=spec)
            st.advance(loaded.n_input)
        self.progress.rows = loaded.reviews.height
        return loaded

    def _load_with(self, run_all, inputs, spec=None):
        """Load file by file with ``run_all(files) -> [load_file(...) per file]``.

        Each file goes through the contract loader on its own (bounded memory,
        parallel); the results are concatenated in file order. When a review id
        appears in two files, or a file fails on its own, the reference loader
        runs over all files instead: it alone applies the first-copy rule across
        files and words the errors.
        """
        from detector.input.files import resolve_inputs
        from detector.input.load import load_reviews
        from detector.input.spec import as_spec

        spec = as_spec(spec)
        with self.progress.stage("load") as st:
            files = prune_files(resolve_inputs(inputs), spec.since, spec.until)
            loaded = None
            if len(files) > 1:
                try:
                    loaded = combine_loads(files, run_all(files))
                except Exception:  # noqa: BLE001 - the reference loader decides below
                    loaded = None
            if loaded is None:
                if len(files) > 1:
                    self.fallbacks["load"] = (
                        "one pass (ids repeated across files, or a file failed)"
                    )
                loaded = load_reviews(inputs, spec=spec)
            st.advance(loaded.n_input)
        self.progress.rows = loaded.reviews.height
        return loaded

    def compute_features(
        self, reviews: pl.DataFrame | pl.LazyFrame, families: Iterable[str] | None = None
    ):
        """Every available feature of ``reviews``; tables go through :meth:`build_table`."""
        from features.pipeline import compute_features

        def build(table: Table, lf: pl.LazyFrame, tables: dict[str, pl.DataFrame]):
            with self.progress.stage(f"  table {table.name}"):
                t0 = time.perf_counter()
                out = self.build_table(table, lf, tables)
                self.timings[f"table:{table.name}"] = time.perf_counter() - t0
                return out

        with self.progress.stage("features"):
            return compute_features(
                reviews,
                families=families,
                build_table=build,
                table_workers=self.table_workers,
            )

    def table_workers(self, n_rows: int) -> int:
        """Global tables built at once for ``n_rows`` reviews (see :func:`features.pipeline.compute_features`)."""
        return 1

    def build_table(
        self, table: Table, lf: pl.LazyFrame, tables: dict[str, pl.DataFrame]
    ) -> pl.DataFrame:
        """Build one global table; the reference runs the table's own function."""
        return table.build(lf, tables)

    def fit(self, model, X: np.ndarray, keys: np.ndarray | None = None):
        """Fit ``model`` on ``X`` (the model samples what it needs, keyed on the rows' ``keys``)."""
        with self.progress.stage("fit", total=X.shape[0]) as st:
            model.fit(X, keys=keys)
            st.advance(X.shape[0])
        return model

    def score_samples(self, model, X: np.ndarray) -> np.ndarray:
        """Calibrated suspicion per row of ``X``."""
        with self.progress.stage("score", total=X.shape[0]) as st:
            out = model.score_samples(X)
            st.advance(X.shape[0])
        return out

    def contributions(self, model, X: np.ndarray) -> tuple[float, np.ndarray]:
        """Per-feature contributions of each row of ``X`` (for reasons)."""
        with self.progress.stage("explain", total=X.shape[0]) as st:
            out = model.contributions(X)
            st.advance(X.shape[0])
        return out


def prune_files(files, since=None, until=None) -> list:
    """``files`` less those in date partitions outside ``[since, until)`` (as the loader prunes)."""
    try:
        from detector.input import files as input_files
        from detector.input import windows

        lo, hi = windows.to_utc(since, "since"), windows.to_utc(until, "until")
        return [
            f for f in files if windows.partition_in_window(input_files.hive_partitions(f), lo, hi)
        ]
    except Exception:  # noqa: BLE001 - the loader words the error itself
        return list(files)


def load_file(path, spec=None):
    """``(valid, rejected, n_input, present_optional, claims)`` of one file; None when no row is
    in the window (``claims`` as :attr:`detector.input.load.LoadedInput.claims`); ``spec`` is
    a :class:`detector.input.spec.InputSpec`."""
    from detector.input.load import load_reviews
    from detector.input.rejects import NoRowsError
    from detector.input.spec import as_spec

    spec = as_spec(spec)
    try:
        loaded = load_reviews(path, spec=spec)
    except NoRowsError:
        if spec.since is not None or spec.until is not None:
            return None
        raise
    return loaded.reviews, loaded.rejected, loaded.n_input, loaded.present_optional, loaded.claims


def combine_loads(files, parts):
    """Per-file loads as one ``LoadedInput``; None when a review id appears in two files."""
    from detector.input.load import LoadedInput
    from detector.input.schema import CONTRACT, OPTIONAL

    kept = [(f, p) for f, p in zip(files, parts, strict=True) if p is not None]
    if not kept:
        return None
    valid = [p[0] for _, p in kept]
    rejected = [p[1] for _, p in kept]
    per_file = [
        pl.concat([v.select("review_id"), r.select("review_id")]).drop_nulls().unique()
        for v, r in zip(valid, rejected, strict=True)
    ]
    if len(per_file) > 1 and pl.concat(per_file)["review_id"].is_duplicated().any():
        return None
    reviews = pl.concat(valid, how="diagonal_relaxed")
    if reviews.height == 0:
        return None
    order = [c for c in CONTRACT if c in reviews.columns]
    reviews = reviews.select(order + [c for c in reviews.columns if c not in order])
    rejected_all = concat_rejected(rejected)
    present = {c for p in parts if p is not None for c in p[3]}
    return LoadedInput(
        reviews=reviews,
        rejected=rejected_all,
        files=list(files),
        n_input=sum(p[2] for _, p in kept),
        present_optional=[c for c in OPTIONAL if c in present],
    )


def concat_rejected(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Rejected rows of several files as one frame, ``reason`` last (empty: ``review_id``, ``reason``)."""
    parts = [r for r in parts if r.height]
    if not parts:
        return pl.DataFrame(schema={"review_id": pl.String, "reason": pl.String})
    out = pl.concat(parts, how="diagonal_relaxed")
    return out.select(pl.exclude("reason"), pl.col("reason")) if "reason" in out.columns else out


def get_engine(
    name: str | Engine | None = "polars",
    address: str | None = None,
    progress: ScanProgress | None = None,
    **options,
) -> Engine:
    """An engine by name: ``"polars"`` (default, one machine) or ``"ray"``.

    ``address`` is the Ray cluster (``"auto"``, ``"ray://head:10001"``); without it
    Ray starts in local mode on this machine.
    """
    if isinstance(name, Engine):
        return name
    name = (name or "polars").lower()
    if name == "polars":
        from detector.engines.polars_engine import PolarsEngine

        if address:
            raise ValueError("--address only applies to --engine ray")
        return PolarsEngine(progress=progress, **options)
    if name == "ray":
        from detector.engines.ray_engine import RayEngine

        return RayEngine(address=address, progress=progress, **options)
    if name == "reference":
        return Engine(progress=progress)
    raise ValueError(f"unknown engine {name!r}; choose 'polars' or 'ray'")
