"""Stopping a run cleanly: Ctrl-C (SIGINT) and SIGTERM end it the same way.

Batch schedulers (cron timeouts, Kubernetes, Slurm) stop a job with SIGTERM,
which by default kills Python without running any ``finally``: the staging
directory of an out-of-core scan (its whole input, staged) would stay on disk.
While :func:`stop_on_signals` is active SIGTERM raises
:class:`Terminated`, a ``KeyboardInterrupt``, so every cleanup that runs on
Ctrl-C runs on it too; :func:`stop_signal` tells the CLI which signal an
exception comes from. :func:`deferred_interrupt` holds both signals back
around the renames that publish an output.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: The signals that stop a run (held back together by :func:`deferred_interrupt`).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM while :func:`stop_on_signals` is active."""


#: Stop signals received while :func:`stop_on_signals` is active.
_received: list[int] = []


def _raise_terminated(signum, frame):
    _received.append(signum)
    raise Terminated


def _raise_interrupt(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` and SIGINT
    ``KeyboardInterrupt``, and both are recorded for :func:`stop_signal` (main
    thread only)."""
    if not _main_thread():
        yield
        return
    _received.clear()
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, _raise_interrupt),
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop_signal(exc: BaseException) -> int | None:
    """The stop signal ``exc`` comes from, or None when it is another error.

    A signal that lands while Polars runs a Python callback (it builds dtype
    objects while planning a query) makes the callback raise inside Rust, which
    Polars turns into a ``PanicException``: that is still the stop, when one
    was received.
    """
    if isinstance(exc, Terminated):
        return signal.SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if type(exc).__name__ == "PanicException" and _received:
        return _received[-1]
    return None


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM inside the block and act on them right after.

    Used around the few renames that publish an output, so a stop never lands
    between two of them. Outside the main thread it does nothing.
    """
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def hold(signum, frame):
        caught.append(signum)

    for s in STOP_SIGNALS:
        signal.signal(s, hold)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            if caught[0] == signal.SIGINT:
                raise KeyboardInterrupt
            # as the handler in place before the block would have acted on it
            signal.raise_signal(caught[0])
