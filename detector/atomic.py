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
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in on success.

    Used for outputs made of many files (partitioned Parquet, packets): the
    whole directory appears at once or not at all.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
