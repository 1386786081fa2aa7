"""``review-detector bench``: the smoke run writes well-formed outputs, and the pieces around it."""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks import baselines, report, runner
from benchmarks.generator import ATTACK_FAMILIES, TRAPS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _strict_json(path):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def tiny():
    return runner.synthetic_dataset(2_000, 1001)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, tiny):
    """One isolated run of every method plus the drop-one ablation on a tiny set."""
    out = tmp_path_factory.mktemp("bench")
    (out / "pr_curves_stale-dataset.png").write_bytes(PNG_MAGIC)  # left by an older run
    (out / "notes.txt").write_text("not ours")
    results = runner.run_bench(
        out,
        datasets=[tiny],
        ablation=["without history", "no propagation", "with propagation"],
        include_yelpchi=False,
        update_readme=False,
        command="pytest smoke",
        log=lambda msg: None,
    )
    return out, results


def test_smoke_writes_all_three_outputs(smoke, tiny):
    out, results = smoke
    name = tiny.name
    assert (out / "results.json").is_file()
    assert (out / "results.md").is_file()
    for png in (f"pr_curves_{name}.png", f"score_dist_{name}.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
        assert (out / png).stat().st_size > 10_000
    assert not (out / "pr_curves_stale-dataset.png").exists()  # our stale plot removed
    assert (out / "notes.txt").read_text() == "not ours"  # other files left alone
    assert not list(out.glob(".bench-staging-*"))
    on_disk = _strict_json(out / "results.json")
    assert on_disk["outputs"] == sorted(
        ["results.json", "results.md", f"pr_curves_{name}.png", f"score_dist_{name}.png"]
    )
    for key in ("machine", "versions", "git", "command", "seeds", "quality", "scale"):
        assert key in on_disk
    assert on_disk["machine"]["cpu_count"] >= 1
    assert on_disk["versions"]["polars"] and on_disk["versions"]["scikit-learn"]
    assert on_disk["seeds"] == [1001]
    assert on_disk["scale"]["status"] == "not run"


def test_smoke_every_method_ran_and_figures_are_sane(smoke, tiny):
    _, results = smoke
    d = results["quality"]["results"][tiny.name]
    assert d["n_reviews"] == 2_000
    # Methods whose optional extra is absent are reported as skipped, not run.
    assert set(d["methods"]) == {m for m in baselines.METHODS if not baselines.METHODS[m].missing()}
    for mid, m in d["methods"].items():
        assert m["status"] == "ok", (mid, m.get("error"))
        ev = m["metrics"]
        assert ev["n_reviews"] == 2_000
        assert 0.0 <= ev["roc_auc"] <= 1.0
        assert 0.0 < ev["average_precision"] <= 1.0
        assert set(ev["per_family"]) == set(ATTACK_FAMILIES), mid
        assert set(ev["per_trap"]) == set(TRAPS), mid
        assert m["seconds"] > 0
        assert m["peak_rss_mb"] >= m["base_rss_mb"] > 10
        assert m["memory_method"]
    # the engine beats chance clearly on planted fraud; so does the naive forest, less so
    assert d["methods"]["review_detector"]["metrics"]["roc_auc"] > 0.8


def test_smoke_figures_match_sklearn_on_an_independent_run(smoke, tiny):
    """The figure in results.json is sklearn's on the engine's scores, every review counted."""
    from detector.scan import ScanConfig, score_reviews

    _, results = smoke
    sr = score_reviews(tiny.reviews, ScanConfig(seed=0))
    s = (
        tiny.labels.select("review_id")
        .join(sr.scores, on="review_id", how="left", maintain_order="left")["score"]
        .to_numpy()
    )
    y = tiny.labels["is_fake"].to_numpy()
    m = results["quality"]["results"][tiny.name]["methods"]["review_detector"]["metrics"]
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_smoke_ablation_rows(smoke, tiny):
    _, results = smoke
    d = results["quality"]["results"][tiny.name]
    rows = {a["variant"]: a for a in d["ablation"]}
    full = d["methods"]["review_detector"]
    assert rows["all families"]["roc_auc"] == full["metrics"]["roc_auc"]
    used = full["info"]["families_used"]
    assert set(used) == {"burst", "identity", "text", "cooccurrence", "history"}
    row = rows["without history"]
    assert row["status"] == "ok"
    assert "history" not in row["families"]
    assert 0 < row["features"] < rows["all families"]["features"]
    assert row["delta_roc_auc"] == pytest.approx(row["roc_auc"] - full["metrics"]["roc_auc"])
    # only the variants asked for ran (plus the propagation toggle when ScanConfig has one)
    ran = {v for v, a in rows.items() if a["status"] == "ok"}
    assert ran - {"no propagation", "with propagation"} == {"all families", "without history"}
    if "propagate" in runner._scan_fields():
        assert ran & {"no propagation", "with propagation"}


def test_smoke_markdown_has_every_table(smoke, tiny):
    out, results = smoke
    md = (out / "results.md").read_text(encoding="utf-8")
    d = results["quality"]["results"][tiny.name]
    for section in (
        "## Summary",
        f"## {tiny.name}",
        "Per attack family",
        "Honest traps",
        "Ablation",
    ):
        assert section in md
    section = md[md.index(f"## {tiny.name}") :]
    for mid, m in d["methods"].items():
        label = f"**{m['label']}**" if mid == "review_detector" else m["label"]
        row = next(line for line in section.splitlines() if line.startswith(f"| {label} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{m['metrics']['roc_auc']:.3f}"
        assert cells[2] == f"{m['metrics']['average_precision']:.3f}"
    for line in md.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")
    header = next(line for line in md.splitlines() if line.startswith("| method | ROC-AUC | AP"))
    n_cols = header.count("|")
    table = md[md.index(header) :].split("\n\n")[0].splitlines()
    assert all(line.count("|") == n_cols for line in table)


# ----------------------------------------------------------------------------- skips and hooks


def test_missing_pyod_is_reported_as_skipped(monkeypatch, tiny):
    real = baselines.importlib.util.find_spec
    monkeypatch.setattr(
        baselines.importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] == "pyod" else real(name, *a),
    )
    run = runner.run_quality(
        [tiny], ["iforest_raw", "pyod_ecod", "pyod_hbos"], isolate=False, log=lambda m: None
    )
    got = run.results["results"][tiny.name]["methods"]
    assert list(got) == ["iforest_raw"]
    skipped = {s["what"]: s["reason"] for s in run.results["skipped"]}
    assert "pyod not installed" in skipped["method pyod_ecod"]
    assert "review-detector[pyod]" in skipped["method pyod_hbos"]


def test_absent_yelpchi_is_reported_as_skipped(monkeypatch, tmp_path, tiny):
    monkeypatch.setenv("REVIEW_DETECTOR_YELPCHI", str(tmp_path / "nope" / "metadata.gz"))
    run = runner.run_quality(
        [tiny], ["iforest_raw"], include_yelpchi=True, isolate=False, log=lambda m: None
    )
    assert list(run.results["results"]) == [tiny.name]
    (s,) = [s for s in run.results["skipped"] if s["what"] == "dataset yelpchi"]
    assert "not found" in s["reason"] and "REVIEW_DETECTOR_YELPCHI" in s["reason"]


def test_development_seeds_are_warned_about():
    run = runner.run_quality(
        None,
        ["iforest_raw"],
        sizes=[1_000],
        seeds=[3],
        ablation="none",
        include_yelpchi=False,
        isolate=False,
        log=lambda m: None,
    )
    assert list(run.results["results"]) == ["synthetic-1k-s3"]
    assert any("development seed" in w for w in run.results["warnings"])


def test_failing_method_is_reported_not_hidden(monkeypatch, tiny):
    def boom(reviews, seed=0):
        raise RuntimeError("kaput")

    m = baselines.METHODS["iforest_raw"]
    monkeypatch.setitem(
        baselines.METHODS, "iforest_raw", baselines.Method(m.id, m.label, boom, m.threshold_rule)
    )
    run = runner.run_quality([tiny], ["iforest_raw"], isolate=False, log=lambda m: None)
    got = run.results["results"][tiny.name]["methods"]["iforest_raw"]
    assert got["status"] == "failed" and "kaput" in got["error"]


def test_repeats_in_separate_processes_are_identical(tiny):
    """Baselines are bit-identical from one child process to the next (the check the bench reports)."""
    run = runner.run_quality([tiny], ["rank_average", "iforest_raw"], repeats=2, log=lambda m: None)
    for mid, m in run.results["results"][tiny.name]["methods"].items():
        assert m["status"] == "ok", mid
        assert len(m["seconds_runs"]) == 2
        assert m["repeats_identical"] is True, mid


def test_ablation_rows_are_ordered():
    rows = [
        {"variant": v}
        for v in ("no propagation", "only text", "without text", "all families", "without burst")
    ]
    rows.sort(key=runner._ablation_order)
    assert [r["variant"] for r in rows] == [
        "all families",
        "without burst",
        "without text",
        "only text",
        "no propagation",
    ]


def test_ablation_variants_follow_scan_config():
    names = {f for f in runner._scan_fields()}
    v = runner.ablation_variants(["history", "text"], "drop+alone")
    names_v = [x["variant"] for x in v]
    assert names_v[:4] == ["without history", "without text", "only history", "only text"]
    assert "history" not in v[0]["params"]["families"] and "burst" in v[0]["params"]["families"]
    assert v[2]["params"]["families"] == ["history"]
    assert any("propagation" in n for n in names_v) == ("propagate" in names)
    assert runner.ablation_variants(["history"], "drop+alone")[0]["variant"] == "without history"
    assert not any(
        x["variant"].startswith("only") for x in runner.ablation_variants(["history"], "drop+alone")
    )
    assert runner.ablation_variants(["history"], "none") == []


def test_scale_hook(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "benchmarks.scale", raising=False)
    real = runner.importlib.import_module

    def no_scale(name, *a):
        if name == "benchmarks.scale":
            raise ModuleNotFoundError("No module named 'benchmarks.scale'", name=name)
        return real(name, *a)

    monkeypatch.setattr(runner.importlib, "import_module", no_scale)
    assert runner.run_scale_suite(tmp_path, True)["status"] == "not available"
    monkeypatch.setattr(runner.importlib, "import_module", real)

    calls = []

    def run_scale(out_dir, quick, sizes=None):
        calls.append((out_dir, quick, sizes))
        (out_dir / "time_vs_size.png").write_bytes(PNG_MAGIC + b"theirs")
        return {
            "sizes": [
                {
                    "reviews": 100_000,
                    "engine": "polars",
                    "seconds": 9.5,
                    "peak_gb": 0.8,
                    "returncode": 0,
                    "quality": {"roc_auc": 0.99, "ap": 0.9},
                },
                {
                    "reviews": 1_000_000,
                    "engine": "polars",
                    "seconds": 88.0,
                    "peak_gb": 2.5,
                    "returncode": 0,
                    "meets_target": False,
                },
            ]
        }

    monkeypatch.setitem(sys.modules, "benchmarks.scale", types.SimpleNamespace(run_scale=run_scale))
    res = runner.run_bench(tmp_path, suite="scale", quick=True, log=lambda m: None)
    assert calls == [(tmp_path, True, None)]
    assert res["scale"]["status"] == "ok"
    assert res["quality"]["status"] == "not run"
    # the scale suite's chart is its own: listed, never overwritten or removed
    assert (tmp_path / "time_vs_size.png").read_bytes() == PNG_MAGIC + b"theirs"
    assert "time_vs_size.png" in res["outputs"]
    md = (tmp_path / "results.md").read_text()
    assert "## Scale" in md
    assert "| 100,000 | polars (in-core) | 9.50 | 0.80 | 0.990 | 0.900 | – |" in md
    assert "| 1,000,000 | polars (in-core) | 88.0 | 2.50 | – | – | no |" in md


def test_cli_scale_suite_scans_only_the_sizes_given(monkeypatch, tmp_path):
    from detector.cli import main

    calls = []

    def run_scale(out_dir, quick, sizes=None):
        calls.append(sizes)
        return {"sizes": []}

    monkeypatch.setitem(sys.modules, "benchmarks.scale", types.SimpleNamespace(run_scale=run_scale))
    argv = ["bench", "--suite", "scale", "--sizes", "100000", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert main(argv[:3] + argv[5:]) == 0
    assert calls == [[100_000], None]


def test_time_vs_size_of_methods_when_several_sizes(tmp_path):
    run = runner.run_quality(
        None,
        ["iforest_raw", "rank_average"],
        sizes=[1_000, 2_000],
        seeds=[1001],
        include_yelpchi=False,
        isolate=False,
        log=lambda m: None,
    )
    results = {"quality": run.results, "scale": {"status": "not run"}}
    runner.write_outputs(results, run, tmp_path)
    assert (tmp_path / "time_vs_size_methods.png").read_bytes()[:8] == PNG_MAGIC
    assert [p["n_reviews"] for p in runner.time_points(run.results["results"])] == [
        1_000,
        1_000,
        2_000,
        2_000,
    ]


def test_update_readme_between_markers(tmp_path):
    results = {
        "command": "review-detector bench",
        "git": {"commit": "abc"},
        "quality": {
            "methods": {"review_detector": {"label": "review-detector"}},
            "aggregate": [],
            "results": {
                "yelpchi": {
                    "kind": "yelpchi",
                    "methods": {
                        "review_detector": {
                            "status": "ok",
                            "label": "review-detector",
                            "seconds": 12.5,
                            "metrics": {"roc_auc": 0.71234, "average_precision": 0.2},
                        }
                    },
                    "references": [
                        {
                            "method": "SpEagle via UGFraud (quoted)",
                            "roc_auc": 0.766,
                            "average_precision": 0.302,
                            "seconds": 102.0,
                            "source": "notes",
                        }
                    ],
                }
            },
        },
    }
    readme = tmp_path / "README.md"
    before = (
        "# Title\n\nintro\n\n"
        + report.START
        + "\nold table\n"
        + report.END
        + "\n\n## After\ntext\n"
    )
    readme.write_text(before)
    assert report.update_readme(readme, results, tmp_path / "results")
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n" + report.START + "\n")
    assert text.endswith(report.END + "\n\n## After\ntext\n")
    assert "old table" not in text
    assert "0.712 / 0.200 / 12.5" in text
    assert "SpEagle via UGFraud (quoted) †" in text and "0.766 / 0.302 / 102.0" in text
    assert "[results/results.md](results/results.md)" in text
    once = text
    assert report.update_readme(readme, results, tmp_path / "results")
    assert readme.read_text() == once  # idempotent
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not report.update_readme(plain, results)
    assert plain.read_text() == "no markers\n"
    assert not report.update_readme(tmp_path / "missing.md", results)


def test_cli_parses_bench_options():
    from benchmarks.bench_cli import METHOD_IDS
    from detector.cli import build_parser

    args = build_parser().parse_args(
        ["bench", "--quick", "--seeds", "1001,1002", "--sizes", "20_000", "--out", "x"]
    )
    assert (args.command, args.quick, args.seeds, args.sizes, args.out) == (
        "bench",
        True,
        [1001, 1002],
        [20_000],
        "x",
    )
    assert args.suite == "quality" and args.update_readme is None
    assert tuple(baselines.METHODS) == METHOD_IDS


def test_cli_bench_runs_end_to_end(tmp_path):
    """The real command with a small set: exit code 0 and the outputs."""
    from detector.cli import main

    code = main(
        [
            "bench",
            "--quick",
            "--sizes",
            "1000",
            "--seeds",
            "1001",
            "--methods",
            "iforest_raw,rank_average",
            "--no-yelpchi",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    res = _strict_json(tmp_path / "results.json")
    assert set(res["quality"]["results"]["synthetic-1k-s1001"]["methods"]) == {
        "iforest_raw",
        "rank_average",
    }
    assert (tmp_path / "pr_curves_synthetic-1k-s1001.png").is_file()


def test_clean_makes_strict_json():
    cleaned = runner._clean({"a": math.nan, "b": [np.float64(1.5), np.int64(2), (math.inf,)]})
    assert cleaned == {"a": None, "b": [1.5, 2, [None]]}


def test_scale_suite_reports_the_median_of_interleaved_runs(tmp_path, monkeypatch):
    """Two real CLI scans of one small size: every run listed, median wall time, largest peak."""
    from benchmarks import scale

    monkeypatch.setattr(scale, "YELPCHI_META", tmp_path / "absent.gz")
    res = scale.run_scale(tmp_path, sizes=[3_000], repeats=2)
    row, ooc = res["sizes"]
    assert (row["mode"], ooc["mode"]) == ("in-core", "out-of-core")
    # the out-of-core scan gives the in-core results
    assert ooc["returncode"] == 0 and ooc["quality"] == row["quality"]
    assert row["returncode"] == 0 and len(row["runs"]) == 2
    secs = sorted(r["seconds"] for r in row["runs"])
    assert row["seconds"] == pytest.approx(sum(secs) / 2, abs=0.01)
    assert row["peak_gb"] == max(r["peak_gb"] for r in row["runs"]) > 0
    assert row["quality"]["roc_auc"] > 0.8 and set(row["stages_s"]) >= {"load", "features"}
    assert res["yelpchi"] == {"skipped": f"{tmp_path / 'absent.gz'} not found"}
    assert (tmp_path / "scale.json").is_file() and (tmp_path / "time_vs_size.png").is_file()
