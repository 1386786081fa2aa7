"""All-or-nothing publishing, tested the way it fails, and the environment checked first.

The kill tests stop a CLI run at each step of its publish (the
``REVIEW_DETECTOR_PUBLISH_STOP`` hook: the process stops itself there) and
``kill -9`` it; then every file readers of ``--out`` see must be one scan's:
the previous one's or the new one's, never a mix. "One scan's" is checked by
content: the two scans read different inputs, so every output file differs;
a file set matches a scan when every file has that scan's bytes
(``summary.json`` by its inputs and ``run_id``).

Read-only and full disks are real when the tests may mount (root here): a
tmpfs remounted read-only, and a tiny tmpfs filled up, so Polars itself hits
``ENOSPC`` (it raises a ``ComputeError`` without an errno). Where mounting is
not allowed those tests skip, and the same paths are covered at the OS-call
boundary with monkeypatched errors.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import kill_at_publish_step, write_months

import detector.publish as publish_mod
from benchmarks.generator import generate
from detector.cli import main
from detector.partition import read_partitioned
from detector.publish import OutputError, Publication, versions_dir
from detector.scan import ScanConfig, run_scan
from detector.scan.incremental import run_incremental

CONFIG = ScanConfig(n_estimators=40)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Month partitions; scan A reads the first six months, scan B all of them."""
    reviews, _ = generate(1_500, seed=31)
    root = tmp_path_factory.mktemp("publish")
    months = write_months(reviews, root / "all")
    for m in months[:6]:
        shutil.copytree(root / "all" / m, root / "first" / m)
    return root, months, reviews


def _fingerprint(out: Path) -> dict:
    """``relative path -> sha256`` of every file readers of ``out`` see (summaries apart)."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "summary.json":
            files[str(p.relative_to(out))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return files


def _summary_inputs(out: Path) -> list[str]:
    return sorted(Path(i["path"]).name for i in _summary(out)["inputs"])


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _one_scans(out: Path, scans: dict[str, tuple[dict, list]]) -> str:
    """The name of the scan whose files ``out`` holds, all of them; fails on a mix."""
    seen = _fingerprint(out)
    for name, (files, inputs) in scans.items():
        if seen == files and _summary_inputs(out) == inputs:
            assert _summary(out)["run_id"] == out.resolve().name
            return name
    mixed = {
        f: [n for n, (files, _) in scans.items() if files.get(f) == h] for f, h in seen.items()
    }
    raise AssertionError(f"--out holds a mix of scans: {mixed}")


def _run_stopped(args: list[str], step: int, env: dict | None = None) -> bool:
    """Run the CLI until it reaches publish step ``step``, then ``kill -9`` it.

    Returns False when the run ended (successfully) without reaching that step.
    """
    killed, printed, code = kill_at_publish_step(args, step, env)
    assert killed or code == 0, printed
    return killed


def _leftovers(out: Path, *expected: str) -> list[str]:
    """Entries beside ``out`` and its versions directory (but ``expected``), and staging."""
    ours = (out.name, versions_dir(out).name, *expected)
    beside = [p.name for p in out.parent.iterdir() if p.name not in ours]
    staging = [p.name for p in versions_dir(out).glob(".staging-*")]
    return sorted(beside + staging)


# --------------------------------------------------------------------------- kill -9 while publishing


@pytest.fixture(scope="module")
def refs(data, tmp_path_factory):
    """``partition -> (directory, {"A"|"B": (fingerprint, inputs)})``: the two scans a killed
    run may leave, made once per layout (the CLI's configuration)."""
    root, _, _ = data
    made = {}

    def get(partition: str | None):
        if partition not in made:
            d = tmp_path_factory.mktemp(f"refs-{partition}")
            extra = ["--partition-by", partition] if partition else []
            ref = {}
            for name, inp in (("A", root / "first"), ("B", root / "all")):
                out = d / f"ref-{name}" / "out"
                assert main(["scan", str(inp), "--out", str(out), "--quiet", *extra]) == 0
                ref[name] = (_fingerprint(out), _summary_inputs(out))
            made[partition] = (d, ref)
        return made[partition]

    return get


# steps of detector.publish: 0 staged, 1 prepared, 2 linked, 3 switched (one before the
# switch's rename and one after it is enough to tell a mix from one scan)
@pytest.mark.parametrize(
    "partition, steps", [(None, [0, 2, 3]), ("month", [1, 3])], ids=["plain", "month"]
)
def test_kill_9_while_publishing_a_scan_leaves_one_scan(data, refs, tmp_path, partition, steps):
    root, _, _ = data
    extra = ["--partition-by", partition] if partition else []
    made, ref = refs(partition)
    seen = []
    for step in steps:
        trial = tmp_path / f"kill-{step}"
        shutil.copytree(made / "ref-A", trial, symlinks=True)
        out = trial / "out"
        args = ["scan", str(root / "all"), "--out", str(out), "--quiet", *extra]
        assert _run_stopped(args, step), f"the run never reached step {step}"
        seen.append(_one_scans(out, ref))
        # the next run publishes cleanly over whatever the kill left
        run_scan(root / "all", out, partition_by=partition)
        assert _one_scans(out, ref) == "B"
        assert _leftovers(out) == []
        versions = [p for p in versions_dir(out).iterdir() if not p.name.startswith(".")]
        assert len(versions) <= 2
    # killed before the switch: the previous scan; after it: the new one
    assert seen == ["A" if s < 3 else "B" for s in steps]


def test_kill_9_while_publishing_an_incremental_run_leaves_one_run(data, tmp_path):
    root, months, reviews = data
    template = tmp_path / "template"
    # the CLI's configuration (the state refuses another)
    run_incremental(root / "first", template / "out", template / "state")

    def trial_dir(name):
        d = tmp_path / name
        shutil.copytree(template, d, symlinks=True)
        return d

    ref_b = trial_dir("ref-B")
    run_incremental(root / "all", ref_b / "out", ref_b / "state")
    ref = {
        "A": (_fingerprint(template / "out"), _summary_inputs(template / "out")),
        "B": (_fingerprint(ref_b / "out"), _summary_inputs(ref_b / "out")),
    }
    # 10: output prepared, state not yet committed; 11: committed, not switched; 3: switched
    # (steps 1 and 2 are the plain scan's, above)
    expected = {10: "A", 11: "A", 3: "B"}
    for step, want in expected.items():
        d = trial_dir(f"kill-{step}")
        out, state = d / "out", d / "state"
        args = ["scan", str(root / "all"), "--out", str(out), "--incremental", str(state)]
        assert _run_stopped([*args, "--quiet"], step), f"the run never reached step {step}"
        assert _one_scans(out, ref) == want, step
        # the next run finishes or redoes the interrupted one: every review once
        run_incremental(root / "all", out, state)
        scores = read_partitioned(out / "scores")
        assert scores.height == reviews.height == scores["review_id"].n_unique(), step
        assert _summary(out)["incremental"]["run"] == 2
        assert _leftovers(out, "state") == []


def test_kill_9_while_publishing_a_packet_leaves_one_packet(data, tmp_path):
    root, _, _ = data
    scan = tmp_path / "scan"
    run_scan(root / "all", scan, config=CONFIG)
    cases = pl.read_parquet(scan / "cases.parquet")
    shop = cases.explode("shop_ids")["shop_ids"].mode().sort()[0]
    env = {"SOURCE_DATE_EPOCH": "1767225600"}
    os.environ.update(env)
    try:
        ref = {}
        for name, lang in (("A", "zh"), ("B", "en")):
            out = tmp_path / f"ref-{name}" / "packet"
            args = ["evidence", str(scan), "--shop", shop, "--out", str(out), "--all"]
            assert main([*args, "--lang", lang, "--quiet"]) == 0
            ref[name] = (_fingerprint(out), None)
    finally:
        for k in env:
            os.environ.pop(k)
    for step in (2, 3):
        trial = tmp_path / f"kill-{step}"
        shutil.copytree(tmp_path / "ref-A", trial, symlinks=True)
        out = trial / "packet"
        args = ["evidence", str(scan), "--shop", shop, "--out", str(out), "--all", "--lang", "en"]
        assert _run_stopped([*args, "--quiet"], step, env=env)
        got = _fingerprint(out)
        assert got in (ref["A"][0], ref["B"][0]), f"a mix of two packets at step {step}"
        assert (got == ref["B"][0]) == (step >= 3)


# --------------------------------------------------------------------------- the switch itself


def test_a_plain_directory_is_swapped_for_a_version_and_kept_as_the_previous(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    (out / "notes.txt").write_text("the user's")  # not ours: carried into every version
    for exchange in (True, False):
        if not exchange:  # a system without renameat2: renamed aside, then linked
            monkeypatch.setattr(publish_mod, "_exchange", lambda a, b: False)
            shutil.rmtree(versions_dir(out))
            out.unlink()
            out.mkdir()
            (out / "notes.txt").write_text("the user's")
        with Publication(out, carry=lambda n: n != "summary.json") as pub:
            (pub.path / "summary.json").write_text('{"new": 1}')
        assert out.is_symlink() and out.resolve().parent == versions_dir(out).resolve()
        assert json.loads((out / "summary.json").read_text()) == {"new": 1}
        assert (out / "notes.txt").read_text() == "the user's"
        kept = sorted(p.name for p in versions_dir(out).iterdir() if not p.name.startswith("."))
        assert len(kept) == 2 and any(k.startswith("plain-") for k in kept)
        assert _leftovers(out) == []


def test_a_users_link_is_followed_not_replaced(tmp_path):
    real = tmp_path / "disk" / "scans" / "latest"
    real.parent.mkdir(parents=True)
    link = tmp_path / "out"
    link.symlink_to(real)
    for n in range(3):
        with Publication(link) as pub:
            (pub.path / "n.txt").write_text(str(n))
        assert link.is_symlink() and os.readlink(link) == str(real)  # the user's link, untouched
        assert (link / "n.txt").read_text() == str(n)
    assert real.is_symlink() and versions_dir(real).is_dir()
    assert len([p for p in versions_dir(real).iterdir() if not p.name.startswith(".")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "out"]


def test_a_reader_that_resolved_out_keeps_its_version(tmp_path):
    out = tmp_path / "out"
    with Publication(out) as pub:
        (pub.path / "a.txt").write_text("first")
    held = out.resolve()
    with Publication(out) as pub:
        (pub.path / "a.txt").write_text("second")
    assert (held / "a.txt").read_text() == "first"  # kept until the next publish
    assert (out / "a.txt").read_text() == "second"
    with Publication(out) as pub:
        (pub.path / "a.txt").write_text("third")
    assert not held.exists()


def test_a_failed_run_publishes_nothing_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with Publication(out) as pub:
        (pub.path / "a.txt").write_text("kept")
    with pytest.raises(RuntimeError), Publication(out) as pub:
        (pub.path / "a.txt").write_text("half")
        raise RuntimeError("the scan failed")
    assert (out / "a.txt").read_text() == "kept"
    assert _leftovers(out) == []


# --------------------------------------------------------------------------- the environment first


@contextlib.contextmanager
def _tmpfs(path: Path, size: str, read_only: bool = False):
    """A private tmpfs at ``path``; skips the test where this process may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _remount_ro(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def _no_loading(monkeypatch):
    """Fail the test if the scan reads its input: the checks come before any work."""
    import detector.input.load as contract

    def loaded(*a, **k):
        raise AssertionError("the input was read before --out was checked")

    monkeypatch.setattr(contract, "load_reviews", loaded)
    monkeypatch.setattr(contract, "scan_reviews", loaded)


def _error(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_out_naming_a_file_is_exit_2_before_any_work(data, tmp_path, monkeypatch, capsys):
    root, _, _ = data
    f = tmp_path / "results.parquet"
    f.write_bytes(b"not a directory")
    _no_loading(monkeypatch)
    assert main(["scan", str(root / "all"), "--out", str(f), "--quiet"]) == 2
    assert "is a file, not a directory" in _error(capsys)
    inc = ["scan", str(root / "all"), "--out", str(tmp_path / "o"), "--incremental", str(f)]
    assert main([*inc, "--quiet"]) == 2
    assert "--incremental" in _error(capsys)
    assert f.read_bytes() == b"not a directory"


def test_a_read_only_out_is_exit_2_before_any_work(data, tmp_path, monkeypatch, capsys):
    root, _, _ = data
    with _tmpfs(tmp_path / "ro", "16m") as ro:
        run_scan(root / "first", ro / "out", config=CONFIG)
        before = _fingerprint(ro / "out")
        _remount_ro(ro)
        _no_loading(monkeypatch)
        assert main(["scan", str(root / "all"), "--out", str(ro / "out"), "--quiet"]) == 2
        msg = _error(capsys)
        assert "read-only" in msg and "--out" in msg, msg
        assert _fingerprint(ro / "out") == before
        # a read-only state directory: refused before --out is touched
        out = tmp_path / "rw-out"
        args = ["scan", str(root / "all"), "--out", str(out), "--incremental", str(ro / "state")]
        assert main([*args, "--quiet"]) == 2
        assert "--incremental" in _error(capsys) and not out.exists()


def test_a_read_only_evidence_out_is_exit_2_before_rendering(data, tmp_path, monkeypatch, capsys):
    root, _, _ = data
    scan = tmp_path / "scan"
    run_scan(root / "first", scan, config=CONFIG)
    shop = pl.read_parquet(scan / "cases.parquet").explode("shop_ids")["shop_ids"].mode().sort()[0]
    import detector.evidence.writer as writer

    monkeypatch.setattr(writer, "render_cards", lambda p: pytest.fail("rendered first"))
    with _tmpfs(tmp_path / "ro", "1m") as ro:
        _remount_ro(ro)
        args = ["evidence", str(scan), "--shop", shop, "--out", str(ro / "packet"), "--all"]
        assert main([*args, "--quiet"]) == 2
        assert "read-only" in _error(capsys)


def test_a_full_disk_is_exit_2_and_publishes_nothing(data, tmp_path, capsys):
    root, _, _ = data
    with _tmpfs(tmp_path / "small", "6m") as disk:
        out = disk / "out"
        run_scan(root / "first", out, config=CONFIG)
        before = _fingerprint(out)
        # leave less room than the next scan needs
        fill = disk / "filler"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        with open(fill, "wb") as fh:
            fh.write(b"\0" * max(free - 96 * 1024, 0))
        assert main(["scan", str(root / "all"), "--out", str(out), "--quiet"]) == 2
        msg = _error(capsys)
        assert "no space left" in msg and "nothing was published" in msg, msg
        assert _fingerprint(out) == before
        assert _leftovers(out) == ["filler"]
        fill.unlink()
        assert main(["scan", str(root / "all"), "--out", str(out), "--quiet"]) == 0
        assert _fingerprint(out) != before


def test_enospc_at_the_os_call_boundary(data, tmp_path, monkeypatch, capsys):
    """Without a mount: Polars' ComputeError (no errno) and the probe's ENOSPC, simulated."""
    root, _, _ = data
    out = tmp_path / "out"
    run_scan(root / "first", out, config=CONFIG)
    before = _fingerprint(out)
    real_write = pl.DataFrame.write_parquet

    def full(self, file, *a, **k):
        if "features" in str(file):
            raise pl.exceptions.ComputeError("parquet: underlying IO error")  # as Polars words it
        return real_write(self, file, *a, **k)

    def probe(directory, reserve=1):
        if reserve > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    monkeypatch.setattr(publish_mod, "probe_write", probe)
    assert main(["scan", str(root / "all"), "--out", str(out), "--quiet"]) == 2
    assert "no space left" in _error(capsys)
    assert _fingerprint(out) == before and _leftovers(out) == []
    # a ComputeError on a disk with room is not a disk problem: it stays what it is
    monkeypatch.setattr(publish_mod, "probe_write", lambda d, reserve=1: None)
    with pytest.raises(pl.exceptions.ComputeError):
        run_scan(root / "all", out, config=CONFIG)
    with pytest.raises(OutputError):
        with Publication(out) as pub:
            raise OSError(errno.EROFS, "Read-only file system", str(pub.path))


def test_a_mount_point_as_out_is_exit_2(data, tmp_path, monkeypatch, capsys):
    root, _, _ = data
    with _tmpfs(tmp_path / "mnt", "1m") as mnt:
        _no_loading(monkeypatch)
        assert main(["scan", str(root / "all"), "--out", str(mnt), "--quiet"]) == 2
        assert "mount point" in _error(capsys) and list(mnt.iterdir()) == []


def _kill_around_publish(args: list[str], out: Path, delay: float) -> None:
    """Run the CLI and ``kill -9`` it ``delay`` seconds after its last output is staged.

    No hook: the run is watched from outside, as an operator's kill would land.
    "Staged" is when a ``summary.json`` (written last) appears in a hidden
    staging directory beside or inside ``out``.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    patterns = [".staging-*/**/summary.json"]
    roots = [out.parent / f".{out.name}.versions", out]

    def staged() -> bool:
        try:
            return any(r.is_dir() and any(r.glob(p)) for r in roots for p in patterns)
        except OSError:  # a directory went while it was listed
            return False

    try:
        while proc.poll() is None:
            if staged():
                t = time.perf_counter() + delay
                while time.perf_counter() < t:
                    pass
                break
            # a short nap between looks: a busy loop took a core from the scan it watches
            time.sleep(0.0005)
    finally:
        proc.kill()
        proc.wait()


def test_kill_9_at_random_instants_around_publishing_leaves_one_scan(data, refs, tmp_path):
    """Kills 0-3 ms after staging ends, without the hook: still one scan's files each time."""
    import random

    root, _, _ = data
    extra = ["--partition-by", "month"]
    made, ref = refs("month")
    rng = random.Random(5)
    for k in range(4):
        trial = tmp_path / f"kill-{k}"
        shutil.copytree(made / "ref-A", trial, symlinks=True)
        out = trial / "out"
        args = ["scan", str(root / "all"), "--out", str(out), "--quiet", *extra]
        _kill_around_publish(args, out, rng.uniform(0, 0.003))
        _one_scans(out, ref)
