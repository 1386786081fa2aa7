"""Partitioned scan output and the atomic publish of a staged output directory.

``scan --partition-by month`` writes ``scores`` and ``features`` as hive
partitions, one directory per month of ``created_at`` (UTC)::

    out/scores/month=2025-01/part-0.parquet
    out/features/month=2025-01/part-0.parquet

so a reader can ``pl.scan_parquet("out/scores/**/*.parquet", hive_partitioning=True)``
or pick a month by path. Everything is first written into ``out/.staging-*``;
:func:`publish` then moves it into place while Ctrl-C and SIGTERM are held back, so ``out``
never holds a mix of two runs and no staging directory is left behind.

Incremental scans (:mod:`detector.incremental`) *append*: each run adds its own
``part-<run>.parquet`` to the month directories it touches.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from detector.interrupts import deferred_interrupt

#: Accepted values of ``--partition-by``.
PARTITION_KINDS = ("month",)
#: Outputs written as partition directories.
PARTITIONED_OUTPUTS = ("scores", "features")
_FORMATS = {"month": "%Y-%m"}


def partition_column(kind: str) -> str:
    if kind not in PARTITION_KINDS:
        raise ValueError(f"unknown --partition-by {kind!r}; choose from {list(PARTITION_KINDS)}")
    return kind


def partition_values(t_seconds: pl.Expr, kind: str) -> pl.Expr:
    """The partition value (``"2025-01"``) of epoch seconds."""
    fmt = _FORMATS[partition_column(kind)]
    return pl.from_epoch(t_seconds, time_unit="s").dt.replace_time_zone("UTC").dt.strftime(fmt)


def write_partitioned(
    df: pl.DataFrame, root: Path, column: str, file_name: str = "part-0.parquet"
) -> list[Path]:
    """Write ``df`` as ``root/<column>=<value>/<file_name>``, one file per value (sorted)."""
    root.mkdir(parents=True, exist_ok=True)
    written = []
    if df.height == 0:
        return written
    parts = df.partition_by(column, as_dict=True, maintain_order=True, include_key=False)
    for (value,), part in sorted(parts.items(), key=lambda kv: str(kv[0][0])):
        d = root / f"{column}={value}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / file_name
        part.write_parquet(path, compression="zstd")
        written.append(path)
    return written


def publish(staging: Path, out: Path, written: Iterable[str], known: Iterable[str]) -> None:
    """Move the staged outputs ``written`` into ``out``; remove the ``known`` ones not written.

    Files are replaced by one rename each; a directory (a partitioned output) is
    swapped in by renaming the old one aside first. Ctrl-C is held back until
    every rename is done.
    """
    written = list(dict.fromkeys(written))
    stale = [n for n in known if n not in written]
    trash = staging / ".replaced"
    with deferred_interrupt():
        trash.mkdir(exist_ok=True)
        for name in stale:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                os.replace(target, trash / name)
            elif target.exists() or target.is_symlink():
                target.unlink()
        for name in written:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                os.replace(target, trash / name)
            os.replace(staging / name, target)
    shutil.rmtree(trash, ignore_errors=True)


def append_parts(staging: Path, out: Path, names: Iterable[str]) -> list[Path]:
    """Move every file under ``staging/<name>/`` to the same place under ``out/<name>/``.

    For incremental runs: new part files join existing partition directories.
    Ctrl-C is held back until every file is moved. Returns the final paths.
    """
    moved = []
    with deferred_interrupt():
        for name in names:
            src_root = staging / name
            if not src_root.is_dir():
                continue
            for src in sorted(src_root.rglob("*.parquet")):
                dst = out / name / src.relative_to(src_root)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
                moved.append(dst)
    return moved


def read_partitioned(root: str | os.PathLike) -> pl.DataFrame:
    """Read a partitioned output back (partition column included), sorted by path."""
    files = sorted(Path(root).rglob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.scan_parquet(files, hive_partitioning=True, glob=False).collect()
