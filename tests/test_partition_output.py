"""Partitioned output (--partition-by month), atomic publish and clean Ctrl-C."""

from __future__ import annotations

import os
import signal

import polars as pl
import pytest

import detector.scan.output as output_mod
import detector.scan.run as scan_mod
from benchmarks.generator import generate
from detector.cli import main
from detector.interrupts import deferred_interrupt
from detector.partition import read_partitioned, write_partitioned
from detector.publish import Publication, versions_dir
from detector.scan import ScanConfig, run_scan

CONFIG = ScanConfig(n_estimators=40)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    reviews, _ = generate(2_500, seed=9)
    d = tmp_path_factory.mktemp("part")
    reviews.write_parquet(d / "reviews.parquet")
    return d / "reviews.parquet", reviews


def _hidden(out):
    return [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_partition_by_month_matches_single_files(data, tmp_path):
    path, reviews = data
    run_scan(path, tmp_path / "flat", config=CONFIG)
    part = run_scan(path, tmp_path / "part", config=CONFIG, partition_by="month")
    out = tmp_path / "part"
    assert (out / "scores").is_dir() and (out / "features").is_dir()
    assert not (out / "scores.parquet").exists()
    months = sorted(p.name for p in (out / "scores").iterdir())
    expected = (
        reviews.select(pl.col("created_at").dt.strftime("%Y-%m").unique().sort())
        .to_series()
        .to_list()
    )
    assert months == [f"month={m}" for m in expected]
    assert all((out / "scores" / m / "part-0.parquet").exists() for m in months)
    back = read_partitioned(out / "scores")
    # each review in the month of its created_at
    check = back.join(reviews.select("review_id", "created_at"), on="review_id")
    assert (check["month"] == check["created_at"].dt.strftime("%Y-%m")).all()
    a = back.drop("month").sort("review_id")
    b = pl.read_parquet(tmp_path / "flat" / "scores.parquet").sort("review_id")
    assert a.equals(b)
    fa = read_partitioned(out / "features").drop("month").sort("review_id")
    fb = pl.read_parquet(tmp_path / "flat" / "features.parquet").sort("review_id")
    assert fa.equals(fb)
    assert part.summary["output"]["partition_by"] == "month"
    assert _hidden(out) == []


def test_switching_layouts_removes_the_other(data, tmp_path):
    path, _ = data
    out = tmp_path / "out"
    run_scan(path, out, config=CONFIG, partition_by="month")
    run_scan(path, out, config=CONFIG)
    assert (out / "scores.parquet").exists() and not (out / "scores").exists()
    run_scan(path, out, config=CONFIG, partition_by="month")
    assert (out / "scores").is_dir() and not (out / "scores.parquet").exists()
    assert _hidden(out) == []


@pytest.mark.parametrize("stage", ["build_cases", "write_partitioned", "prepare"])
def test_interrupt_leaves_previous_output(data, tmp_path, monkeypatch, stage):
    """Ctrl-C anywhere before the publish: out keeps the previous run, no staging left."""
    path, _ = data
    out = tmp_path / "out"
    run_scan(path, out, config=CONFIG, partition_by="month")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    calls = {"n": 0}
    owner = {"prepare": Publication, "write_partitioned": output_mod}.get(stage, scan_mod)
    real = getattr(owner, stage)

    def interrupted(*a, **k):
        calls["n"] += 1
        if stage == "write_partitioned" and calls["n"] == 1:
            real(*a, **k)  # one partitioned output fully staged, then Ctrl-C
            raise KeyboardInterrupt
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, stage, interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_scan(path, out, config=CONFIG, partition_by="month")
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert _hidden(out) == []
    assert not list(versions_dir(out).glob(".staging-*"))


def test_cli_interrupt_exit_code(data, tmp_path, monkeypatch, capsys):
    path, _ = data

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_mod, "build_cases", interrupted)
    code = main(["scan", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or _hidden(tmp_path / "o") == []


def test_cli_partition_flag(data, tmp_path):
    path, _ = data
    code = main(
        ["scan", str(path), "--out", str(tmp_path / "o"), "--quiet", "--partition-by", "month"]
    )
    assert code == 0
    assert (tmp_path / "o" / "scores").is_dir()


def test_deferred_interrupt_raises_after_block():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            done.append(1)  # still runs: the interrupt waits for the block to end
    assert done == [1]


def test_write_partitioned_layout(tmp_path):
    df = pl.DataFrame({"a": [1, 2, 3], "month": ["2025-02", "2025-01", "2025-02"]})
    paths = write_partitioned(df, tmp_path / "t", "month")
    assert [p.parent.name for p in paths] == ["month=2025-01", "month=2025-02"]
    back = read_partitioned(tmp_path / "t").sort("a")
    assert back["a"].to_list() == [1, 2, 3]
    assert back["month"].to_list() == ["2025-02", "2025-01", "2025-02"]
