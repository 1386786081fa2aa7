"""The synthetic market generator: contract, labels, determinism, knobs."""

from __future__ import annotations

import dataclasses
import ipaddress
import time

import polars as pl
import pytest

from benchmarks.generator import (
    ALL_TRAPS,
    ATTACK_FAMILIES,
    TRAPS,
    BoostConfig,
    GeneratorConfig,
    ProNegativeConfig,
    RingConfig,
    SmearConfig,
    generate,
    write_dataset,
)
from benchmarks.texts import DEFAULT_TEXTS
from detector.input.schema import CONTRACT, EXPORT_ONLY, LABEL_COLUMNS

N = 5_000


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate(N, seed=7)


@pytest.fixture(scope="module")
def joined(data) -> pl.DataFrame:
    reviews, labels = data
    return reviews.join(labels, on="review_id", how="inner", validate="1:1")


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    reviews, labels = generate(20_000, seed=11)
    return reviews.join(labels, on="review_id", how="inner", validate="1:1")


# ---------------------------------------------------------------- determinism


def test_same_seed_same_frames():
    a = generate(2_000, seed=3)
    b = generate(2_000, seed=3)
    assert a[0].equals(b[0]) and a[1].equals(b[1])


def test_different_seed_different_frames():
    a, _ = generate(2_000, seed=3)
    b, _ = generate(2_000, seed=4)
    assert not a.equals(b)
    assert not a["text"].equals(b["text"])
    assert not a["created_at"].equals(b["created_at"])


# ---------------------------------------------------------------- contract


def test_reviews_follow_contract_exactly(data):
    reviews, _ = data
    assert reviews.height == N
    market = {c: t for c, t in CONTRACT.items() if c not in EXPORT_ONLY}
    assert dict(reviews.schema) == market
    assert list(reviews.columns) == list(market)
    required_no_nulls = [c for c in market if c != "device_id"]
    assert reviews.select(pl.col(required_no_nulls).null_count()).row(0) == (0,) * len(
        required_no_nulls
    )
    assert 0 < reviews["device_id"].null_count() < 0.1 * N


def test_sorted_by_created_then_review_id(data):
    reviews, _ = data
    assert reviews.select(["created_at", "review_id"]).equals(
        reviews.select(["created_at", "review_id"]).sort(["created_at", "review_id"])
    )


def test_identifiers_unique(data):
    reviews, _ = data
    assert reviews["review_id"].n_unique() == N
    assert reviews["order_id"].n_unique() == N


def test_ranges(data):
    reviews, _ = data
    for c in ("rating", "dsr_description", "dsr_service", "dsr_logistics"):
        assert reviews[c].min() >= 1 and reviews[c].max() <= 5
    assert (reviews["delivered_at"] <= reviews["created_at"]).all()
    span = reviews["created_at"].max() - reviews["created_at"].min()
    assert span.days >= 300


def test_ips_valid_with_ipv6(data):
    reviews, _ = data
    versions = [ipaddress.ip_address(x).version for x in reviews["ip"].to_list()]
    v6 = versions.count(6) / len(versions)
    assert 0.07 < v6 < 0.25


def test_chinese_and_english_texts(data):
    reviews, _ = data
    english = reviews["text"].str.contains(r"^[A-Za-z]").mean()
    chinese = reviews["text"].str.contains(r"\p{Han}").mean()
    assert 0.05 < english < 0.16
    assert chinese > 0.8
    assert reviews["text"].str.contains("，").any()  # full-width punctuation


# ---------------------------------------------------------------- labels


def test_labels_schema_and_one_to_one(data, joined):
    reviews, labels = data
    assert labels.columns == ["review_id", *LABEL_COLUMNS]
    assert labels.schema == pl.Schema(
        {
            "review_id": pl.String,
            "is_fake": pl.Boolean,
            "attack_type": pl.String,
            "campaign_id": pl.String,
            "trap": pl.String,
        }
    )
    assert labels.height == reviews.height == joined.height
    assert labels["review_id"].equals(reviews["review_id"])


def test_label_consistency(joined):
    fake = joined.filter("is_fake")
    honest = joined.filter(~pl.col("is_fake"))
    assert fake["attack_type"].null_count() == 0 and fake["campaign_id"].null_count() == 0
    assert fake["trap"].null_count() == fake.height
    assert honest["attack_type"].null_count() == honest.height
    assert honest["campaign_id"].null_count() == honest.height
    assert set(fake["attack_type"].unique()) <= set(ATTACK_FAMILIES)
    assert set(joined["trap"].drop_nulls().unique()) <= set(TRAPS)
    prefix = fake["campaign_id"].str.replace(r"-\d{4}$", "")
    assert (prefix == fake["attack_type"]).all()


def test_every_family_and_trap_present(joined):
    fake = joined.filter("is_fake")
    for fam in ATTACK_FAMILIES:
        assert fake.filter(pl.col("attack_type") == fam)["campaign_id"].n_unique() >= 3, fam
    for trap in TRAPS:
        assert (joined["trap"] == trap).sum() >= 50, trap


def test_fraud_share_near_config(joined, big):
    assert 0.03 < joined["is_fake"].mean() < 0.09
    assert 0.04 < big["is_fake"].mean() < 0.065
    cfg = GeneratorConfig(fraud_share=0.10)
    _, labels = generate(20_000, seed=11, config=cfg)
    assert 0.085 < labels["is_fake"].mean() < 0.12


def test_no_fraud_when_share_zero():
    _, labels = generate(2_000, seed=1, config=GeneratorConfig(fraud_share=0.0))
    assert not labels["is_fake"].any()


# ---------------------------------------------------------------- honest market


def test_honest_market_shape(big):
    honest = big.filter(~pl.col("is_fake"))
    per_user = honest.group_by("user_id").len()["len"]
    assert 0.28 < (per_user == 1).mean() < 0.42
    assert per_user.max() >= 24
    stars = honest["rating"].value_counts(normalize=True).sort("rating")["proportion"].to_list()
    assert 0.65 < stars[4] < 0.85 and 0.02 < stars[0] < 0.09
    # DSR follows the rating
    assert honest.filter(pl.col("rating") == 5)["dsr_description"].mean() > 4.5
    assert honest.filter(pl.col("rating") == 1)["dsr_description"].mean() < 2.5
    # evening peak (China time)
    hour = honest["created_at"].dt.convert_time_zone("Asia/Shanghai").dt.hour()
    assert (hour.is_between(19, 22)).mean() > 2 * (hour.is_between(2, 5)).mean()
    delay_days = (honest["created_at"] - honest["delivered_at"]).dt.total_seconds() / 86400
    assert delay_days.min() >= 0.5 - 1e-6 and delay_days.max() <= 15 + 1e-6


def test_default_texts_only_in_trap(joined):
    is_default = pl.col("text").is_in(list(DEFAULT_TEXTS))
    assert joined.filter(pl.col("trap") == "default_text").select(is_default.all()).item()
    assert not joined.filter(pl.col("trap") != "default_text").select(is_default.any()).item()
    assert not joined.filter(pl.col("trap").is_null()).select(is_default.any()).item()


def test_flash_sale_is_a_burst_of_distinct_buyers(joined):
    flash = joined.filter(pl.col("trap") == "flash_sale")
    per = flash.group_by("product_id").agg(
        pl.len(),
        pl.col("user_id").n_unique().alias("users"),
        (pl.col("created_at").max() - pl.col("created_at").min()).alias("span"),
        (pl.col("created_at") - pl.col("delivered_at")).median().alias("delay"),
    )
    assert (per["len"] == per["users"]).all()
    assert per["span"].max().total_seconds() <= 6 * 3600
    assert per["delay"].min().total_seconds() > 12 * 3600  # ordinary delivery delays
    others = joined.filter(pl.col("user_id").is_in(flash["user_id"].implode()))
    assert others.height > 1.5 * flash.height  # buyers with other history


def test_shared_ips_are_shared_by_many_buyers(big):
    shared = big.filter(pl.col("trap") == "shared_ip")
    per_ip = shared.group_by("ip").agg(pl.col("user_id").n_unique(), pl.col("shop_id").n_unique())
    assert per_ip["user_id"].max() >= 50
    assert not shared["ip"].str.contains(":").any()


# ---------------------------------------------------------------- attacks


def _campaigns(df: pl.DataFrame, family: str) -> pl.DataFrame:
    return (
        df.filter(pl.col("attack_type") == family)
        .group_by("campaign_id")
        .agg(
            pl.len(),
            pl.col("text").n_unique().alias("texts"),
            pl.col("ip").n_unique().alias("ips"),
            pl.col("shop_id").n_unique().alias("shops"),
            pl.col("user_id").n_unique().alias("users"),
            (
                (pl.col("created_at").max() - pl.col("created_at").min()).dt.total_seconds() / 3600
            ).alias("hours"),
            ((pl.col("created_at") - pl.col("delivered_at")).dt.total_seconds() / 60)
            .max()
            .alias("max_delay_min"),
            pl.col("rating").mean().alias("stars"),
        )
    )


def test_attack_shapes(joined):
    boost = _campaigns(joined, "boost")
    assert (boost["shops"] == 1).all() and (boost["stars"] > 4.8).all()
    assert (boost["hours"] <= 48).all() and (boost["max_delay_min"] <= 120 + 1e-6).all()
    smear = _campaigns(joined, "smear")
    assert (smear["shops"] == 1).all() and (smear["stars"] < 1.6).all()
    ring = joined.filter(pl.col("attack_type") == "ring")
    # lockstep: within a ring every product is reviewed by most of the ring's accounts
    cover = ring.group_by("campaign_id", "product_id").agg(pl.col("user_id").n_unique().alias("k"))
    size = ring.group_by("campaign_id").agg(pl.col("user_id").n_unique().alias("n"))
    cover = cover.join(size, on="campaign_id")
    assert (cover["k"] >= 0.5 * cover["n"]).all()
    # ring accounts also write camouflage reviews, labelled honest
    accounts = ring["user_id"].unique().implode()
    camo = joined.filter(pl.col("user_id").is_in(accounts) & ~pl.col("is_fake"))
    assert camo.height > 0 and camo["trap"].null_count() == camo.height
    pro = joined.filter(pl.col("attack_type") == "pro_negative")
    per_acc = pro.group_by("user_id").agg(pl.len(), pl.col("shop_id").n_unique().alias("shops"))
    assert per_acc["len"].min() >= 5 and pro["rating"].max() <= 2
    assert pro["text"].str.contains("赔|退|差评|投诉|举报|说法|处理|联系|答复|装死").all()


def _boost_only(**knobs) -> GeneratorConfig:
    return GeneratorConfig(
        boost=BoostConfig(n_campaigns=4, **knobs),
        smear=SmearConfig(n_campaigns=0),
        ring=RingConfig(n_campaigns=0),
        pro_negative=ProNegativeConfig(n_campaigns=0),
    )


def test_paraphrase_zero_gives_identical_texts():
    reviews, labels = generate(3_000, seed=5, config=_boost_only(paraphrase=0.0))
    camp = _campaigns(reviews.join(labels, on="review_id"), "boost")
    assert camp.height == 4 and (camp["texts"] == 1).all()
    reviews, labels = generate(3_000, seed=5, config=_boost_only(paraphrase=0.9))
    camp = _campaigns(reviews.join(labels, on="review_id"), "boost")
    assert (camp["texts"] > 0.5 * camp["len"]).all()


def test_time_spread_and_ip_knobs():
    cfg = _boost_only(spread_hours=(3.0, 3.0), fresh_ip_share=0.0, size=(40, 40))
    reviews, labels = generate(3_000, seed=6, config=cfg)
    camp = _campaigns(reviews.join(labels, on="review_id"), "boost")
    assert (camp["hours"] <= 3.0).all() and (camp["len"] == 40).all()
    assert (camp["ips"] <= 10).all()  # a pool of at most 10 hosts
    boost = reviews.join(labels, on="review_id").filter(pl.col("attack_type") == "boost")
    subnets = boost.group_by("campaign_id").agg(
        pl.col("ip").str.replace(r"\.\d+$", "").n_unique().alias("nets")
    )
    assert (subnets["nets"] == 1).all()  # one shared /24
    cfg = dataclasses.replace(cfg, boost=dataclasses.replace(cfg.boost, fresh_ip_share=1.0))
    reviews, labels = generate(3_000, seed=6, config=cfg)
    camp = _campaigns(reviews.join(labels, on="review_id"), "boost")
    assert (camp["ips"] >= 0.9 * camp["len"]).all()


# ---------------------------------------------------------------- files and speed


def test_write_dataset_round_trip(tmp_path, data):
    reviews, labels = data
    rp, lp = write_dataset(tmp_path / "synth", reviews, labels)
    assert rp.name == "reviews.parquet" and lp.name == "labels.parquet"
    assert pl.read_parquet(rp).equals(reviews)
    assert pl.read_parquet(lp).equals(labels)
    assert sorted(p.name for p in (tmp_path / "synth").iterdir()) == [
        "labels.parquet",
        "reviews.parquet",
    ]


def test_fifty_thousand_reviews_generate_quickly():
    t0 = time.perf_counter()
    reviews, _ = generate(50_000, seed=1)
    assert reviews.height == 50_000
    assert time.perf_counter() - t0 < 8.0


# ---------------------------------------------------------------- matrix knobs


def test_knobs_of_traps_left_off_change_nothing():
    """A trap at share 0 draws nothing: its other knobs cannot move the market."""
    base = generate(2_000, seed=9)
    off = GeneratorConfig(
        campus_hosts=(100, 200),
        ipv6_mobile_pool_reviews=5.0,
        common_phrases=1,
        repeat_same_text=1.0,
        defect_batch_size=(5, 6),
        boost=BoostConfig(history=(1, 2), pool_prefix=24),
    )
    other = generate(2_000, seed=9, config=off)
    assert base[0].equals(other[0]) and base[1].equals(other[1])


def test_new_traps_are_honest_and_labelled():
    cfg = GeneratorConfig(
        campus_share=0.04,
        ipv6_mobile_share=0.04,
        common_phrase_share=0.04,
        repeat_buyer_share=0.04,
        defect_batch_share=0.03,
    )
    reviews, labels = generate(8_000, seed=12, config=cfg)
    counts = dict(labels.drop_nulls("trap").group_by("trap").len().iter_rows())
    for trap, share in [
        ("campus", 0.04),
        ("ipv6_mobile", 0.04),
        ("common_phrase", 0.04),
        ("repeat_buyer", 0.04),
        ("defect_batch", 0.03),
    ]:
        assert counts.get(trap, 0) >= 0.5 * share * 8_000, (trap, counts)
    assert set(counts) <= set(ALL_TRAPS)
    assert not labels.filter(pl.col("trap").is_not_null())["is_fake"].any()


def test_campaign_pool_over_a_slash16_and_perturbed_texts():
    cfg = _boost_only(pool_prefix=16, pool_hosts=(30, 40), fresh_ip_share=0.0, perturb=1.0)
    reviews, labels = generate(3_000, seed=5, config=cfg)
    camp = reviews.join(labels, on="review_id").filter(pl.col("is_fake"))
    per = camp.group_by("campaign_id").agg(
        pl.col("ip").str.extract(r"^(\d+\.\d+)\.").n_unique().alias("n16"),
        pl.col("ip").str.extract(r"^(\d+\.\d+\.\d+)\.").n_unique().alias("n24"),
        pl.col("text").n_unique().alias("texts"),
        pl.len(),
    )
    assert (per["n16"] == 1).all() and (per["n24"] >= 10).all()
    assert (per["texts"] >= 0.95 * per["len"]).all()


def test_aged_accounts_get_a_history_before_their_campaign():
    reviews, labels = generate(6_000, seed=5, config=_boost_only(aged_share=1.0, history=(4, 4)))
    df = reviews.join(labels, on="review_id")
    fake = df.filter(pl.col("is_fake"))
    first = fake.group_by("user_id").agg(pl.col("created_at").min().alias("first"))
    hist = df.filter(~pl.col("is_fake")).join(first, on="user_id")
    assert hist.group_by("user_id").len()["len"].max() == 4
    assert hist["user_id"].n_unique() == first.height
    assert (hist["created_at"] < hist["first"]).all()
