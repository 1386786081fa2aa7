"""IP属地: the generator's provinces and the region_burst feature."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from benchmarks import matrix
from benchmarks.exports import build_export, write_export
from benchmarks.generator import GeneratorConfig, generate
from benchmarks.metrics import roc_auc
from benchmarks.packets import SHOP
from benchmarks.regions import PROVINCES
from detector.cli import main
from detector.evidence.scanload import load_scan
from features.pipeline import compute_features
from features.registry import REGISTRY


@pytest.fixture(scope="module")
def regional_market():
    cfg = replace(GeneratorConfig(), ip_region=True, regional_shop_share=0.5)
    return generate(4_000, seed=5, config=cfg)


def test_default_market_is_unchanged_by_regions(regional_market):
    plain, labels = generate(4_000, seed=5)
    reviews, with_labels = regional_market
    assert "ip_region" not in plain.columns
    assert reviews.drop("ip_region").equals(plain) and with_labels.equals(labels)


def test_every_review_has_a_province_one_per_address(regional_market):
    reviews, labels = regional_market
    assert reviews["ip_region"].null_count() == 0
    assert set(reviews["ip_region"].unique()) <= set(PROVINCES)
    per_ip = reviews.group_by("ip").agg(pl.col("ip_region").n_unique().alias("k"))
    assert per_ip["k"].max() == 1  # an address sits in one province
    # a regional shop's buyers are mostly from its province
    top = reviews.group_by("shop_id").agg(
        (pl.col("ip_region") == pl.col("ip_region").mode().first()).mean().alias("top")
    )
    assert top["top"].max() > 0.4
    # farms sit in one to three provinces
    fakes = reviews.with_columns(labels["campaign_id"]).filter(labels["is_fake"])
    per_campaign = fakes.group_by("campaign_id").agg(pl.col("ip_region").n_unique().alias("k"))
    assert per_campaign["k"].max() <= 3


def test_without_regional_shops_buyers_come_from_everywhere_by_population():
    cfg = replace(GeneratorConfig(), ip_region=True, regional_shop_share=0.0)
    reviews, labels = generate(3_000, seed=6, config=cfg)
    honest = reviews.filter(~labels["is_fake"])["ip_region"].value_counts(sort=True)
    assert honest.height >= 25 and honest["count"][0] < 0.2 * honest["count"].sum()
    share = dict(honest.iter_rows())
    assert share["广东"] > share["宁夏"] and share["山东"] > share["青海"]


def test_proxy_pools_spread_over_many_provinces_and_no_ip_drops_the_address():
    reviews, labels = matrix.build_cell("boost", "proxy_pool", 1, 3_000)
    fakes = reviews.with_columns(labels["campaign_id"]).filter(labels["is_fake"])
    spread = fakes.group_by("campaign_id").agg(pl.col("ip_region").n_unique().alias("k"))
    assert spread["k"].median() >= 5
    no_ip, _ = matrix.build_cell("boost", "no_ip", 1, 3_000)
    assert "ip" not in no_ip.columns and no_ip["ip_region"].null_count() == 0


def test_region_burst_finds_one_provinces_burst_of_aged_accounts():
    aucs = []
    for seed in (0, 1):
        reviews, labels = matrix.build_cell("signal", "region_burst", seed, 4_000)
        fr = compute_features(reviews)
        assert "region_burst" in fr.features
        aucs.append(roc_auc(labels["is_fake"].to_numpy(), fr.frame["region_burst"].to_numpy()))
    assert min(aucs) >= 0.9, aucs


def _steady(region_of_row, n=400, seed=0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(n)],
            "shop_id": "s1",
            "product_id": [f"p{i % 4}" for i in range(n)],
            "user_id": [f"u{i}" for i in range(n)],
            "rating": pl.Series(np.full(n, 5), dtype=pl.Int8),
            "created_at": [
                t0 + timedelta(hours=float(h)) for h in np.sort(rng.uniform(0, 2400, n))
            ],
            "ip_region": region_of_row(rng, n),
        }
    ).with_columns(pl.col("created_at").dt.cast_time_unit("us"))


def test_a_regional_shops_steady_local_buyers_are_no_burst():
    # 90 % of the shop's buyers from one province, all the time
    df = _steady(lambda rng, n: np.where(rng.random(n) < 0.9, "浙江", "广东").tolist())
    fr = compute_features(df)
    assert fr.frame["region_burst"].max() < 3.0


def test_a_burst_from_one_province_on_a_national_shop_is_found():
    df = _steady(lambda rng, n: rng.choice(list(PROVINCES), n).tolist())
    t = datetime(2025, 2, 1, 20, tzinfo=UTC)
    burst = pl.DataFrame(
        {
            "review_id": [f"b{i}" for i in range(25)],
            "shop_id": "s1",
            "product_id": "p1",
            "user_id": [f"x{i}" for i in range(25)],
            "rating": pl.Series([5] * 25, dtype=pl.Int8),
            "created_at": [t + timedelta(minutes=10 * i) for i in range(25)],
            "ip_region": "宁夏",
        }
    ).with_columns(pl.col("created_at").dt.cast_time_unit("us"))
    fr = compute_features(pl.concat([df, burst]))
    value = dict(zip(fr.frame["review_id"], fr.frame["region_burst"], strict=True))
    assert min(value[f"b{i}"] for i in range(25)) > 10.0
    assert max(v for k, v in value.items() if k.startswith("r")) < 3.0


def test_region_burst_is_skipped_and_said_without_ip_region():
    df = _steady(lambda rng, n: ["广东"] * n).drop("ip_region")
    fr = compute_features(df)
    assert "region_burst" not in fr.features
    assert fr.unavailable["region_burst"] == ["ip_region"]
    feat = REGISTRY.get("region_burst")
    assert feat.zh and feat.en and feat.direction == 1


def _recount(facts: dict, r: dict, data: pl.DataFrame) -> None:
    """A region_burst reason's counts, recounted from the reviews as the scan read them."""
    pol = (pl.col("rating") >= 4).cast(pl.Int8) - (pl.col("rating") <= 2).cast(pl.Int8)
    mine = 1 if r["rating"] >= 4 else -1
    known = data.filter(pl.col("ip_region").is_not_null())
    near = known.filter(
        (pl.col("product_id") == r["product_id"])
        & (pol == mine)
        & ((pl.col("created_at") - r["created_at"]).dt.total_seconds().abs() <= 12 * 3600)
    )
    same = near.filter(pl.col("ip_region") == r["ip_region"])
    assert facts["region"] == r["ip_region"]
    assert facts["n"] == near.height and facts["k"] == same.height >= 0.8 * near.height
    shop = known.filter(pl.col("shop_id") == r["shop_id"])
    assert facts["m"] == shop.height - near.height
    assert facts["m_k"] == shop.filter(pl.col("ip_region") == r["ip_region"]).height - same.height


def test_an_export_with_ip_region_and_no_ip_runs_scan_to_evidence(tmp_path):
    # seed 7: the smear's buyers are 90 % from one province
    export = build_export("douyin", seed=7, n=1500, ip_region=True)
    assert "IP属地" in export.reviews.columns
    paths = write_export(export, tmp_path / "export", fmt="csv")
    scan, packet = tmp_path / "scan", tmp_path / "packet"
    argv = ["scan", str(paths["reviews"]), "--out", str(scan), "--preset", "douyin"]
    assert main([*argv, "--shop", SHOP, "--orders", str(paths["orders"]), "--quiet"]) == 0
    summary = json.loads((scan / "summary.json").read_text(encoding="utf-8"))
    assert "region_burst" in json.dumps(summary)
    code = main(["evidence", str(scan), "--shop", SHOP, "--out", str(packet), "--quiet"])
    assert code == 0
    data = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    assert data["cases"]
    # every region reason the packet gives holds in the export as the scan read it
    reviews = load_scan(scan).reviews
    rows = {r["review_id"]: r for r in reviews.iter_rows(named=True)}
    checked = 0
    for c in data["cases"]:
        for r in c["reviews"]:
            for reason in r["reasons"]:
                if reason.get("feature") == "region_burst":
                    _recount(reason["facts"], rows[r["review_id"]], reviews)
                    assert reason["facts"]["region"] in reason["text"]
                    checked += 1
    assert checked >= 5
    # and the reviews the packet cites are the smear's
    truth = dict(export.truth.select("order_id", "is_fake").iter_rows())
    cited = [r["order_id"] for c in data["cases"] for r in c["reviews"]]
    assert sum(truth[o] for o in cited) >= 0.9 * len(cited)
