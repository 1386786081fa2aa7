"""Incremental state that proves itself: damage, config changes and lost pieces are refused.

Each test starts from a copy of one two-run state (state directory, ``--out``
link and its versions), damages one piece and checks that the next run is
refused with exit 2, names the piece, says how to rebuild, and changes
nothing; ``--rebuild-state`` then rebuilds.
"""

from __future__ import annotations

import json
import os
import shutil

import polars as pl
import pytest
from conftest import write_months

from benchmarks.generator import generate
from detector.cli import main
from detector.partition import read_partitioned
from detector.publish import versions_dir
from detector.scan import ScanConfig
from detector.scan.incremental import LOCK_FILE, STATE_FILE, StateError, run_incremental

CONFIG = ScanConfig(n_estimators=40)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Input partitions and a state after two runs (months 1-4, then 5-6); months 7+ are new."""
    reviews, _ = generate(3_000, seed=17)
    root = tmp_path_factory.mktemp("state")
    months = write_months(reviews, root / "all")
    inp = root / "base" / "in"
    for m in months[:6]:
        shutil.copytree(root / "all" / m, inp / m)
    out, state = root / "base" / "out", root / "base" / "state"
    run_incremental([inp / m for m in months[:4]], out, state, config=CONFIG)
    run_incremental(inp, out, state, config=CONFIG)
    return root, months, reviews


@pytest.fixture
def world(base, tmp_path):
    """A private copy of the base state, output and input, with the remaining months added."""
    root, months, reviews = base
    shutil.copytree(root / "base", tmp_path / "w", symlinks=True)
    w = tmp_path / "w"
    for m in months[6:]:
        shutil.copytree(root / "all" / m, w / "in" / m)
    return w, reviews


def _snapshot(w):
    files = {}
    for top in (w / "state", w / "out"):
        for p in sorted(top.rglob("*")):
            if p.is_file() and p.name != LOCK_FILE:  # the run's (empty) lock file apart
                files[p.relative_to(w)] = p.read_bytes()
    return files


def _cli(w, *extra):
    args = ["scan", str(w / "in"), "--out", str(w / "out"), "--incremental", str(w / "state")]
    return main([*args, "--quiet", *extra])


def _manifest(w) -> dict:
    return json.loads((w / "state" / STATE_FILE).read_text())


def _refused(w, capsys, *says):
    before = _snapshot(w)
    assert _cli(w) == 2
    err = capsys.readouterr().err
    flat = "".join(err.split())  # the console wraps long paths anywhere
    for text in (*says, "--rebuild-state"):
        assert "".join(text.split()) in flat, err
    assert _snapshot(w) == before  # nothing read into, nothing written
    return err


def _rebuilds(w, reviews):
    assert _cli(w, "--rebuild-state") == 0
    scores = read_partitioned(w / "out" / "scores")
    assert scores.height == reviews.height == scores["review_id"].n_unique()
    assert _manifest(w)["runs"] == 1
    assert _cli(w) == 0  # and the rebuilt state carries on


def _history(w) -> str:
    return _manifest(w)["history"][-1]


@pytest.mark.parametrize("piece", ["state.json", "model", "history"])
@pytest.mark.parametrize("damage", ["missing", "truncated", "edited"])
def test_a_damaged_state_file_is_refused_then_rebuilt(world, capsys, piece, damage):
    w, reviews = world
    name = {"state.json": STATE_FILE, "model": None, "history": None}[piece]
    name = name or (_manifest(w)["model"] if piece == "model" else _history(w))
    path = w / "state" / name
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif piece == "state.json":
        m = _manifest(w)
        m["history"] = []  # scores without history (the flags 441 -> 965)
        path.write_text(json.dumps(m))
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, other bytes
        path.write_bytes(bytes(data))
    says = {
        ("state.json", "missing"): ["state.json is missing", "the state is damaged"],
        ("state.json", "truncated"): ["not a readable state file"],
        ("state.json", "edited"): ["edited or damaged"],
    }.get(
        (piece, damage),
        [
            path.name,
            {"missing": "missing", "truncated": "truncated"}.get(
                damage, "changed since it was written"
            ),
        ],
    )
    _refused(w, capsys, *says)
    _rebuilds(w, reviews)


def test_a_lost_state_directory_beside_incremental_output_is_refused(world, capsys):
    w, reviews = world
    shutil.rmtree(w / "state")
    (w / "state").mkdir()
    _refused(w, capsys, "holds the output of incremental run 2", "duplicates")
    _rebuilds(w, reviews)


@pytest.mark.parametrize(
    "option, says",
    [
        (["--seed", "1"], "parameters.seed: 0 -> 1"),
        (["--threshold", "0.7"], "parameters.threshold_asked: None -> 0.7"),
        (["--since", "2020-01-01"], "input.since"),
        (["--families", "burst"], "parameters.families"),
        (["--timezone", "Asia/Shanghai"], "input.timezone: None -> 'Asia/Shanghai'"),
    ],
)
def test_a_configuration_change_is_refused(world, capsys, option, says):
    w, _ = world
    before = _snapshot(w)
    assert _cli(w, *option) == 2
    err = "".join(capsys.readouterr().err.split())
    assert "".join(says.split()) in err and "--rebuild-state" in err, err
    assert _snapshot(w) == before


def test_another_out_than_the_states_is_refused(world, tmp_path):
    w, _ = world
    with pytest.raises(StateError, match="the state and its output go together"):
        run_incremental(w / "in", tmp_path / "elsewhere", w / "state", config=CONFIG)
    assert not (tmp_path / "elsewhere").exists()


def test_an_interrupted_switch_is_finished_by_the_next_run(world):
    """State committed, output not yet switched (killed there): the next run switches first."""
    w, reviews = world
    out = w / "out"
    old = out.readlink()
    from detector.publish import Publication

    real_switch = Publication.switch
    Publication.switch = lambda self, version=None: None  # "killed" right after the commit
    try:
        run_incremental(w / "in", out, w / "state", config=CONFIG)
    finally:
        Publication.switch = real_switch
    assert out.readlink() == old  # readers still see run 2
    assert _manifest(w)["runs"] == 3
    assert run_incremental(w / "in", out, w / "state", config=CONFIG) is None
    assert out.readlink() != old
    scores = read_partitioned(out / "scores")
    assert scores.height == reviews.height == scores["review_id"].n_unique()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["incremental"]["run"] == 3
    assert summary["run_id"] == out.readlink().name
    kept = sorted(p.name for p in versions_dir(out).iterdir() if not p.name.startswith("."))
    assert len(kept) == 2  # the current version and the one before


def test_each_run_is_one_version_with_all_runs_so_far(world):
    w, reviews = world
    out = w / "out"
    before = out.resolve()
    run_incremental(w / "in", out, w / "state", config=CONFIG)
    after = out.resolve()
    assert after != before and before.is_dir()  # the previous version stays for its readers
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["00001", "00002", "00003"]
    old = read_partitioned(before / "scores")
    new = read_partitioned(after / "scores")
    assert set(old["review_id"]) < set(new["review_id"])
    assert new.height == reviews.height
    # carried parts are hard links: nothing copied, the old version untouched
    part = next((before / "scores").rglob("part-00001.parquet"))
    assert part.stat().st_nlink >= 2
    assert pl.read_parquet(part).height > 0


def test_a_full_disk_while_writing_the_state_changes_nothing(world, monkeypatch):
    """ENOSPC on the history part (Polars' ComputeError, the probe's errno): exit 2, all as it was."""
    import errno

    import detector.publish as publish_mod
    from detector.publish import OutputError

    w, _ = world
    before = _snapshot(w)
    link = (w / "out").readlink()
    real_write = pl.DataFrame.write_parquet

    def full(self, file, *a, **k):
        if str(w / "state") in str(file):
            raise pl.exceptions.ComputeError("parquet: underlying IO error")
        return real_write(self, file, *a, **k)

    def probe(directory, reserve=1):
        if reserve > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    monkeypatch.setattr(publish_mod, "probe_write", probe)
    with pytest.raises(OutputError, match="cannot write the state"):
        run_incremental(w / "in", w / "out", w / "state", config=CONFIG)
    assert _snapshot(w) == before and (w / "out").readlink() == link
    monkeypatch.undo()
    assert run_incremental(w / "in", w / "out", w / "state", config=CONFIG) is not None


def test_rebuild_state_needs_incremental(tmp_path, capsys):
    assert main(["scan", str(tmp_path), "--out", str(tmp_path / "o"), "--rebuild-state"]) == 2
    assert "--incremental" in capsys.readouterr().err


def test_a_second_run_on_a_state_in_use_is_refused(world):
    from detector.atomic import try_lock

    w, _ = world
    fd = try_lock(w / "state" / LOCK_FILE, create=True)  # a live run holds it
    try:
        with pytest.raises(StateError, match="another incremental run"):
            run_incremental(w / "in", w / "out", w / "state", config=CONFIG)
    finally:
        os.close(fd)
    assert run_incremental(w / "in", w / "out", w / "state", config=CONFIG) is not None
