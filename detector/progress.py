"""Progress display of a scan: stages, rows done and rate, on stderr.

A :class:`ScanProgress` is handed to the engine and to :func:`detector.scan.run_scan`;
every stage (load, each feature table, score, explain, cases, write) is one line
with its rows and rate. It shows nothing with ``--quiet``, when stderr is not a
terminal, or under CI (``CI`` set), so scripts and logs stay clean::

    with ScanProgress.create(quiet=args.quiet) as progress:
        with progress.stage("score", total=n_rows) as st:
            for chunk in chunks:
                ...
                st.advance(len(chunk))
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Stage:
    """One running stage; :meth:`advance` moves its row count."""

    name: str
    total: int | None = None
    done: int = 0
    unit: str = "rows"
    started: float = field(default_factory=time.perf_counter)
    _progress: ScanProgress | None = None
    _task: object = None

    def advance(self, rows: int) -> None:
        self.done += int(rows)
        if self._progress is not None:
            self._progress._update(self)

    def set_total(self, total: int | None) -> None:
        self.total = None if total is None else int(total)
        if self._progress is not None:
            self._progress._update(self)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


class ScanProgress:
    """Stages of a scan shown with rich (or not at all when disabled).

    Parameters
    ----------
    enabled : bool
        Draw the display. :meth:`create` decides from ``quiet`` and the terminal.
    console : rich.console.Console, optional
        Where to draw; stderr by default.
    """

    def __init__(self, enabled: bool = False, console=None):
        self.enabled = enabled
        self.rows: int | None = None  # rows of the scan, once known
        self.stages: list[Stage] = []
        self._muted = 0
        self._rich = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._rich = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                # stage names may quote files or shops: shown as text, never as markup
                TextColumn("{task.description:<28}", markup=False),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[rows]}", markup=False),
                TextColumn("[cyan]{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=console or Console(stderr=True),
                transient=False,
            )

    @classmethod
    def create(cls, quiet: bool = False, console=None) -> ScanProgress:
        """A display when stderr is an interactive terminal and not ``quiet`` nor CI."""
        interactive = sys.stderr.isatty() and not os.environ.get("CI")
        return cls(enabled=not quiet and interactive, console=console)

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> ScanProgress:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()

    # -- stages ----------------------------------------------------------------
    @contextlib.contextmanager
    def muted(self) -> Iterator[None]:
        """Stages opened inside the block are neither shown nor recorded: the
        caller's own stage covers them (one "score" line for all the shards of an
        out-of-core scan, not one per shard)."""
        self._muted += 1
        try:
            yield
        finally:
            self._muted -= 1

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "rows") -> Iterator[Stage]:
        """A stage from start to end, counted in ``unit``; a stage counting rows shows
        the scan's rows when it ends without having counted any."""
        if self._muted:
            yield Stage(name, total, unit=unit)
            return
        st = Stage(name, total, unit=unit, _progress=self)
        self.stages.append(st)
        if self._rich is not None:
            st._task = self._rich.add_task(name, total=total, rows="", rate="")
        try:
            yield st
        finally:
            if st.done == 0 and (st.total or (self.rows and unit == "rows")):
                st.done = st.total or self.rows or 0
            if st.total is None:
                st.total = st.done
            self._update(st, final=True)

    def _update(self, st: Stage, final: bool = False) -> None:
        if self._rich is None or st._task is None:
            return
        secs = max(st.seconds, 1e-9)
        rows = f"{st.done:,} {st.unit}" if st.done else ""
        rate = f"{st.done / secs:,.0f} {st.unit}/s" if st.done and (final or secs > 0.2) else ""
        kw = {"rows": rows, "rate": rate}
        if final:
            self._rich.update(
                st._task, total=max(st.total or 1, 1), completed=max(st.total or 1, 1), **kw
            )
        else:
            self._rich.update(st._task, total=st.total, completed=st.done, **kw)


#: A display that shows nothing (the default of every API entry point).
def null_progress() -> ScanProgress:
    return ScanProgress(enabled=False)
