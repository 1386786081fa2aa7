"""Out-of-core scans (shards of whole shops) give the in-core scan's results."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from conftest import write_months

import detector.scan.outofcore as ooc
from benchmarks.generator import generate
from detector.cli import main
from detector.errors import InputError
from detector.input.rejects import DUPLICATE_REASON
from detector.input.spec import InputSpec
from detector.partition import read_partitioned
from detector.progress import ScanProgress
from detector.scan import ScanConfig, run_scan
from detector.scan.outofcore import stage_inputs
from features.pipeline import compute_features
from features.sharded import build_global_tables, shard_features
from models.content import content_keys
from models.isolation import OneSidedIsolationForest

CONFIG = ScanConfig(n_estimators=50)
#: Small shards: a 6,000-review input spans several of them.
SHARD = 900
KEYS = {
    "scores": ["review_id"],
    "features": ["review_id"],
    "explanations": ["review_id", "term"],
    "cases": ["case_id"],
    "rejected": ["review_id", "reason"],
}


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """6,000 generated reviews (seed 5) in month partitions: many input files."""
    reviews, _ = generate(6_000, seed=5)
    root = tmp_path_factory.mktemp("months")
    write_months(reviews, root)
    return root, reviews


def _outputs(out, name):
    if (out / name).is_dir():
        return read_partitioned(out / name)
    path = out / f"{name}.parquet"
    return pl.read_parquet(path) if path.exists() else None


def _assert_same_outputs(a, b):
    for name, key in KEYS.items():
        x, y = _outputs(a, name), _outputs(b, name)
        assert (x is None) == (y is None), name
        if x is None:
            continue
        assert x.columns == y.columns, name
        assert x.sort(key).equals(y.sort(key)), f"{name}.parquet differs"


def _hidden(out):
    return [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_out_of_core_scan_equals_the_in_core_scan(months, tmp_path):
    root, _ = months
    a = run_scan(root, tmp_path / "in", config=CONFIG)
    b = run_scan(root, tmp_path / "ooc", config=CONFIG, out_of_core=True, shard_rows=SHARD)
    assert b.summary["engine"]["out_of_core"]["shards"] >= 4
    _assert_same_outputs(tmp_path / "in", tmp_path / "ooc")
    for key in ("rows", "signals", "threshold", "cases", "parameters", "inputs"):
        assert a.summary[key] == b.summary[key], key
    # the in-memory result of a large scan: its flagged reviews, as written
    assert b.features is None and b.scores.height == b.summary["rows"]["flagged"]
    flagged = a.scores.filter(pl.col("flagged"))
    assert b.scores.sort("review_id").equals(flagged.sort("review_id"))
    assert _hidden(tmp_path / "ooc") == []


def test_out_of_core_metadata_only_and_partitioned_output(months, tmp_path):
    """No text, IP or devices (user and product nodes in the graph), month partitions out."""
    _, reviews = months
    meta = reviews.select("review_id", "shop_id", "product_id", "user_id", "rating", "created_at")
    root = tmp_path / "meta"
    root.mkdir()
    write_months(meta, root)
    a = run_scan(root, tmp_path / "in", config=CONFIG, partition_by="month")
    b = run_scan(
        root,
        tmp_path / "ooc",
        config=CONFIG,
        partition_by="month",
        out_of_core=True,
        shard_rows=SHARD,
    )
    assert "user" in a.summary["parameters"]["graph_kinds"]
    _assert_same_outputs(tmp_path / "in", tmp_path / "ooc")
    assert a.summary["rows"] == b.summary["rows"]


def test_rejects_and_review_ids_repeated_across_files(months, tmp_path):
    """Bad rows and later copies of an id (in another file) are rejected as in-core."""
    _, reviews = months
    first, second = reviews.head(3_000), reviews.tail(3_000)
    bad = second.head(4).with_columns(
        pl.lit(9, dtype=pl.Int8).alias("rating"), pl.col("review_id") + "-bad"
    )
    again = first.head(3)  # the same ids, later, in another file
    (tmp_path / "in").mkdir()
    first.write_parquet(tmp_path / "in" / "a.parquet")
    pl.concat([second, bad, again]).write_parquet(tmp_path / "in" / "b.parquet")
    a = run_scan(tmp_path / "in", tmp_path / "o1", config=CONFIG)
    b = run_scan(
        tmp_path / "in", tmp_path / "o2", config=CONFIG, out_of_core=True, shard_rows=SHARD
    )
    assert a.summary["rows"] == b.summary["rows"]
    assert b.summary["rows"]["rejected"] == 7
    rej = pl.read_parquet(tmp_path / "o2" / "rejected.parquet")
    assert sorted(rej.filter(pl.col("reason") == DUPLICATE_REASON)["review_id"]) == sorted(
        again["review_id"]
    )
    for name in ("scores", "features", "cases", "explanations"):
        x, y = _outputs(tmp_path / "o1", name), _outputs(tmp_path / "o2", name)
        assert x.sort(KEYS[name]).equals(y.sort(KEYS[name])), name


def test_first_copy_rejected_by_a_late_check_still_counts_as_first(months, tmp_path):
    """An id's first copy rejected for its IP (a check after the duplicate rule) still makes a
    later file's copies duplicates, valid or not, exactly as one load of every file does."""
    _, reviews = months
    first, second = reviews.head(3_000), reviews.tail(3_000)
    x, y, z = first.head(3).rows(named=True)
    bad_ip = {"ip": "999.0.0.1"}
    a_rows = pl.DataFrame([{**x, **bad_ip}, y, {**z, **bad_ip}], schema=first.schema)
    b_rows = pl.DataFrame(
        [
            x,  # valid, but the first copy of x (bad IP) is in a: a duplicate
            {**y, **bad_ip},  # rejected for its IP alone: reported as a duplicate of a's y
            {**y, "rating": None},  # rejected for its rating, which comes first
            {**z, **bad_ip},  # both copies of z rejected: the later one as a duplicate
        ],
        schema=first.schema,
    )
    (tmp_path / "in").mkdir()
    pl.concat([first.slice(3), a_rows]).write_parquet(tmp_path / "in" / "a.parquet")
    pl.concat([second, b_rows]).write_parquet(tmp_path / "in" / "b.parquet")
    a = run_scan(tmp_path / "in", tmp_path / "o1", config=CONFIG)
    b = run_scan(
        tmp_path / "in", tmp_path / "o2", config=CONFIG, out_of_core=True, shard_rows=SHARD
    )
    assert a.summary["rows"] == b.summary["rows"]
    _assert_same_outputs(tmp_path / "o1", tmp_path / "o2")
    rej = pl.read_parquet(tmp_path / "o2" / "rejected.parquet").sort("review_id", "reason")
    dups = rej.filter(pl.col("reason") == DUPLICATE_REASON)["review_id"].to_list()
    assert sorted(dups) == sorted([x["review_id"], y["review_id"], z["review_id"]])
    assert rej.height == 6  # x and z in a (IP), then x, y, y, z in b less the valid y in a


def test_shards_hold_whole_shops_and_every_review_once(months, tmp_path):
    root, reviews = months
    staged = stage_inputs(root, tmp_path / "staged")
    shards = staged.shards(SHARD)
    assert len(shards) >= 4
    parts = [staged.read_shard(lo, hi) for lo, hi in shards]
    assert sum(p.height for p in parts) == reviews.height == staged.n_valid
    rids = np.concatenate([p["_rid"].to_numpy() for p in parts])
    assert np.array_equal(np.sort(rids), np.arange(reviews.height))
    shop_sets = [set(p["shop_id"].unique()) for p in parts]
    assert sum(len(s) for s in shop_sets) == len(set().union(*shop_sets))
    for (lo, hi), p in zip(shards, parts, strict=True):
        # a shard over the limit is one bucket (one very large shop)
        assert p.height <= SHARD or np.count_nonzero(staged.bucket_rows[lo:hi]) == 1
        assert p["_rid"].is_sorted()


def test_progress_shows_one_score_line_for_all_shards_and_counts_files_staged(months, tmp_path):
    root, reviews = months
    progress = ScanProgress(enabled=False)
    run_scan(
        root, tmp_path / "o", config=CONFIG, out_of_core=True, shard_rows=SHARD, progress=progress
    )
    scoring = [s for s in progress.stages if s.name.startswith("score")]
    assert len(scoring) == 1 and scoring[0].name.endswith("shards)")
    assert scoring[0].done == reviews.height
    (load,) = [s for s in progress.stages if s.name.startswith("load")]
    assert (load.unit, load.done) == ("files", len(list(root.rglob("*.parquet"))))


def test_sharded_features_equal_whole_input_features(small_market):
    """Any split into whole shops gives every review the same feature values and keys."""
    reviews, _ = small_market
    whole = compute_features(reviews)
    src = reviews.with_row_index("_rid").with_columns(pl.col("_rid").cast(pl.Int64))
    glob = build_global_tables(src.lazy())
    shop_of = src.select((pl.col("shop_id").str.len_bytes() % 3).alias("_s"))["_s"]
    frames, keys = [], []
    for s in range(3):
        fr = shard_features(src.filter(shop_of == s), glob)
        assert fr.features == whole.features
        frames.append(fr.frame)
        keys.append(fr.keys)
    got = pl.concat(frames).sort("_rid")
    assert got.equals(whole.frame.sort("_rid"))
    assert (
        pl.concat(keys, how="diagonal_relaxed")
        .sort("_rid")
        .select(whole.keys.columns)
        .equals(whole.keys)
    )


def test_fit_on_the_sample_rows_equals_fit_on_all_rows():
    rng = np.random.default_rng(3)
    X = rng.exponential(size=(5_000, 4))
    kw = dict(max_fit_rows=1_000, n_estimators=20, random_state=7)
    keys = content_keys([f"r{i}" for i in range(X.shape[0])])
    full = OneSidedIsolationForest(**kw).fit(X, keys=keys)
    model = OneSidedIsolationForest(**kw)
    rows = np.sort(model.sample_rows(keys))  # gathered in storage order, as out of core
    part = model.fit_sample(X[rows], keys[rows])
    assert np.array_equal(full.score_samples(X), part.score_samples(X))
    with pytest.raises(ValueError, match="sample_rows"):
        OneSidedIsolationForest(**kw).fit_sample(X, keys)


def test_failed_out_of_core_scan_leaves_previous_output(months, tmp_path, monkeypatch):
    root, _ = months
    out = tmp_path / "out"
    run_scan(root, out, config=CONFIG)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ooc, "build_cases", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_scan(root, out, config=CONFIG, out_of_core=True, shard_rows=SHARD)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert _hidden(out) == []


def test_bad_input_file_is_named(months, tmp_path):
    root, _ = months
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="broken.parquet"):
        run_scan(bad, tmp_path / "out", out_of_core=True)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_cli_out_of_core_flags(months, tmp_path, capsys):
    root, _ = months
    code = main(
        ["scan", str(root), "--out", str(tmp_path / "o"), "--out-of-core", "--shard-rows", "2000"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "flagged" in printed
    assert (tmp_path / "o" / "scores.parquet").exists()
    code = main(
        [
            "scan",
            str(root),
            "--out",
            str(tmp_path / "o2"),
            "--quiet",
            "--out-of-core",
            "--incremental",
            str(tmp_path / "state"),
        ]
    )
    assert code == 2
    assert "cannot be combined" in capsys.readouterr().err
    code = main(
        ["scan", str(root), "--out", str(tmp_path / "o3"), "--out-of-core", "--engine", "ray"]
    )
    assert code == 2 and "polars engine" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["scan", str(root), "--out", str(tmp_path / "o4"), "--shard-rows", "0"])
    assert "at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists() and not (tmp_path / "o4").exists()


def test_mode_is_chosen_by_input_size_and_free_memory(months, tmp_path, monkeypatch, capsys):
    root, reviews = months
    need = reviews.height * ooc.IN_CORE_BYTES_PER_REVIEW
    monkeypatch.setattr(ooc, "available_memory", lambda: int(need / ooc.IN_CORE_SHARE) - 1)
    assert ooc.choose_out_of_core(root)[0]
    assert main(["scan", str(root), "--out", str(tmp_path / "small")]) == 0
    mode = pl.read_json(tmp_path / "small" / "summary.json")["mode"][0]
    assert mode["out_of_core"] and mode["chosen"] and "6,000 input rows" in mode["why"]
    assert "note:" in capsys.readouterr().err
    # asked for in core, it stays in core
    assert main(["scan", str(root), "--out", str(tmp_path / "forced"), "--in-core", "--quiet"]) == 0
    assert not pl.read_json(tmp_path / "forced" / "summary.json")["mode"][0]["out_of_core"]
    monkeypatch.setattr(ooc, "available_memory", lambda: int(need / ooc.IN_CORE_SHARE) + 10**6)
    assert not ooc.choose_out_of_core(root)[0]
    csv = tmp_path / "in.csv"
    reviews.head(100).write_csv(csv)
    monkeypatch.setattr(ooc, "available_memory", lambda: 0)
    assert ooc.choose_out_of_core(csv) == (False, ooc.choose_out_of_core(csv)[1])
    assert "CSV" in ooc.choose_out_of_core(csv)[1]


def test_time_window_out_of_core_equals_in_core(months, tmp_path):
    root, reviews = months
    lo, hi = reviews["created_at"].min(), reviews["created_at"].max()
    since, until = (lo + (hi - lo) * 0.3).isoformat(), (lo + (hi - lo) * 0.8).isoformat()
    spec = InputSpec(since=since, until=until)
    a = run_scan(root, tmp_path / "in", config=CONFIG, spec=spec)
    b = run_scan(
        root, tmp_path / "ooc", config=CONFIG, spec=spec, out_of_core=True, shard_rows=SHARD
    )
    assert 0 < a.summary["rows"]["scored"] < reviews.height
    assert a.summary["rows"] == b.summary["rows"] and a.summary["inputs"] == b.summary["inputs"]
    _assert_same_outputs(tmp_path / "in", tmp_path / "ooc")


def test_input_without_rows_is_reported_like_in_core(months, tmp_path):
    _, reviews = months
    empty = tmp_path / "in"
    empty.mkdir()
    reviews.head(0).write_parquet(empty / "a.parquet")
    reviews.head(0).write_parquet(empty / "b.parquet")
    with pytest.raises(InputError, match="no review rows in .*a.parquet") as ooc_err:
        run_scan(empty, tmp_path / "o1", out_of_core=True)
    with pytest.raises(InputError) as in_err:
        run_scan(empty, tmp_path / "o2")
    assert str(ooc_err.value) == str(in_err.value)


def test_orders_reviewed_again_in_another_file_get_the_in_core_ids(months, tmp_path):
    """Without a review id column, an order's first review (over every file) keeps the order
    id and later ones get ``<order>-<h8>``: out of core, file by file, as in core."""
    _, reviews = months
    export = reviews.head(4_000).drop("review_id")
    a, b = export.head(2_000), export.tail(2_000)
    shift = pl.when(pl.int_range(pl.len()) % 2 == 0).then(1).otherwise(-1)
    again = a.head(40).with_columns(  # half a day after the review in a, half a day before
        pl.col("created_at") + pl.duration(days=shift), pl.lit("追评：用了一周还不错").alias("text")
    )
    (tmp_path / "in").mkdir()
    a.write_parquet(tmp_path / "in" / "a.parquet")
    pl.concat([b, again]).write_parquet(tmp_path / "in" / "b.parquet")
    r1 = run_scan(tmp_path / "in", tmp_path / "o1", config=CONFIG)
    r2 = run_scan(
        tmp_path / "in", tmp_path / "o2", config=CONFIG, out_of_core=True, shard_rows=SHARD
    )
    assert r1.summary["rows"] == r2.summary["rows"]
    assert r2.summary["rows"]["rejected"] == 0
    ids = _outputs(tmp_path / "o2", "scores")["review_id"]
    assert ids.n_unique() == export.height + again.height
    assert ids.str.contains("-").sum() == again.height
    _assert_same_outputs(tmp_path / "o1", tmp_path / "o2")
