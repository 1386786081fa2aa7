"""Background scans: a queue runs :func:`detector.scan.run_scan` per upload, each in a process.

The scan is the same pipeline the command line runs; a :class:`StatusProgress`
records its stages into the scan's ``status.json`` so any page (or a browser
that comes back later) reads where it is. One scan at a time by default: the
scan already uses every core, and a second upload waits in the queue rather
than halving both.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from detector.errors import InputError
from detector.progress import ScanProgress, Stage
from detector.webapp.store import ScanStore, UnknownScan, _now

log = logging.getLogger("detector.webapp")

#: Share of a whole in-core scan each top-level stage takes (measured on 5,000
#: generated reviews: features and the forest's fit take most of it).
STAGE_WEIGHTS = {
    "load": 0.10,
    "features": 0.40,
    "fit": 0.20,
    "score": 0.08,
    "explain": 0.10,
    "cases": 0.07,
    "write": 0.05,
}
#: Feature tables a full scan builds (the ``table ...`` stages inside "features").
N_TABLES = 11
#: Least seconds between two progress writes within a stage.
WRITE_EVERY_S = 0.25


class StatusProgress(ScanProgress):
    """A scan progress that writes stages and an overall fraction to a status file.

    Parameters
    ----------
    store : ScanStore
    scan_id : str
    """

    def __init__(self, store: ScanStore, scan_id: str):
        super().__init__(enabled=False)
        self.store, self.scan_id = store, scan_id
        self._done: list[str] = []
        self._current: Stage | None = None
        self._tables = 0
        self._written = 0.0

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "rows") -> Iterator[Stage]:
        nested = name.strip().startswith("table ")
        with super().stage(name, total, unit) as st:
            if not nested:
                self._current = st
            self._write(force=True)
            yield st
        if nested:
            self._tables += 1
        else:
            self._done.append(name)
            self._current = None
        self._write(force=True)

    def _update(self, st: Stage, final: bool = False) -> None:
        self._write(force=final)

    def fraction(self) -> float:
        """Share of the scan done, from the stages finished and the one running."""
        done = sum(STAGE_WEIGHTS.get(n, 0.0) for n in self._done)
        st = self._current
        if st is not None:
            w = STAGE_WEIGHTS.get(st.name, 0.0)
            if st.name == "features":
                part = min(self._tables / N_TABLES, 0.95)
            elif st.total:
                part = min(st.done / st.total, 1.0)
            else:
                part = 0.0
            done += w * part
        return round(min(done, 0.99), 3)

    def snapshot(self) -> dict:
        st = self._current
        return {
            "fraction": self.fraction(),
            "stage": None if st is None else st.name,
            "stages": list(self._done),
            "rows": self.rows,
        }

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < WRITE_EVERY_S:
            return
        self._written = now
        with contextlib.suppress(UnknownScan, OSError):
            self.store.update(self.scan_id, progress=self.snapshot())


def scan_arguments(options: dict, orders=()) -> dict:
    """Keyword arguments of :func:`detector.scan.run_scan` (and of
    :func:`detector.input.load.scan_reviews`) from a scan's form options and its
    stored order exports: one :class:`detector.input.spec.InputSpec`, whose checks
    (unknown preset or zone, empty shop) raise the scan's own :class:`InputError`."""
    from detector.input.headers import parse_column_map
    from detector.input.spec import InputSpec

    spec = InputSpec(
        columns=parse_column_map(options.get("columns") or None) or None,
        preset=options.get("preset"),
        shop=options.get("shop"),
        timezone=options.get("timezone"),
        orders=tuple(str(p) for p in orders),
    )
    return {"spec": spec}


class Runner:
    """Runs queued scans one at a time, each in its own process.

    A process, not a thread: stopping the server (Ctrl-C) ends a running scan
    at once instead of waiting for it (its status stays "running" and the scan
    runs again at the next start, see :meth:`resume`), and a scan killed by
    the out-of-memory killer fails alone, with its exit code on the page.
    """

    def __init__(self, store: ScanStore, workers: int = 1):
        self.store = store
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.running: dict[str, multiprocessing.process.BaseProcess] = {}
        self._stopping = False
        self._ctx = multiprocessing.get_context("spawn")  # never fork a threaded server
        self._threads = [
            threading.Thread(target=self._loop, name=f"scan-queue-{i}", daemon=True)
            for i in range(workers)
        ]
        for th in self._threads:
            th.start()

    def submit(self, scan_id: str) -> None:
        self.queue.put(scan_id)

    def resume(self) -> list[str]:
        """Queue again the scans a stopped server left queued or running."""
        again = []
        for status in self.store.list():
            if status.get("state") in ("queued", "running"):
                self.store.update(status["id"], state="queued", progress={"fraction": 0.0})
                self.submit(status["id"])
                again.append(status["id"])
        return again

    def shutdown(self) -> None:
        """Stop the queue and end running scans (they run again at the next start)."""
        self._stopping = True
        for _ in self._threads:
            self.queue.put(None)
        for proc in list(self.running.values()):
            proc.terminate()  # SIGTERM: the scan removes its staging and stops
        for proc in list(self.running.values()):
            proc.join(30)
            if proc.is_alive():
                proc.kill()

    def _loop(self) -> None:
        while (scan_id := self.queue.get()) is not None:
            if self._stopping:
                return
            try:
                self._run(scan_id)
            except Exception:  # the queue must outlive any one scan
                log.error("scan %s could not run:\n%s", scan_id, traceback.format_exc())

    def _run(self, scan_id: str) -> None:
        proc = self._ctx.Process(
            target=run_scan_job, args=(str(self.store.root), scan_id), name=f"scan-{scan_id}"
        )
        proc.start()
        self.running[scan_id] = proc
        try:
            proc.join()
        finally:
            self.running.pop(scan_id, None)
        if self._stopping:
            return
        try:
            state = self.store.status(scan_id)["state"]
        except UnknownScan:
            return
        if state not in ("done", "failed"):
            self.store.fail(
                scan_id,
                f"the scan's process ended without a result (exit code {proc.exitcode}); "
                "a scan larger than this computer's memory is the usual cause",
            )


def run_scan_job(root: str, scan_id: str) -> None:
    """Run one queued scan (the body of a scan process); its outcome goes to its status."""
    from detector.interrupts import stop_on_signals
    from detector.scan import run_scan

    store = ScanStore(root)
    try:
        status = store.update(scan_id, state="running", started_at=_now(), error=None)
    except UnknownScan:
        return
    path = store.dir(scan_id)
    progress = StatusProgress(store, scan_id)
    try:
        with stop_on_signals():  # SIGTERM from a stopping server cleans up as Ctrl-C does
            result = run_scan(
                [str(Path(p)) for p in status["inputs"]],
                path / "scan",
                progress=progress,
                keep_reviews=False,
                **scan_arguments(status["options"], status.get("orders") or ()),
            )
    except InputError as exc:
        store.fail(scan_id, str(exc))
        return
    except Exception as exc:  # a bug, not the merchant's file: keep the trace in the log
        log.error("scan %s failed:\n%s", scan_id, traceback.format_exc())
        store.fail(scan_id, f"the scan failed ({type(exc).__name__}: {exc})")
        return
    rows = result.summary["rows"]
    store.update(
        scan_id,
        state="done",
        finished_at=_now(),
        progress={"fraction": 1.0, "stage": None, "stages": progress.snapshot()["stages"]},
        rows={k: rows[k] for k in ("input", "scored", "rejected", "flagged")},
        cases=int((result.summary.get("cases") or {}).get("linked", 0)),
    )
