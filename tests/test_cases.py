"""Cases: flagged reviews linked by shared evidence (detector/cases.py)."""

import re
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from benchmarks.generator import generate, write_dataset
from detector.cases import (
    CASES_SCHEMA,
    EDGE_TYPES,
    attach_case_ids,
    build_cases,
    case_id_for,
)
from detector.scan import OUTPUT_FILES, run_scan
from features.params import IDENTITY_WINDOW_S
from features.pipeline import compute_features

CASE_ID = re.compile(r"^C-[0-9a-f]{12}$")


def explode_edges(cases: pl.DataFrame) -> pl.DataFrame:
    """The edges of ``cases`` as rows: ``case_id``, ``a``, ``b``, ``type``, ``key``."""
    return (
        cases.select("case_id", "edges")
        .explode("edges")
        .drop_nulls("edges")
        .unnest("edges")
        .sort("case_id", "type", "a", "b")
    )


@pytest.fixture(scope="module")
def oracle():
    """A generated market whose flagged set is exactly the planted fakes."""
    reviews, labels = generate(4000, seed=11)
    fr = compute_features(reviews)
    scores = labels.select("review_id", pl.col("is_fake").alias("flagged"))
    result = build_cases(scores, fr.keys, fr.frame)
    return reviews, labels, fr, scores, result


def test_oracle_flags_give_one_pure_case_per_campaign(oracle):
    _, labels, _, _, result = oracle
    m = result.review_case.join(labels, on="review_id").join(
        result.cases.select("case_id", "kind", "n_reviews"), on="case_id"
    )
    assert m.height == int(labels["is_fake"].sum())  # every flagged review has a case
    purity = m.group_by("case_id").agg(pl.col("campaign_id").n_unique().alias("n"))
    assert purity["n"].max() == 1, "a case mixes two campaigns"
    per_campaign = (
        m.group_by("campaign_id", "attack_type")
        .agg(pl.col("case_id").n_unique().alias("cases"), pl.col("kind").mode().first())
        .sort("campaign_id")
    )
    for row in per_campaign.iter_rows(named=True):
        if row["attack_type"] in ("smear", "boost", "ring"):
            assert row["cases"] == 1, row
        else:  # one case per account of a professional negative reviewer at most
            assert row["cases"] <= 3, row
        assert row["kind"] == row["attack_type"], row


def test_schema_ids_and_edges(oracle):
    _, _, fr, _, result = oracle
    cases = result.cases
    assert dict(cases.schema) == CASES_SCHEMA
    assert cases["case_id"].to_list() == sorted(cases["case_id"].to_list())
    assert all(CASE_ID.match(c) for c in cases["case_id"])
    for row in cases.head(20).iter_rows(named=True):
        assert row["case_id"] == case_id_for(row["review_ids"])
        assert row["n_reviews"] == len(row["review_ids"]) == len(set(row["review_ids"]))
        assert row["start"] <= row["end"]
    edges = explode_edges(cases)
    assert set(edges["type"].unique()) <= set(EDGE_TYPES)
    members = cases.select("case_id", pl.col("review_ids").alias("rid")).explode("rid")
    for end in ("a", "b"):
        joined = edges.join(members, left_on=["case_id", end], right_on=["case_id", "rid"])
        assert joined.height == edges.height, f"edge end {end} outside its case"
    t = fr.keys.select("review_id", "_t", "user_id")
    e = edges.join(t.rename({"review_id": "a", "_t": "ta", "user_id": "ua"}), on="a").join(
        t.rename({"review_id": "b", "_t": "tb", "user_id": "ub"}), on="b"
    )
    assert (e["ta"] <= e["tb"]).all()
    other = e.filter(pl.col("type") != "user")
    assert (other["ua"] != other["ub"]).all(), "identity edges must join different accounts"


def test_order_independent_and_deterministic(oracle):
    _, _, fr, scores, result = oracle
    rng = np.random.default_rng(0)
    perm = rng.permutation(fr.keys.height)
    again = build_cases(scores.sample(fraction=1.0, shuffle=True, seed=3), fr.keys[perm], fr.frame)
    assert again.cases.equals(result.cases)
    assert again.review_case.equals(result.review_case)


def _keys(rows):
    base = {
        "shop_id": "s1",
        "product_id": "p1",
        "rating": 1,
        "_pol": -1,
        "_ip": None,
        "_net": None,
        "device_id": None,
        "text_cluster": None,
        "ring_id": None,
    }
    out = [{**base, **r} for r in rows]
    return pl.DataFrame(
        out,
        schema={
            "review_id": pl.String,
            "shop_id": pl.String,
            "product_id": pl.String,
            "user_id": pl.String,
            "rating": pl.Int8,
            "_t": pl.Int64,
            "_pol": pl.Int8,
            "_ip": pl.String,
            "_net": pl.String,
            "device_id": pl.String,
            "text_cluster": pl.Int64,
            "ring_id": pl.Int64,
        },
    )


def _flag(keys, flagged=None):
    ids = keys["review_id"].to_list()
    return pl.DataFrame(
        {"review_id": ids, "flagged": [flagged is None or i in flagged for i in ids]}
    )


def test_identity_window_and_flagged_only():
    w = IDENTITY_WINDOW_S
    keys = _keys(
        [
            {"review_id": "r1", "user_id": "u1", "_t": 0, "_ip": "1.2.3.4"},
            {"review_id": "r2", "user_id": "u2", "_t": w - 10, "_ip": "1.2.3.4"},
            {"review_id": "r3", "user_id": "u3", "_t": 3 * w, "_ip": "1.2.3.4"},  # too late
            {"review_id": "r4", "user_id": "u4", "_t": 5, "_ip": "1.2.3.4"},  # not flagged
            {
                "review_id": "r5",
                "user_id": "u5",
                "_t": 7,
                "_ip": "1.2.3.4",
                "shop_id": "s2",
                "product_id": "p2",
            },
        ]
    )
    res = build_cases(_flag(keys, {"r1", "r2", "r3", "r5"}), keys)
    by_review = dict(res.review_case.iter_rows())
    assert "r4" not in by_review
    assert by_review["r1"] == by_review["r2"]
    assert by_review["r3"] != by_review["r1"]  # outside the identity window
    assert by_review["r5"] != by_review["r1"]  # another shop
    kinds = dict(res.cases.select("case_id", "kind").iter_rows())
    assert kinds[by_review["r3"]] == "other"  # a singleton has no campaign kind
    assert kinds[by_review["r1"]] == "smear"
    assert res.cases.filter(pl.col("case_id") == by_review["r1"])["edge_types"].to_list() == [
        ["ip"]
    ]


def test_burst_edges_need_a_significant_burst():
    keys = _keys(
        [
            {"review_id": "r1", "user_id": "u1", "_t": 0},
            {"review_id": "r2", "user_id": "u2", "_t": 60},
        ]
    )
    scores = _flag(keys)
    assert build_cases(scores, keys).cases.height == 1  # no features: any proximity
    weak = pl.DataFrame({"review_id": ["r1", "r2"], "product_burst": [0.5, 9.0]})
    assert build_cases(scores, keys, weak).cases.height == 2
    strong = pl.DataFrame({"review_id": ["r1", "r2"], "product_burst": [3.0, 9.0]})
    assert build_cases(scores, keys, strong).cases.height == 1
    no_family = pl.DataFrame({"review_id": ["r1", "r2"], "other": [1.0, 1.0]})
    assert build_cases(scores, keys, no_family).cases.height == 2


def test_pro_negative_and_single_account():
    rows = [
        {
            "review_id": f"r{i}",
            "user_id": "pro",
            "_t": i * 86_400 * 9,
            "shop_id": f"s{i}",
            "product_id": f"p{i}",
        }
        for i in range(4)
    ] + [
        {"review_id": "x1", "user_id": "buyer", "_t": 0, "shop_id": "s9", "product_id": "p9"},
        {"review_id": "x2", "user_id": "buyer", "_t": 99_999, "shop_id": "s9", "product_id": "p9"},
    ]
    keys = _keys(rows)
    res = build_cases(_flag(keys), keys)
    kinds = {tuple(r["review_ids"]): r["kind"] for r in res.cases.iter_rows(named=True)}
    assert kinds[("r0", "r1", "r2", "r3")] == "pro_negative"
    assert kinds[("x1", "x2")] == "other"  # one buyer's two bad reviews are not a campaign


def test_edges_stay_linear_in_a_dense_group():
    n = 2000
    keys = _keys(
        [
            {
                "review_id": f"r{i:05d}",
                "user_id": f"u{i}",
                "_t": i,
                "_ip": "9.9.9.9",
                "_net": "9.9.9.0/24",
            }
            for i in range(n)
        ]
    )
    res = build_cases(_flag(keys), keys)
    assert res.cases.height == 1
    edges = explode_edges(res.cases)
    assert edges.height <= 3 * n  # time-neighbours, not n^2/2 pairs


def test_empty_and_attach():
    keys = _keys([{"review_id": "r1", "user_id": "u1", "_t": 0}])
    res = build_cases(_flag(keys, set()), keys)
    assert res.cases.height == 0 and dict(res.cases.schema) == CASES_SCHEMA
    scores = pl.DataFrame(
        {"review_id": ["b", "a"], "flagged": [True, False], "case_id": [None, None]},
        schema={"review_id": pl.String, "flagged": pl.Boolean, "case_id": pl.String},
    )
    filled = attach_case_ids(scores, pl.DataFrame({"review_id": ["b"], "case_id": ["C-1"]}))
    assert filled["review_id"].to_list() == ["b", "a"]
    assert filled["case_id"].to_list() == ["C-1", None]


def test_scan_writes_cases(tmp_path):
    reviews, labels = generate(3000, seed=5)
    data, _ = write_dataset(tmp_path / "data", reviews, labels)
    res = run_scan(data, tmp_path / "scan")
    assert "cases.parquet" in OUTPUT_FILES
    cases = pl.read_parquet(tmp_path / "scan" / "cases.parquet")
    scores = pl.read_parquet(tmp_path / "scan" / "scores.parquet")
    assert dict(cases.schema) == CASES_SCHEMA
    assert res.summary["cases"]["count"] == cases.height
    assert res.summary["load"]["cwd"]
    flagged = scores.filter(pl.col("flagged"))
    assert flagged["case_id"].null_count() == 0
    # an unflagged review is in a case only when attached by a text or burst link to a member
    attached = scores.filter(~pl.col("flagged") & pl.col("case_id").is_not_null())
    edges = explode_edges(cases)
    for rid in attached["review_id"].to_list():
        own = edges.filter((pl.col("a") == rid) | (pl.col("b") == rid))
        assert own.height == 1 and own["type"][0] in ("text", "burst"), rid
        other = own["b"][0] if own["a"][0] == rid else own["a"][0]
        assert flagged.filter(pl.col("review_id") == other).height == 1
    members = cases.select("case_id", pl.col("review_ids").alias("review_id")).explode("review_id")
    joined = flagged.select("review_id", "case_id").join(members, on="review_id", suffix="_c")
    assert joined.height == flagged.height
    assert (joined["case_id"] == joined["case_id_c"]).all()
    assert cases["start"].dtype == pl.Datetime("us", "UTC")
    assert cases["start"].min() >= datetime(2023, 12, 1, tzinfo=UTC)
