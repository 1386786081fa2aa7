"""The engine adapter: *how* a scan's heavy stages run, never *what* they compute.

A scan is load -> prepare -> global tables -> feature steps -> fit -> score ->
explain -> cases -> write. The feature logic (tables and steps of
:mod:`features.registry`) and the model (:mod:`models.isolation`) are shared by
every engine; an :class:`Engine` only decides where and how they run:

``load(inputs, spec)``
    Read and validate the input into a :class:`detector.input.load.LoadedInput`.
``warm(n_rows)``
    Get ready to score (start workers); a no-op unless the engine has workers.
``compute_features(reviews, families)``
    Run :func:`features.pipeline.compute_features` with this engine's
    ``build_table`` hook.
``build_table(table, lf, tables)``
    Build one global table (IP/subnet aggregates, bursts, text clusters,
    co-review pairs ...) from the prepared frame.
``score_samples(model, X)`` / ``contributions(model, X)``
    Score and explain rows; both are per row, so chunking never changes a value.

Capabilities are attributes: ``supports_out_of_core``. Engines must give the same values as :class:`Engine` itself (the reference)
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
    #: Whether a scan on this engine may stream out of core (:mod:`detector.scan.outofcore`):
    #: its stages run in this process, shard by shard. An engine that distributes a large
    #: scan itself (Ray) says False.
    supports_out_of_core = True

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

    def warm(self, n_rows: int) -> None:
        """Get ready to score ``n_rows`` reviews (start workers) while features are computed."""

    def describe(self) -> dict:
        """What ``summary.json`` records about the engine."""
        out: dict = {"name": self.name}
        if self.fallbacks:
            out["fallbacks"] = dict(self.fallbacks)
        return out

    # -- stages ----------------------------------------------------------------
    def load(self, inputs, spec=None, first_reviews=None):
        """Read and validate the input (:func:`detector.input.load.load_reviews`) as
        ``spec`` (:class:`detector.input.spec.InputSpec`) says; ``first_reviews``
        (:func:`detector.input.plan.first_reviews`) adds the first reviews of orders
        the input shares with reviews read before (an incremental scan's history)."""
        from detector.input.load import load_reviews

        with self.progress.stage("load") as st:
            loaded = load_reviews(inputs, spec=spec, first_reviews=first_reviews)
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
