"""Shared fixtures: small generated review sets with fixed seeds; the headless Chromium
the browser tests drive."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from benchmarks.generator import generate

#: Debian's Chromium (``.ci/run`` installs it), or one on PATH; None: browser tests skip.
CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
#: How the browser tests start it: headless, offline (nothing fetched in the background).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)


@pytest.fixture(scope="session")
def small_market():
    """8,000 generated reviews (seed 21) with every attack family and trap."""
    return generate(8_000, seed=21)


@pytest.fixture(scope="session")
def small_market_path(tmp_path_factory, small_market):
    reviews, labels = small_market
    d = tmp_path_factory.mktemp("market")
    reviews.write_parquet(d / "reviews.parquet")
    labels.write_parquet(d / "labels.parquet")
    return d


def write_months(reviews: pl.DataFrame, root) -> list[str]:
    """Write ``reviews`` as hive partitions by month under ``root``, the way a platform export looks.

    Returns the partition directory names, sorted.
    """
    keyed = reviews.with_columns(pl.col("created_at").dt.strftime("%Y-%m").alias("_m"))
    for (m,), part in keyed.partition_by("_m", as_dict=True, maintain_order=True).items():
        d = root / f"month={m}"
        d.mkdir(parents=True)
        part.drop("_m").write_parquet(d / "part-0.parquet")
    return sorted(p.name for p in root.iterdir())


def kill_at_publish_step(
    args: list[str], step: int, env: dict | None = None
) -> tuple[bool, str, int]:
    """Run ``python -m detector *args`` until it reaches publish step ``step``, then ``kill -9`` it.

    Returns ``(killed, stderr so far, returncode)``; ``killed`` is False when the run ended
    without reaching that step.
    """
    from detector.publish import STOP_AT_ENV

    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), STOP_AT_ENV: str(step)},
    )
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith(f"publish step {step} "):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True, "".join(lines), proc.returncode
    proc.wait()
    return False, "".join(lines), proc.returncode
