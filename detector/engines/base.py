"""The engine adapter: *how* a scan's heavy stages run, never *what* they compute.

A scan is load -> prepare -> global tables -> feature steps -> fit -> score ->
explain -> cases -> write (:mod:`detector.scan`). The loader, the feature logic (tables and steps of
:mod:`features.registry`) and the model (:mod:`models.isolation`) are shared by
every engine; an :class:`Engine` only decides where and how they run:

``warm(n_rows)``
    Get ready to score (start workers); a no-op unless the engine has workers.
``building(tables)``
    Around the global tables of one feature run (:mod:`detector.scan.feature_step`).
``build_table(table, lf, tables)``
    Build one global table (IP/subnet aggregates, bursts, text clusters,
    co-review pairs ...) from the prepared frame.
``score_samples(model, X)`` / ``contributions(model, X)``
    Score and explain rows; both are per row, so chunking never changes a value.

Capabilities are attributes: ``supports_out_of_core``, ``joins_cluster``. Engines must
give the same values as :class:`Engine` itself (the reference) within 1e-9
(``tests/test_engines.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    #: Whether the engine runs on a cluster it joins by ``address`` (``--address``).
    joins_cluster = False

    def __init__(self, progress: ScanProgress | None = None):
        self.progress = progress or null_progress()
        #: Tables built by a fallback instead of this engine's own plan (name -> how).
        self.fallbacks: dict[str, str] = {}

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
    @contextlib.contextmanager
    def building(self, tables: list[Table]) -> Iterator[None]:
        """While the global ``tables`` planned for one feature run are built (in that order);
        an engine may build several in one pass. A no-op here."""
        yield

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
