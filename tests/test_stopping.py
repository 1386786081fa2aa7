"""Stopping a run: SIGTERM ends it as Ctrl-C does; a killed run's staging is removed later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_months

from benchmarks.generator import generate
from detector.atomic import OWNER_LOCK, remove_stale_staging, staging_dir
from detector.interrupts import Terminated, deferred_interrupt, stop_on_signals
from detector.publish import versions_dir
from detector.scan import ScanConfig, run_scan

CONFIG = ScanConfig(n_estimators=40)


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """20,000 generated reviews in month partitions: staging goes file by file."""
    reviews, _ = generate(20_000, seed=4)
    root = tmp_path_factory.mktemp("stop") / "in"
    write_months(reviews, root)
    return root


def _hidden(out: Path) -> list[str]:
    """Hidden entries inside ``out`` and staging directories beside its versions."""
    inside = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []
    staging = [p.name for p in versions_dir(out).glob(".staging-*")]
    return sorted(inside + staging)


def _files(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def _scan_until_staged(inputs: Path, out: Path) -> subprocess.Popen:
    """A CLI out-of-core scan, returned once its first staged input file exists."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "scan", str(inputs), "--out", str(out)]
        + ["--out-of-core", "--shard-rows", "3000", "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(versions_dir(out).glob(".staging-*/**/input-*.parquet")):
        assert proc.poll() is None, f"the scan ended first: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the scan never staged its input"
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize(
    "sig, says", [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")]
)
def test_a_stop_leaves_the_previous_output_and_no_staging(months, tmp_path, sig, says):
    out = tmp_path / "out"
    run_scan(months, out, config=CONFIG)
    before = _files(out)
    proc = _scan_until_staged(months, out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert says in err
    assert _files(out) == before
    assert _hidden(out) == []


def test_a_killed_runs_staging_is_removed_by_the_next_run(months, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = _scan_until_staged(months, out)
    proc.kill()  # SIGKILL: no cleanup can run
    proc.wait(timeout=60)
    left = [p for p in versions_dir(out).glob(".staging-*") if p.is_dir()]
    assert left and all((p / OWNER_LOCK).exists() for p in left)
    run_scan(months, out, config=CONFIG, out_of_core=True, shard_rows=3_000)
    assert _hidden(out) == []
    assert (out / "scores.parquet").exists()


def test_a_live_runs_staging_is_left_alone(tmp_path):
    with staging_dir(tmp_path) as live:
        (live / "work.parquet").write_bytes(b"x")
        dead = tmp_path / ".staging-dead"
        dead.mkdir()
        (dead / OWNER_LOCK).touch()  # a lock file nobody holds
        foreign = tmp_path / ".staging-not-ours"
        foreign.mkdir()  # no lock file: not made by staging_dir, never touched
        assert remove_stale_staging(tmp_path) == [dead]
        assert (live / "work.parquet").exists() and foreign.exists()
    assert not live.exists()


def test_sigterm_waits_for_the_publish_block():
    done = []
    with stop_on_signals():
        with pytest.raises(Terminated):
            with deferred_interrupt():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append(1)  # still runs: the stop waits for the block to end
    assert done == [1]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_supervisor_reading_a_killed_scans_pipes_does_not_hang():
    """kill -9 of a scan with live scoring workers: its pipes close before it is reaped.

    The supervisor reads the scan's stdout and stderr to the end *before*
    reaping it (as ``subprocess.run`` and most job runners do). While the scan
    is an unreaped zombie, workers polling ``os.kill(pid, 0)`` would live on and
    hold the pipes open; workers watching the liveness pipe end at once.
    """
    psutil = pytest.importorskip("psutil")
    code = (
        "import time\n"
        "from detector.engines.polars_engine import PolarsEngine, ping_worker\n"
        "e = PolarsEngine(workers=2)\n"
        "pids = {e._get_pool().submit(ping_worker).result() for _ in range(8)}\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    scan = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert scan.stdout.readline().strip() == "ready"
        helpers = psutil.Process(scan.pid).children(recursive=True)
        assert len(helpers) >= 3  # the forkserver and two workers
        os.kill(scan.pid, signal.SIGKILL)
        # reads both pipes to end-of-file, then reaps: hangs while any helper holds them
        scan.communicate(timeout=30)
        gone, alive = psutil.wait_procs(helpers, timeout=10)
        assert [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        scan.kill()
        scan.wait()


def test_a_killed_bench_leaves_no_measured_run_behind(tmp_path):
    """The bench's per-run child (forked from its forkserver) ends with the bench."""
    psutil = pytest.importorskip("psutil")
    fifo = tmp_path / "data.parquet"
    os.mkfifo(fifo)  # the child blocks opening it: a run that would go on for ever
    code = (
        "import sys, threading, time\n"
        "from benchmarks.runner import Isolator\n"
        "iso = Isolator(True)\n"
        "task = {'method': 'review_detector', 'data': sys.argv[1], 'seed': 0}\n"
        "threading.Thread(target=iso.run, args=(task,), daemon=True).start()\n"
        "time.sleep(300)\n"
    )
    bench = subprocess.Popen(
        [sys.executable, "-c", code, str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        helpers: list = []
        # until the measured child (the forkserver's child, not the bench's) runs
        while not any(p.ppid() != bench.pid for p in helpers):
            assert bench.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
            helpers = psutil.Process(bench.pid).children(recursive=True)
        os.kill(bench.pid, signal.SIGKILL)
        bench.communicate(timeout=30)  # pipes read to the end before reaping
        _, alive = psutil.wait_procs(helpers, timeout=10)
        assert [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        bench.kill()
        bench.wait()
