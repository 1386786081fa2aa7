"""review-detector monitor: daily figures, alert rules, rules files, incremental state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from conftest import kill_at_publish_step
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.cases import CASES_SCHEMA
from detector.cli import main
from detector.monitor import (
    RulesError,
    StateError,
    daily_metrics,
    evaluate_alerts,
    load_rules,
)
from detector.monitor.state import load_state

START = datetime(2025, 3, 1, tzinfo=UTC)


def honest_day(rng, day: int, n: int, bad_share: float, shop: str = "S1") -> pl.DataFrame:
    """``n`` reviews on day ``day`` at ``shop``: 1-2 star with probability ``bad_share``."""
    bad = rng.random(n) < bad_share
    rating = np.where(bad, rng.integers(1, 3, n), rng.choice([4, 5, 5, 5], n))
    t = [START + timedelta(days=day, seconds=int(s)) for s in rng.integers(3600, 72_000, n)]
    ids = [f"{shop}-{day}-{i}" for i in range(n)]
    return pl.DataFrame(
        {
            "review_id": ids,
            "shop_id": [shop] * n,
            "product_id": ["p1"] * n,
            "user_id": [f"u{shop}{day}-{i}" for i in range(n)],
            "rating": rating.astype(np.int8),
            "created_at": pl.Series(t, dtype=pl.Datetime("us", "UTC")),
        }
    )


def market(events: dict[int, tuple[int, float]], days: int = 21, seed: int = 5) -> pl.DataFrame:
    """Three weeks of one shop, 40 reviews a day at 2% 1-2 star; ``events`` replace days."""
    rng = np.random.default_rng(seed)
    parts = [honest_day(rng, d, *events.get(d, (40, 0.02))) for d in range(days)]
    return pl.concat(parts)


def no_cases(reviews: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    scores = reviews.select("review_id", pl.lit(None, pl.String).alias("case_id"))
    return scores, pl.DataFrame(schema=CASES_SCHEMA)


def smear_case(reviews: pl.DataFrame, day: int, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """At most ``n`` 1-2 star reviews of day ``day`` made one smear case, one account each."""
    on_day = reviews.filter(
        (pl.col("created_at").dt.date() == (START + timedelta(days=day)).date())
        & (pl.col("rating") <= 2)
    ).head(n)
    members = on_day["review_id"].to_list()
    scores = reviews.select(
        "review_id",
        pl.when(pl.col("review_id").is_in(members))
        .then(pl.lit("C-smear"))
        .otherwise(None)
        .alias("case_id"),
    )
    cases = pl.DataFrame(
        {
            "case_id": ["C-smear"],
            "kind": ["smear"],
            "n_reviews": [len(members)],
            "n_users": [len(members)],
        }
    )
    return scores, cases


def alerts_of(reviews, scores, cases, rules=None, tz="UTC"):
    daily = daily_metrics(reviews, scores, cases, tz)
    alerts, skipped = evaluate_alerts(daily, rules or load_rules(), None)
    return daily, alerts, skipped


# --------------------------------------------------------------------------- daily figures


def test_daily_figures_count_each_day_and_without_cases():
    reviews = market({3: (40, 0.2)})
    scores, cases = smear_case(reviews, 3, 1)
    daily = daily_metrics(reviews, scores, cases)
    assert daily.height == 21
    assert daily["reviews"].sum() == reviews.height
    day3 = daily.row(3, named=True)
    n, neg = day3["reviews"], day3["negative"]
    assert day3["good_rate"] == pytest.approx(day3["positive"] / n)
    assert day3["bad_rate"] == pytest.approx(neg / n)
    assert day3["reviews_clean"] == n - 1 and day3["in_cases"] == 1
    assert day3["negative_clean"] == neg - 1
    # a single-account case does not harm the shop (the packet's rule): no attack count
    assert day3["attack_negative"] == 0


def test_days_follow_the_time_zone():
    # 2025-03-01 17:30 UTC is 2025-03-02 01:30 in Beijing
    late = datetime(2025, 3, 1, 17, 30, tzinfo=UTC)
    reviews = pl.DataFrame(
        {
            "review_id": ["a", "b"],
            "shop_id": ["S", "S"],
            "product_id": ["p", "p"],
            "user_id": ["u", "v"],
            "rating": pl.Series([5, 1], dtype=pl.Int8),
            "created_at": pl.Series(
                [late, late - timedelta(hours=10)], dtype=pl.Datetime("us", "UTC")
            ),
        }
    )
    scores, cases = no_cases(reviews)
    utc = daily_metrics(reviews, scores, cases, "UTC")
    cn = daily_metrics(reviews, scores, cases, "Asia/Shanghai")
    assert utc["date"].cast(pl.String).to_list() == ["2025-03-01"]
    assert cn["date"].cast(pl.String).to_list() == ["2025-03-01", "2025-03-02"]
    assert cn["good_rate"].to_list() == [0.0, 1.0]


def test_no_dsr_columns_no_dsr_metrics_and_dsr_rules_skipped():
    reviews = market({})
    daily, alerts, skipped = alerts_of(reviews, *no_cases(reviews))
    assert not [c for c in daily.columns if c.startswith("dsr_")]
    assert {s.rule for s in skipped} == {
        "taobao_dsr_description",
        "taobao_dsr_service",
        "taobao_dsr_logistics",
        "jd_logistics",
    }
    assert alerts == []


def test_dsr_lines_cross_once_and_name_no_case_when_fraud_does_not_explain_them():
    rng = np.random.default_rng(2)
    reviews = market({}).with_columns(
        pl.Series("dsr_logistics", rng.choice([4, 5], 21 * 40, p=[0.5, 0.5]), dtype=pl.Int8)
    )
    daily, alerts, _ = alerts_of(reviews, *no_cases(reviews))
    logistics = [a for a in alerts if a["metric"] == "dsr_logistics"]
    # 4.5 on average: under Taobao's 4.6 and JD's 4.7, raised once each (trigger "cross")
    assert sorted(a["rule"] for a in logistics) == ["jd_logistics", "taobao_dsr_logistics"]
    assert all(a["case_ids"] == [] and a["value"] < 4.6 for a in logistics)
    assert "dsr_logistics" in daily.columns and "dsr_service" not in daily.columns


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_row_order_and_an_unrelated_shop_change_nothing(seed):
    reviews = market({12: (60, 0.35)})
    scores, cases = smear_case(reviews, 12, 6)
    daily, alerts, _ = alerts_of(reviews, scores, cases)
    other = market({5: (90, 0.4)}, seed=9).with_columns(
        pl.lit("S2").alias("shop_id"), ("x" + pl.col("review_id")).alias("review_id")
    )
    both = pl.concat([reviews, other]).sample(fraction=1.0, shuffle=True, seed=seed)
    d2, a2, _ = alerts_of(both, scores.sample(fraction=1.0, shuffle=True, seed=seed), cases)
    assert d2.filter(pl.col("shop_id") == "S1").equals(daily)
    assert [a for a in a2 if a["shop"] == "S1"] == alerts


# --------------------------------------------------------------------------- alerts


def test_smear_day_raises_the_attack_alert_naming_its_case_not_a_quality_alert():
    reviews = market({10: (70, 0.45)})
    scores, cases = smear_case(reviews, 10, 25)
    _, alerts, _ = alerts_of(reviews, scores, cases)
    day10 = [a for a in alerts if a["date"] == "2025-03-11"]
    attack = [a for a in day10 if a["kind"] == "attack"]
    assert len(attack) == 1 and attack[0]["case_ids"] == ["C-smear"]
    assert attack[0]["value"] >= 20 and "C-smear" in attack[0]["message"]["zh"]
    assert not [a for a in day10 if a["kind"] == "quality"]


def test_defect_batch_raises_a_quality_alert_and_no_attack_alert():
    reviews = market({12: (60, 0.35)})
    _, alerts, _ = alerts_of(reviews, *no_cases(reviews))
    kinds = {(a["date"], a["kind"], a["rule"]) for a in alerts}
    assert ("2025-03-13", "quality", "bad_review_growth") in kinds
    assert not [a for a in alerts if a["kind"] == "attack"]
    growth = next(a for a in alerts if a["rule"] == "bad_review_growth")
    assert growth["value"] > 0.15 and growth["case_ids"] == []


def test_flash_sale_raises_no_alert():
    # five times the volume, the same 2% share of 1-2 star reviews
    reviews = market({9: (200, 0.02), 10: (260, 0.02)})
    _, alerts, _ = alerts_of(reviews, *no_cases(reviews))
    assert alerts == []


def test_an_attack_day_stays_out_of_the_growth_baseline():
    # day 6: a smear of 110 1-2 star reviews, only 5 of them linked into the case;
    # day 12: a defect day of about 18 bad in 60, against 2% before the smear
    reviews = market({6: (120, 0.95), 12: (60, 0.3)})
    scores, cases = smear_case(reviews, 6, 5)
    _, alerts, _ = alerts_of(reviews, scores, cases)
    assert [a["date"] for a in alerts if a["kind"] == "attack"] == ["2025-03-07"]
    growth = [a for a in alerts if a["rule"] == "bad_review_growth"]
    assert [a["date"] for a in growth] == ["2025-03-13"]
    # against the ~3% of the quiet days, not the smear-swollen 20% of all 28
    assert growth[0]["value"] > 3 and "28 days before" in growth[0]["message"]["en"]


def test_tiny_days_never_raise_the_growth_rule():
    # a day of 2 reviews, both 1 star: +3,000% on paper, but nothing to judge
    reviews = market({7: (2, 1.0), 8: (6, 0.5)})
    _, alerts, _ = alerts_of(reviews, *no_cases(reviews))
    assert not [a for a in alerts if a["rule"] == "bad_review_growth"]


def test_a_line_crossed_again_after_a_wobble_fires_once_until_rearmed(tmp_path):
    # 差评率 by day: 6% 4% 6% 4% 6% 2% 6% (100 reviews a day)
    bad = [6, 4, 6, 4, 6, 2, 6]
    reviews = pl.concat(
        honest_day(np.random.default_rng(d), d, 100, 0.0).with_columns(
            pl.when(pl.int_range(pl.len()) < k).then(1).otherwise(5).cast(pl.Int8).alias("rating")
        )
        for d, k in enumerate(bad)
    )
    daily = daily_metrics(reviews, *no_cases(reviews))

    def fired(rearm: float) -> list[str]:
        text = f"""
[rules.daily_bad]
metric = "bad_rate"
op = ">"
threshold = 0.05
trigger = "cross"
rearm = {rearm}
message_zh = "{{value}}"
message_en = "{{value}}"
"""
        rules = [r for r in load_rules(write(tmp_path, text)) if r.name == "daily_bad"]
        return [a["date"][-2:] for a in evaluate_alerts(daily, rules)[0]]

    assert fired(0.0) == ["01", "03", "05", "07"]
    assert fired(0.02) == ["01", "07"]  # back at 3% or below re-arms it: day 6's 2%


# --------------------------------------------------------------------------- rules files


def write(tmp_path, text: str):
    p = tmp_path / "rules.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_rules_file_overrides_disables_and_adds(tmp_path):
    rules = load_rules(
        write(
            tmp_path,
            """
[rules.pdd_bad_rate]
threshold = 0.03
[rules.good_rate_target]
enabled = false
[rules.low_mean]
metric = "rating_mean"
op = "<"
threshold = 4.2
window_days = 7
message_zh = "{shop} 均分 {value}"
message_en = "{shop} mean {value}"
""",
        )
    )
    by_name = {r.name: r for r in rules}
    assert by_name["pdd_bad_rate"].threshold == 0.03
    assert by_name["pdd_bad_rate"].window_days == 30  # untouched keys keep the default
    assert "good_rate_target" not in by_name
    assert by_name["low_mean"].window_days == 7 and by_name["low_mean"].kind == "target"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[rules.pdd_bad_rate]\nthreshhold = 0.03\n", ["pdd_bad_rate", "threshhold"]),
        ("[rules.pdd_bad_rate]\nthreshold = 7\n", ["pdd_bad_rate", "threshold", "[0, 1]"]),
        ('[rules.pdd_bad_rate]\nthreshold = "5%"\n', ["pdd_bad_rate", "threshold"]),
        ('[rules.x]\nmetric = "refund_rate"\n', ["'x'", "metric", "refund_rate"]),
        ('[rules.x]\nmetric = "bad_rate"\nop = ">"\nthreshold = 0.1\n', ["'x'", "message_zh"]),
        ('[rules.attack_burst]\nmessage_en = "{shopp}"\n', ["attack_burst", "{shopp}"]),
        ("[rules.attack_burst]\nwindow_days = 0\n", ["attack_burst", "window_days"]),
        ('[rules.attack_burst]\nop = "=="\n', ["attack_burst", "op"]),
        ("[alerts]\nx = 1\n", ["alerts"]),
        ("[rules.attack_burst\n", ["not valid TOML"]),
    ],
)
def test_bad_rules_files_are_clear_errors(tmp_path, text, names):
    with pytest.raises(RulesError) as info:
        load_rules(write(tmp_path, text))
    for name in names:
        assert name in str(info.value)


def test_cli_exits_2_on_a_bad_rules_file_before_scanning(tmp_path, capsys):
    rules = write(tmp_path, "[rules.pdd_bad_rate]\nthreshhold = 0.03\n")
    code = main(
        [
            "monitor",
            str(tmp_path / "absent.csv"),
            "--out",
            str(tmp_path / "o"),
            "--rules",
            str(rules),
        ]
    )
    assert code == 2
    assert "threshhold" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- incremental state


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Two exports of one shop: days 0-13, and days 12-20 with a defect batch on day 17."""
    reviews = market({17: (60, 0.35)})
    d = tmp_path_factory.mktemp("exports")
    day = pl.col("created_at").dt.date()
    first = reviews.filter(day < (START + timedelta(days=14)).date())
    second = reviews.filter(day >= (START + timedelta(days=12)).date())
    first.write_parquet(d / "week1-2.parquet")
    second.write_parquet(d / "week3.parquet")
    return d / "week1-2.parquet", d / "week3.parquet"


def monitor(*args) -> int:
    return main(["monitor", "--quiet", *map(str, args)])


def test_incremental_runs_add_days_and_re_alert_nothing(tmp_path, exports):
    first, second = exports
    state, out = tmp_path / "state", tmp_path / "out"
    assert monitor(first, "--out", out, "--state", state) == 0
    assert pl.read_parquet(out / "daily.parquet").height == 14
    assert monitor(first, second, "--out", out, "--state", state) == 4
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    # the defect day of the second export; the lines it pushes the 30-day rates over come with it
    assert {(a["date"], a["run"]) for a in alerts} == {("2025-03-18", 2)}
    assert "bad_review_growth" in {a["rule"] for a in alerts}
    assert not [a for a in alerts if a["kind"] == "attack"]
    daily = pl.read_parquet(out / "daily.parquet")
    assert daily.height == 21 and daily["reviews"].sum() == market({17: (60, 0.35)}).height
    before = {p: (out / p).read_bytes() for p in ("daily.parquet", "alerts.json")}
    state_before = (state / "state.json").read_bytes()
    # the same files again, or the newer export alone: nothing new, nothing changes
    assert monitor(first, second, "--out", out, "--state", state) == 0
    assert monitor(second, "--out", out, "--state", state) == 0
    assert {p: (out / p).read_bytes() for p in before} == before
    assert (state / "state.json").read_bytes() == state_before
    assert load_state(state).run == 2


def test_damaged_state_is_refused_with_what_to_do(tmp_path, exports, capsys):
    first, _ = exports
    state, out = tmp_path / "state", tmp_path / "out"
    assert monitor(first, "--out", out, "--state", state) == 0
    record = json.loads((state / "state.json").read_text(encoding="utf-8"))
    record["run"] = 7
    (state / "state.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(StateError, match="checksum"):
        load_state(state)
    assert monitor(first, "--out", out, "--state", state) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "damaged" in err and "move the directory aside" in err
    (state / "state.json").write_text("{not json", encoding="utf-8")
    assert monitor(first, "--out", out, "--state", state) == 2


def test_state_with_a_missing_daily_file_is_damaged(tmp_path, exports):
    first, _ = exports
    state = tmp_path / "state"
    assert monitor(first, "--out", tmp_path / "out", "--state", state) == 0
    for p in state.glob("daily-*.parquet"):
        p.unlink()
    with pytest.raises(StateError, match="missing"):
        load_state(state)


# --------------------------------------------------------------------------- a merchant's export


@pytest.fixture(scope="module")
def merchant(tmp_path_factory):
    """A Pinduoduo review export and order export (test seed 12; development used 1-8)."""
    from benchmarks.exports import build_export, write_export

    export = build_export("pdd", seed=12, n=2000)
    d = tmp_path_factory.mktemp("merchant")
    paths = write_export(export, d)
    out = d / "out"
    args = [paths["reviews"], "--orders", paths["orders"], "--preset", "pdd", "--shop", "店"]
    code = monitor(*args, "--out", out)
    head = export.headers
    local_day = pl.col(head["created_at"]).str.slice(0, 10).str.replace_all("/", "-")
    truth = export.truth.join(
        export.reviews.select(pl.col(head["order_id"]).alias("order_id"), local_day.alias("day")),
        on="order_id",
    )
    days = {k: set(truth.filter(pl.col("kind") == k)["day"]) for k in ("smear", "defect", "flash")}
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    return {"code": code, "out": out, "truth": truth, "days": days, "alerts": alerts}


def test_export_smear_day_raises_the_attack_alert_naming_its_case(merchant):
    assert merchant["code"] == 4
    attacks = [a for a in merchant["alerts"] if a["kind"] == "attack"]
    assert attacks and {a["date"] for a in attacks} <= merchant["days"]["smear"]
    cases = pl.read_parquet(merchant["out"] / "scan" / "cases.parquet")
    smear = set(merchant["truth"].filter(pl.col("kind") == "smear")["order_id"])
    for a in attacks:
        assert a["case_ids"] and a["rule"] == "attack_burst" and a["platform"] == "any"
        members = cases.filter(pl.col("case_id").is_in(a["case_ids"]))["review_ids"].explode()
        # the review id of an export without one is its order id
        assert len(set(members) & smear) >= 0.8 * len(set(members))
        assert all(c in a["message"]["zh"] and c in a["message"]["en"] for c in a["case_ids"])
    smear_days = [a for a in merchant["alerts"] if a["date"] in merchant["days"]["smear"]]
    assert not [a for a in smear_days if a["kind"] == "quality"]


def test_export_defect_batch_raises_a_quality_alert_and_no_attack_alert(merchant):
    on_defect = [a for a in merchant["alerts"] if a["date"] in merchant["days"]["defect"]]
    assert [a for a in on_defect if a["rule"] == "bad_review_growth"]
    assert not [a for a in on_defect if a["kind"] == "attack"]
    assert not [
        a
        for a in merchant["alerts"]
        if a["kind"] == "quality" and a["date"] not in merchant["days"]["defect"]
    ]


def test_export_flash_sale_raises_no_alert(merchant):
    days = merchant["days"]
    flash_only = days["flash"] - days["defect"] - days["smear"]
    assert flash_only
    assert not [a for a in merchant["alerts"] if a["date"] in flash_only]


def test_export_days_are_beijing_days_and_pdd_rules_only(merchant):
    daily = pl.read_parquet(merchant["out"] / "daily.parquet")
    assert set(daily["date"].cast(pl.String)) == set(merchant["truth"]["day"])
    assert daily["reviews"].sum() == merchant["truth"].height
    assert {"dsr_description", "dsr_logistics", "dsr_service"} <= set(daily.columns)
    assert {a["platform"] for a in merchant["alerts"]} <= {"any", "pdd"}


def test_monitor_scan_of_the_scan_directory_gives_the_same_alerts(merchant):
    from detector.monitor import monitor_scan

    result = monitor_scan(merchant["out"] / "scan")
    assert result.alerts == merchant["alerts"]
    assert result.timezone == "Asia/Shanghai" and result.platform == "pdd"
    assert result.daily.equals(pl.read_parquet(merchant["out"] / "daily.parquet"))


def test_taobao_export_without_dsr_columns_runs_without_dsr_rules(tmp_path, capsys):
    from benchmarks.exports import build_export, write_export

    paths = write_export(build_export("taobao", seed=12, n=1200), tmp_path)
    out = tmp_path / "out"
    code = main(
        ["monitor", str(paths["reviews"]), "--preset", "taobao", "--shop", "店", "--out", str(out)]
    )
    assert code in (0, 4)
    printed = " ".join(capsys.readouterr().out.split())
    assert "the input has no dsr_description column" in printed
    daily = pl.read_parquet(out / "daily.parquet")
    assert not [c for c in daily.columns if c.startswith("dsr_")]
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    assert not [a for a in alerts if a["metric"].startswith("dsr_") or a["platform"] != "any"]


def test_a_failed_run_leaves_state_and_outputs_as_they_were(tmp_path, exports):
    first, _ = exports
    state, out = tmp_path / "state", tmp_path / "out"
    assert monitor(first, "--out", out, "--state", state) == 0
    before = {
        p.name: p.read_bytes()
        for p in [*state.iterdir(), out / "daily.parquet", out / "alerts.json"]
    }
    assert monitor(tmp_path / "missing.csv", "--out", out, "--state", state) == 2
    after = {
        p.name: p.read_bytes()
        for p in [*state.iterdir(), out / "daily.parquet", out / "alerts.json"]
    }
    assert after == before


# --------------------------------------------------------------------------- publishing as one


def _out_files(out) -> dict:
    """``relative path -> bytes`` of what readers of OUT see (the scan's summaries apart:
    they name their run)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "summary.json"
    }


def _monitor_killed_at(step: int, *args) -> None:
    """Run ``monitor`` in a process until publish step ``step``, then ``kill -9`` it."""
    killed, printed, _ = kill_at_publish_step(["monitor", "--quiet", *map(str, args)], step)
    if not killed:
        raise AssertionError(f"monitor never reached publish step {step}: {printed}")


def test_scan_days_and_alerts_are_published_as_one(tmp_path, exports):
    """kill -9 at each publish step: OUT holds run 1's scan, days and alerts or run 2's."""
    import shutil

    from detector.monitor.runner import STATE_COMMITTED_STEP
    from detector.publish import versions_dir

    first, second = exports
    template = tmp_path / "template"
    assert monitor(first, "--out", template / "out", "--state", template / "state") == 0
    (template / "out" / "notes.txt").write_text("the merchant's own", encoding="utf-8")
    ref_b = tmp_path / "ref-b"
    shutil.copytree(template, ref_b, symlinks=True)
    assert monitor(first, second, "--out", ref_b / "out", "--state", ref_b / "state") == 4
    ref = {"A": _out_files(template / "out"), "B": _out_files(ref_b / "out")}
    assert ref["A"]["notes.txt"] == ref["B"]["notes.txt"]  # carried into the new version
    assert ref["A"]["alerts.json"] != ref["B"]["alerts.json"]
    # 1: staged, state not committed; 12: committed, not switched; 3: switched
    for step, want in ((1, "A"), (STATE_COMMITTED_STEP, "A"), (3, "B")):
        d = tmp_path / f"kill-{step}"
        shutil.copytree(template, d, symlinks=True)
        out, state = d / "out", d / "state"
        _monitor_killed_at(step, first, second, "--out", out, "--state", state)
        seen = _out_files(out)
        assert seen == ref[want], (step, [f for f in seen if seen[f] != ref[want].get(f)])
        if step == STATE_COMMITTED_STEP:
            # the next run finishes the committed switch first, even one that then fails
            assert monitor(tmp_path / "missing.csv", "--out", out, "--state", state) == 2
            assert _out_files(out) == ref["B"]
        # the next run redoes or completes the stopped one: its alerts raised once, by run 2
        code = monitor(first, second, "--out", out, "--state", state)
        assert code == (4 if step == 1 else 0), step
        assert _out_files(out) == ref["B"]
        assert {a["run"] for a in json.loads((out / "alerts.json").read_text())} == {2}
        left = [p.name for p in versions_dir(out).iterdir() if not p.name.startswith(".")]
        assert len(left) <= 2 and not list(versions_dir(out).glob(".staging-*"))


def test_without_state_a_failed_run_publishes_nothing(tmp_path, exports):
    first, _ = exports
    out = tmp_path / "out"
    assert monitor(first, "--out", out) == 0
    before = _out_files(out)
    assert set(before) >= {"daily.parquet", "alerts.json", "scan/scores.parquet"}
    assert out.is_symlink()  # a version of OUT, switched in one rename
    assert monitor(tmp_path / "missing.csv", "--out", out) == 2
    assert _out_files(out) == before


def test_every_row_rejected_publishes_the_rejects_and_no_days(tmp_path, exports, capsys):
    first, _ = exports
    bad = tmp_path / "bad.parquet"
    pl.read_parquet(first).with_columns(pl.lit(9, pl.Int8).alias("rating")).write_parquet(bad)
    out = tmp_path / "out"
    assert monitor(first, "--out", out) == 0
    assert monitor(bad, "--out", out) == 2
    assert "rating" in capsys.readouterr().err
    assert pl.read_parquet(out / "scan" / "rejected.parquet").height == pl.read_parquet(bad).height
    assert not (out / "daily.parquet").exists() and not (out / "alerts.json").exists()
