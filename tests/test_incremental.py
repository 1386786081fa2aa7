"""Incremental scans: only new partitions, stored model and history, same features as a full scan."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import polars as pl
import pytest
from conftest import write_months

import detector.scan.run as scan_mod
from benchmarks.generator import generate
from detector.cli import main
from detector.errors import InputError
from detector.input.rejects import DUPLICATE_REASON
from detector.partition import read_partitioned
from detector.scan import ScanConfig, run_scan
from detector.scan.incremental import STATE_FILE, State, compact_history, run_incremental

CONFIG = ScanConfig(n_estimators=40)


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    reviews, _ = generate(4_000, seed=13)
    root = tmp_path_factory.mktemp("inc")
    months = write_months(reviews, root / "all")
    full = run_scan(root / "all", root / "full", config=CONFIG)
    return root, months, reviews, full


def _copy(root, months, dst):
    dst.mkdir(exist_ok=True)
    for m in months:
        shutil.copytree(root / "all" / m, dst / m)


def _files(out):
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_incremental_runs(market, tmp_path):
    root, months, reviews, full = market
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    first, rest = months[:7], months[7:]
    _copy(root, first, inp)

    r1 = run_incremental(inp, out, state, config=CONFIG)
    assert r1 is not None and r1.summary["incremental"]["model"] == "fitted"
    manifest = json.loads((state / STATE_FILE).read_text())
    assert manifest["runs"] == 1 and len(manifest["partitions"]) == len(first)
    model_file = state / manifest["model"]
    model_mtime = model_file.stat().st_mtime_ns

    # unchanged input: nothing read, nothing written
    before, state_before = _files(out), _files(state)
    assert run_incremental(inp, out, state, config=CONFIG) is None
    assert _files(out) == before and _files(state) == state_before

    # new partitions: scored with the stored model, features as in a full scan
    _copy(root, rest, inp)
    r2 = run_incremental(inp, out, state, config=CONFIG)
    inc = r2.summary["incremental"]
    assert inc["model"] == "reused" and inc["run"] == 2
    assert len(inc["new_partitions"]) == len(rest)
    assert inc["history_reviews"] == r1.scores.height
    assert model_file.stat().st_mtime_ns == model_mtime
    assert r2.threshold == pytest.approx(r1.threshold)

    new_ids = r2.scores["review_id"]
    expected = reviews.filter(
        pl.col("created_at").dt.strftime("%Y-%m").is_in([m.split("=")[1] for m in rest])
    )
    assert sorted(new_ids.to_list()) == sorted(expected["review_id"].to_list())
    ff = full.features.frame.drop("_rid")
    got = r2.features.frame.drop("_rid").join(ff, on="review_id", suffix="_full")
    assert got.height == r2.scores.height
    for c in ff.columns[1:]:
        diff = np.abs(got[c].to_numpy() - got[f"{c}_full"].to_numpy()).max()
        assert diff <= 1e-9, f"{c} differs from the full scan by {diff}"
    # the stored model scores the new reviews' features
    names = r2.features.scored
    X = r2.features.frame.select(names).to_numpy()
    assert np.array_equal(r2.model.score_samples(X), r1.model.score_samples(X))

    # output accumulates: every review once, in month partitions, one part per run
    scores = read_partitioned(out / "scores")
    assert scores.height == reviews.height
    assert scores["review_id"].n_unique() == reviews.height
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["00001", "00002"]
    assert any(p.name == "part-00002.parquet" for p in (out / "scores").rglob("*.parquet"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert run_incremental(inp, out, state, config=CONFIG) is None


def test_history_is_compact(market):
    _, _, reviews, _ = market
    h = compact_history(reviews)
    # no column that no global table reads (delivered_at is: prompt_burst counts the
    # history's prompt reviews)
    assert not {"order_id", "dsr_description", "dsr_service", "dsr_logistics"} & set(h.columns)
    assert "delivered_at" in h.columns
    assert {"review_id", "user_id", "product_id", "shop_id", "created_at"} <= set(h.columns)
    # texts are kept only where they can join a template cluster
    assert h["text"].null_count() > reviews["text"].null_count()


def test_changed_partition_is_an_error(market, tmp_path):
    root, months, _, _ = market
    inp = tmp_path / "in"
    _copy(root, months[:3], inp)
    run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)
    f = inp / months[0] / "part-0.parquet"
    df = pl.read_parquet(f)
    df.head(df.height - 1).write_parquet(f)
    with pytest.raises(InputError, match="changed since run 1"):
        run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)


def test_touched_partition_is_unchanged(market, tmp_path):
    root, months, _, _ = market
    inp = tmp_path / "in"
    _copy(root, months[:3], inp)
    run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)
    f = inp / months[0] / "part-0.parquet"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG) is None
    seen = State.open(tmp_path / "state").partitions[str(f.resolve())]
    assert seen["mtime_ns"] == f.stat().st_mtime_ns


def test_duplicate_of_history_is_rejected(market, tmp_path):
    root, months, reviews, _ = market
    inp = tmp_path / "in"
    _copy(root, months[:3], inp)
    run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)
    old = pl.read_parquet(inp / months[0] / "part-0.parquet").head(3)
    new = pl.read_parquet(root / "all" / months[3] / "part-0.parquet")
    d = inp / months[3]
    d.mkdir()
    pl.concat([new, old]).write_parquet(d / "part-0.parquet")
    r = run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)
    assert r.summary["incremental"]["duplicates_of_history"] == 3
    rej = r.loaded.rejected
    assert set(old["review_id"]) <= set(
        rej.filter(pl.col("reason") == DUPLICATE_REASON)["review_id"]
    )
    assert r.scores.height == new.height


def test_interrupted_run_keeps_state(market, tmp_path, monkeypatch):
    root, months, _, _ = market
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    _copy(root, months[:3], inp)
    run_incremental(inp, out, state, config=CONFIG)
    _copy(root, months[3:5], inp)
    state_before = _files(state)
    out_before = _files(out)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_mod, "build_cases", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_incremental(inp, out, state, config=CONFIG)
    assert _files(state) == state_before and _files(out) == out_before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    r = run_incremental(inp, out, state, config=CONFIG)
    assert r.summary["incremental"]["run"] == 2


def test_cli_incremental(market, tmp_path, capsys):
    root, months, _, _ = market
    inp = tmp_path / "in"
    _copy(root, months[:4], inp)
    args = ["scan", str(inp), "--out", str(tmp_path / "o"), "--incremental", str(tmp_path / "s")]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_every_new_row_rejected_publishes_the_rejects_and_exits_2(market, tmp_path, capsys):
    """A run whose new rows are all rejected publishes them with its summary and exits 2
    naming the published file (never one in its deleted staging); its partitions stay new."""
    root, months, _, _ = market
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    _copy(root, months[:3], inp)
    args = ["scan", str(inp), "--out", str(out), "--incremental", str(state), "--quiet"]
    assert main(args) == 0
    bad = pl.read_parquet(root / "all" / months[3] / "part-0.parquet")
    (inp / months[3]).mkdir()
    bad.with_columns(pl.lit(None, pl.Int64).alias("rating")).write_parquet(
        inp / months[3] / "part-0.parquet"
    )
    capsys.readouterr()
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    written = out / "runs" / "00002" / "rejected.parquet"
    assert f"{bad.height:,} null rating" in err and f"is in {written}." in err, err
    assert pl.read_parquet(written).height == bad.height
    summary = json.loads((written.parent / "summary.json").read_text())
    assert summary["rejected_reasons"] == {"null rating": bad.height}
    # the earlier run's output is still there, and the state goes with this version
    assert read_partitioned(out / "scores").height > 0
    manifest = json.loads((state / STATE_FILE).read_text())
    assert manifest["runs"] == 1 and len(manifest["partitions"]) == 3
    # fixed, the partition is new to the next run, which files it as run 2
    bad.write_parquet(inp / months[3] / "part-0.parquet")
    r = run_incremental(inp, out, state)
    assert r.summary["incremental"]["run"] == 2 and r.scores.height == bad.height
    assert not written.exists()


def test_first_run_with_every_row_rejected(market, tmp_path, capsys):
    root, months, _, _ = market
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / months[0]).mkdir(parents=True)
    bad = pl.read_parquet(root / "all" / months[0] / "part-0.parquet")
    bad.with_columns(pl.lit(None, pl.Int64).alias("rating")).write_parquet(
        inp / months[0] / "part-0.parquet"
    )
    args = ["scan", str(inp), "--out", str(out), "--incremental", str(tmp_path / "s")]
    assert main([*args, "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"is in {out / 'rejected.parquet'}." in err, err
    assert pl.read_parquet(out / "rejected.parquet").height == bad.height
    assert not (tmp_path / "s" / STATE_FILE).exists()


def test_later_review_of_an_order_seen_before_gets_its_own_id(market, tmp_path):
    """Without a review id column, a new partition holding only a 追评 of an order an earlier
    run scanned keeps the earlier review's id (the order id) and gives the new one
    ``<order>-<h8>``, as one load of every partition does; the next run still knows it."""
    root, months, _, _ = market
    inp = tmp_path / "in"
    for m in months[:3]:
        (inp / m).mkdir(parents=True)
        part = pl.read_parquet(root / "all" / m / "part-0.parquet").drop("review_id")
        part.write_parquet(inp / m / "part-0.parquet")
    r1 = run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)
    later = pl.read_parquet(inp / months[0] / "part-0.parquet").head(2)
    assert set(later["order_id"]) <= set(r1.loaded.reviews["review_id"])
    later = later.with_columns(
        pl.col("created_at") + pl.duration(days=3),
        pl.lit("追评：用了一个月，质量很好").alias("text"),
    )
    for i in range(2):  # a later run reads the first reviews the state kept
        (inp / f"followup-{i}").mkdir()
        later.slice(i, 1).write_parquet(inp / f"followup-{i}" / "part-0.parquet")
        r = run_incremental(inp, tmp_path / "out", tmp_path / "state", config=CONFIG)
        assert r.summary["incremental"]["duplicates_of_history"] == 0
        (rid,) = r.loaded.reviews["review_id"].to_list()
        order = later["order_id"][i]
        assert rid.startswith(f"{order}-") and len(rid) == len(order) + 9
    manifest = json.loads((tmp_path / "state" / STATE_FILE).read_text())
    assert manifest["first_reviews"] in manifest["files"]


def test_later_run_reads_the_input_as_the_first_did(tmp_path):
    """A later ``--incremental`` run takes the preset, shop and time zone the first run was
    given from --out's summary.json (ScanConfig.from_dict): the flags need not be repeated."""
    from benchmarks.exports import build_export

    export = build_export("taobao", seed=1, n=600)
    half = export.reviews.height // 2
    inp, out, state = tmp_path / "in", tmp_path / "out", str(tmp_path / "state")
    for i, part in enumerate((export.reviews.head(half), export.reviews.slice(half))):
        (inp / f"p{i}").mkdir(parents=True)
        part.write_csv(inp / f"p{i}" / "reviews.csv")
    (inp / "p1").rename(tmp_path / "p1")
    flags = ["--preset", "taobao", "--shop", "S1", "--timezone", "Asia/Tokyo"]
    argv = ["scan", str(inp), "--out", str(out), "--incremental", state, "--quiet"]
    assert main([*argv, *flags]) == 0
    (tmp_path / "p1").rename(inp / "p1")
    assert main(argv) == 0  # no StateError: the configuration is the recorded one
    summary = json.loads((out / "summary.json").read_text())
    assert summary["incremental"]["run"] == 2
    got = ScanConfig.from_dict(summary).input
    assert (got.preset, got.shop, got.timezone) == ("taobao", "S1", "Asia/Tokyo")
    assert summary["parameters"]["threshold_asked"] is not None  # the stored one, reused
