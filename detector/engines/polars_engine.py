"""The default engine: one machine, Polars for tables, every core for the forest.

Tables and steps run as the feature modules wrote them (Polars, numpy kernels).
What this engine adds is the scoring of large frames on all cores: measured
here, scikit-learn's tree traversal does not speed up on threads (two threads
each ran 3x slower than one alone), while two processes each keep full speed.
So rows are scored in chunks by a small pool of worker processes, each holding
a copy of the fitted model. Every row's score is computed by the same
``model.score_samples`` on the same values, so the result is identical to the
single-process one, bit for bit.

Workers come from a ``forkserver`` (never a fork of this multi-threaded
process), ignore Ctrl-C (the parent stops them) and exit with the engine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from detector.engines.base import Engine

#: Frames smaller than this are scored in-process: a pool costs about a second.
POOL_MIN_ROWS = 150_000
#: Rows per chunk sent to a worker.
CHUNK_ROWS = 100_000

_MODEL = None


def _init_worker(model_bytes: bytes) -> None:
    global _MODEL
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _MODEL = pickle.loads(model_bytes)
    if "n_jobs" in _MODEL.get_params():
        _MODEL.set_params(n_jobs=1)


def _score_chunk(X: np.ndarray) -> np.ndarray:
    return _MODEL.score_samples(X)


def _contrib_chunk(X: np.ndarray) -> tuple[float, np.ndarray]:
    return _MODEL.contributions(X)


def _ping() -> int:
    return os.getpid()


class PolarsEngine(Engine):
    """Polars on one machine; forest scoring and explanations on a process pool.

    Parameters
    ----------
    workers : int, optional
        Scoring processes; all cores by default (1 disables the pool).
    pool_min_rows : int
        Smaller frames are scored in-process.
    """

    name = "polars"

    def __init__(self, progress=None, workers: int | None = None, pool_min_rows: int = POOL_MIN_ROWS):
        super().__init__(progress)
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.pool_min_rows = pool_min_rows
        self._pool: ProcessPoolExecutor | None = None
        self._pool_model: int | None = None

    def describe(self) -> dict:
        return {**super().describe(), "score_workers": self.workers}

    def close(self) -> None:
        self._stop_pool()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            pool, self._pool, self._pool_model = self._pool, None, None
            for p in list(getattr(pool, "_processes", {}).values()):
                if p.is_alive():
                    p.terminate()
            pool.shutdown(wait=True, cancel_futures=True)

    def _pool_for(self, model) -> ProcessPoolExecutor:
        if self._pool is not None and self._pool_model == id(model):
            return self._pool
        self._stop_pool()
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["models.isolation", "numpy", "sklearn.ensemble"])
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL),),
        )
        self._pool_model = id(model)
        return self._pool

    def _use_pool(self, n: int) -> bool:
        return self.workers > 1 and n >= self.pool_min_rows

    def _chunks(self, n: int) -> list[slice]:
        # at least two chunks per worker so a slow chunk does not leave a core idle
        size = max(1, min(CHUNK_ROWS, -(-n // (2 * self.workers))))
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    def score_samples(self, model, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if not self._use_pool(n):
            return super().score_samples(model, X)
        with self.progress.stage("score", total=n) as st:
            pool = self._pool_for(model)
            try:
                parts = []
                slices = self._chunks(n)
                for sl, part in zip(
                    slices, pool.map(_score_chunk, (X[sl] for sl in slices)), strict=True
                ):
                    parts.append(part)
                    st.advance(sl.stop - sl.start)
            except BaseException:
                self._stop_pool()
                raise
        return np.concatenate(parts) if parts else np.zeros(0)

    def contributions(self, model, X: np.ndarray) -> tuple[float, np.ndarray]:
        n = X.shape[0]
        # explanations cost about one forest pass per active feature: worth a pool sooner
        if not self._use_pool(n * 4):
            return super().contributions(model, X)
        with self.progress.stage("explain", total=n) as st:
            pool = self._pool_for(model)
            try:
                base, parts = 0.0, []
                slices = self._chunks(n)
                for sl, (b, c) in zip(
                    slices, pool.map(_contrib_chunk, (X[sl] for sl in slices)), strict=True
                ):
                    base = b
                    parts.append(c)
                    st.advance(sl.stop - sl.start)
            except BaseException:
                self._stop_pool()
                raise
        return base, np.concatenate(parts) if parts else np.zeros((0, X.shape[1]))
