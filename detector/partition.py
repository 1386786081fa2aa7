"""Partitioned scan output and the atomic publish of a staged output directory.

``scan --partition-by month`` writes ``scores`` and ``features`` as hive
partitions, one directory per month of ``created_at`` (UTC)::

    out/scores/month=2025-01/part-0.parquet
    out/features/month=2025-01/part-0.parquet

so a reader can ``pl.scan_parquet("out/scores/**/*.parquet", hive_partitioning=True)``
or pick a month by path. The partitions are part of the scan's version of ``out``
and published with it, all at once (:mod:`detector.publish`).

Incremental scans (:mod:`detector.scan.incremental`) *append*: each run's version holds
the earlier runs' part files (hard links) and adds its own ``part-<run>.parquet``
to the month directories it touches.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

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


def read_partitioned(root: str | os.PathLike) -> pl.DataFrame:
    """Read a partitioned output back (partition column included), sorted by path."""
    files = sorted(Path(root).rglob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.scan_parquet(files, hive_partitioning=True, glob=False).collect()
