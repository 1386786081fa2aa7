"""The default engine: one machine, Polars for tables, every core for the forest.

Tables and steps run as the feature modules wrote them (Polars, numpy kernels),
and the input is read in one pass of the contract loader (Polars runs it on
every core; loading file by file on threads was slower: 24 s against 17 s for
10M reviews in 13 files). What this engine adds is the scoring of large frames on all cores: measured
here, scikit-learn's tree traversal does not speed up on threads (two threads
each ran 3x slower than one alone), while two processes each keep full speed.
So rows are scored in chunks by a small pool of worker processes, each holding
a copy of the fitted model. Every row's score is computed by the same
``model.score_samples`` on the same values, so the result is identical to the
single-process one, bit for bit.

Workers come from a ``forkserver`` (never a fork of this multi-threaded
process), ignore Ctrl-C (the parent stops them) and exit with the engine, or
as soon as the scan process dies, however it dies: each worker watches the
read end of a pipe whose only write end the scan holds; the kernel closes it
when the scan exits (``kill -9``, the out-of-memory killer included, reaped or
not), and the worker sees end-of-file. ``os.kill(pid, 0)`` would not do: it
succeeds on a zombie, so a supervisor reading the scan's output before reaping
it would wait forever on pipes the workers still hold. The forkserver itself
exits on the same kind of pipe (the standard library's design).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import shutil
import signal
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection

import numpy as np

from detector.engines.base import Engine

#: Frames smaller than this are scored in-process: a pool costs about a second.
POOL_MIN_ROWS = 150_000
#: Rows per chunk sent to a worker.
CHUNK_ROWS = 100_000
#: Global tables are built side by side up to this many reviews. Much of a
#: table is single-threaded numpy, so two at once took 7.1 s against 9.2 s for
#: the tables of 1M reviews here; but the largest working sets (text clusters,
#: co-review and IP tables) reach 2-3 GB each at 10M reviews, and side by side
#: that scan peaked at 9.0 GB against 7.2 GB (163 s against 185 s).
SIDE_BY_SIDE_MAX_ROWS = 3_000_000

_MODEL: tuple[str, object] | None = None  # (path, model) cached in a worker


def _init_worker(alive: Connection | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if alive is not None:
        exit_with_parent(alive)


def exit_with_parent(alive: Connection) -> None:
    """End this process as soon as the process holding the write end of ``alive`` is gone.

    ``alive`` is the read end of a ``Pipe(duplex=False)`` whose write end only
    that process holds (never sent to a child); a daemon thread waits on it.
    """
    threading.Thread(target=_exit_with, args=(alive,), daemon=True).start()


def _exit_with(alive: Connection) -> None:
    """End this worker once the scan that started it is gone.

    ``alive`` is the read end of a pipe whose write end only the scan holds:
    nothing is ever sent, so the read returns only at end-of-file, when the
    scan has exited. A scan killed outright (by the kernel for memory, by
    ``kill -9``) cannot close its pool; its workers would otherwise live on,
    holding memory and the scan's output pipes.
    """
    try:
        alive.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(0)


def _model(path: str):
    global _MODEL
    if _MODEL is None or _MODEL[0] != path:
        with open(path, "rb") as fh:
            model = pickle.load(fh)
        if "n_jobs" in model.get_params():
            model.set_params(n_jobs=1)
        _MODEL = (path, model)
    return _MODEL[1]


def _chunk(path: str, method: str, X: np.ndarray):
    """``model.<method>(X)`` in a worker, the model loaded from ``path`` (cached)."""
    return getattr(_model(path), method)(X)


def ping_worker() -> int:
    return os.getpid()


class PolarsEngine(Engine):
    """Polars on one machine; forest scoring and explanations on a process pool.

    Parameters
    ----------
    workers : int, optional
        Scoring processes; all cores by default (1 disables the pool).
    pool_min_rows : int
        Smaller frames are scored in-process.
    side_by_side_max_rows : int
        Up to this many reviews, independent global tables are built side by
        side (one per scoring worker); above it, one at a time.
    """

    name = "polars"

    def __init__(
        self,
        progress=None,
        workers: int | None = None,
        pool_min_rows: int = POOL_MIN_ROWS,
        side_by_side_max_rows: int = SIDE_BY_SIDE_MAX_ROWS,
    ):
        super().__init__(progress)
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.side_by_side_max_rows = side_by_side_max_rows
        self.pool_min_rows = pool_min_rows
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._tmp: str | None = None
        self._models: dict[int, str] = {}
        #: The write end of the workers' liveness pipe: held here, never sent to a worker.
        self._alive: Connection | None = None

    def describe(self) -> dict:
        return {
            **super().describe(),
            "score_workers": self.workers,
            "tables_side_by_side_max_rows": self.side_by_side_max_rows,
        }

    def table_workers(self, n_rows: int) -> int:
        return self.workers if n_rows <= self.side_by_side_max_rows else 1

    # -- the pool --------------------------------------------------------------
    def warm(self, n_rows: int) -> None:
        """Start the scoring workers in the background when ``n_rows`` will need them.

        Starting the forkserver blocks for seconds (it imports scikit-learn);
        a thread does it while this process computes features.
        """
        if self._use_pool(n_rows) and self._pool is None and self._warming is None:
            self._warming = threading.Thread(
                target=lambda: self._get_pool().submit(ping_worker), daemon=True
            )
            self._warming.start()

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                ctx = mp.get_context("forkserver")
                ctx.set_forkserver_preload(["numpy", "sklearn.ensemble", "models.isolation"])
                # the read end goes to every worker (duplicated through the forkserver);
                # the write end stays in this process alone
                reader, self._alive = ctx.Pipe(duplex=False)
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=ctx,
                    initializer=_init_worker,
                    initargs=(reader,),
                )
            return self._pool

    def _model_path(self, model) -> str:
        """The model pickled once to a private file the workers load (and cache) by path."""
        key = id(model)
        if key not in self._models:
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="rd-engine-")
            path = os.path.join(self._tmp, f"model-{len(self._models)}.pkl")
            with open(path, "wb") as fh:
                pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._models[key] = path
        return self._models[key]

    def close(self) -> None:
        if self._warming is not None:
            # a pool still starting would otherwise outlive the engine
            self._warming.join()
            self._warming = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for p in list((getattr(pool, "_processes", None) or {}).values()):
                if p.is_alive():
                    p.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        if self._alive is not None:
            self._alive.close()
            self._alive = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp, self._models = None, {}

    def _use_pool(self, n: int) -> bool:
        return self.workers > 1 and n >= self.pool_min_rows

    def _chunks(self, n: int) -> list[slice]:
        # at least two chunks per worker so a slow chunk does not leave a core idle
        size = max(1, min(CHUNK_ROWS, -(-n // (2 * self.workers))))
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    def _run(self, method: str, model, X: np.ndarray, st) -> list:
        path = self._model_path(model)
        slices = self._chunks(X.shape[0])
        futures = [self._get_pool().submit(_chunk, path, method, X[sl]) for sl in slices]
        parts = []
        try:
            for sl, fut in zip(slices, futures, strict=True):
                parts.append(fut.result())
                if st is not None:
                    st.advance(sl.stop - sl.start)
        except BaseException:
            for fut in futures:
                fut.cancel()
            self.close()
            raise
        return parts

    # -- stages ----------------------------------------------------------------
    def score_samples(self, model, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if not self._use_pool(n):
            return super().score_samples(model, X)
        if not hasattr(model, "raw_transformed"):
            with self.progress.stage("score", total=n) as st:
                return np.concatenate(self._run("score_samples", model, X, st))

        def raw_map(Z: np.ndarray) -> np.ndarray:
            # the model transforms and de-duplicates rows here; workers only walk trees
            if not self._use_pool(Z.shape[0]):
                return model.raw_transformed(Z)
            return np.concatenate(self._run("raw_transformed", model, Z, None))

        with self.progress.stage("score", total=n) as st:
            out = model.score_samples(X, raw_map=raw_map)
            st.advance(n)
        return out

    def contributions(self, model, X: np.ndarray) -> tuple[float, np.ndarray]:
        n = X.shape[0]
        # an explanation costs about one forest pass per active feature: a pool pays sooner
        if not self._use_pool(n * 8):
            return super().contributions(model, X)
        with self.progress.stage("explain", total=n) as st:
            parts = self._run("contributions", model, X, st)
        return parts[0][0], np.concatenate([c for _, c in parts])
