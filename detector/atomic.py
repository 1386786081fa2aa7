"""Atomic output: write to a temporary sibling, then rename into place.

A reader never sees a half-written file, and a run that fails part-way leaves
the previous output (or nothing) rather than a truncated one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file is removed when the block raises, so a failure leaves
    nothing behind.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file 0600; the output gets the mode a plain open() would give it
    tmp.chmod(0o666 & ~current_umask())
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's file-mode creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The lock file an owning run holds in its staging directory.
OWNER_LOCK = ".owner.lock"


@contextlib.contextmanager
def staging_dir(parent: str | os.PathLike[str], prefix: str = ".staging-") -> Iterator[Path]:
    """Yield a fresh work directory ``parent/<prefix>*``, removed when the block ends.

    The run holds an exclusive lock on a file inside it for as long as it runs;
    the kernel drops the lock when the process dies, however it dies. Staging
    directories of earlier runs in ``parent`` whose lock is free (their run was
    killed: ``kill -9``, the out-of-memory killer, a lost node) are removed
    first: an out-of-core scan stages its whole input there, which would
    otherwise stay on disk. A directory another live run holds is left alone.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent, prefix)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    lock = _hold_lock(path / OWNER_LOCK)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def remove_stale_staging(parent: Path, prefix: str = ".staging-") -> list[Path]:
    """Remove the staging directories in ``parent`` left by runs that died; return them."""
    removed = []
    for path in sorted(parent.glob(f"{prefix}*")):
        if not path.is_dir() or not (path / OWNER_LOCK).exists():
            continue  # not ours, or a run that has not taken its lock yet
        fd = try_lock(path / OWNER_LOCK)
        if fd is None:
            continue  # a live run holds it
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _hold_lock(path: Path) -> int | None:
    """Lock a new file and only then give it the name ``path``: whoever sees the name
    sees it locked (a cleaner never takes a directory that is still being set up)."""
    fresh = path.with_name(path.name + ".new")
    fd = try_lock(fresh, create=True)
    if fd is None:
        if fcntl is not None:
            raise RuntimeError(f"cannot lock the new staging file {fresh}")
        return None
    os.replace(fresh, path)
    return fd


def try_lock(path: Path, create: bool = False) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None when it is held."""
    if fcntl is None:  # no flock (Windows): staging of killed runs is not cleaned up
        return None
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def write_parquet(df: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to ``path`` atomically (zstd-compressed Parquet)."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd")
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
