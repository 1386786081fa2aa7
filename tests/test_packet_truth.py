"""Packets for every input, reasons that hold, times in the export's zone, cards that fit.

Every reason shown is recounted here from the input itself, by code that
shares nothing with :mod:`features.claims`, on every fixture, including one
where every account has exactly one review.
"""

import json
import re
from datetime import timedelta
from difflib import SequenceMatcher
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from benchmarks import yelpchi
from benchmarks.exports import build_export, write_export
from benchmarks.generator import GeneratorConfig, generate
from benchmarks.matrix import build_cell
from benchmarks.packets import SHOP
from detector import wording
from detector.cli import main
from detector.evidence import PacketOptions, build_packet, cards
from detector.evidence.scanload import load_scan
from detector.input.schema import DSR_COLUMNS
from detector.scan import ScanConfig, run_scan
from features.params import (
    BASELINE_FLOOR_S,
    BURST_WINDOW_S,
    FRESH_MAX_REVIEWS,
    IDENTITY_WINDOW_S,
)
from features.prepare import ip_keys
from features.registry import REGISTRY

USER_FEATURES = {f for f in REGISTRY.features if f.startswith("user_")}


def evidence(*args) -> int:
    return main(["evidence", *map(str, args), "--quiet"])


def _attack_shop(reviews: pl.DataFrame, labels: pl.DataFrame) -> str:
    return (
        reviews.join(labels, on="review_id")
        .filter(pl.col("attack_type") == "smear")
        .group_by("shop_id")
        .len()
        .sort(["len", "shop_id"], descending=[True, False])["shop_id"][0]
    )


@pytest.fixture(scope="module")
def market():
    reviews, labels = generate(4000, seed=31)
    return SimpleNamespace(reviews=reviews, labels=labels, shop=_attack_shop(reviews, labels))


_REGION_NO_IP = GeneratorConfig(ip_region=True, with_ip=False)
VARIANTS = {
    "full": lambda r: r,
    "no_dsr": lambda r: r.drop(DSR_COLUMNS),
    "no_text": lambda r: r.drop("text"),
    "no_ip": lambda r: r.drop("ip"),
    # a merchant's export: IP属地 and no address (the same market: provinces have their own stream)
    "region_no_ip": lambda r: generate(4000, seed=31, config=_REGION_NO_IP)[0],
    "no_device": lambda r: r.drop("device_id"),
    # every account has exactly one review, at one shop
    "one_review_each": lambda r: r.with_columns(pl.col("review_id").alias("user_id")),
}


@pytest.fixture(scope="module")
def scans(market, tmp_path_factory):
    """Each input variant scanned, with a packet for the attacked shop."""
    root = tmp_path_factory.mktemp("truth")
    out = {}
    for name, make in VARIANTS.items():
        data = root / f"{name}.parquet"
        make(market.reviews).write_parquet(data)
        run_scan(data, root / name / "scan")
        packet = root / name / "packet"
        code = evidence(
            root / name / "scan", "--shop", market.shop, "--out", packet, "--lang", "en"
        )
        out[name] = SimpleNamespace(data=data, scan=root / name / "scan", packet=packet, code=code)
    return out


# --------------------------------------------------------------------------- a packet for every input


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_packet_for_every_input(scans, name):
    s = scans[name]
    assert s.code == 0, name
    p = json.loads((s.packet / "packet.json").read_text(encoding="utf-8"))
    html = (s.packet / "packet.html").read_text(encoding="utf-8")
    html = re.sub(r"data:[^\"')\s]+", "data:", html)  # embedded images: base64 may spell "DSR"
    imp = p["impact"]
    assert imp["rating_before"] is not None and imp["positive_rate_before"] is not None
    assert imp["rating_after"] is not None and imp["positive_rate_after"] is not None
    assert "Mean rating" in html and "Positive rate" in html
    if name == "no_dsr":
        assert imp["dsr"] == {} and "DSR" not in html
    else:
        assert set(imp["dsr"]) == set(DSR_COLUMNS) and "DSR: service" in html
    assert (s.packet / "appeals.csv").exists() and list((s.packet / "cards").glob("*.png"))


def test_a_packet_for_yelpchi(tmp_path):
    """YelpChi (user, product, rating, date only): no campaign attacks a shop, so --all."""
    if not yelpchi.available():
        pytest.skip(f"YelpChi not found at {yelpchi.yelpchi_path()}")
    reviews, _ = yelpchi.load_yelpchi()
    data = tmp_path / "yelpchi.parquet"
    reviews.write_parquet(data)
    first = run_scan(data, tmp_path / "first")
    # the target-precision threshold may flag nothing on metadata only: flag the top 0.5 %
    top = float(np.quantile(first.scores["score"].to_numpy(), 0.995))
    run_scan(data, tmp_path / "scan", config=ScanConfig(threshold=top))
    cases = pl.read_parquet(tmp_path / "scan" / "cases.parquet").filter(pl.col("n_reviews") >= 2)
    shop = cases.sort(["n_reviews", "case_id"], descending=[True, False])["shop_ids"][0][0]
    out = tmp_path / "packet"
    assert evidence(tmp_path / "scan", "--shop", shop, "--out", out, "--all", "--lang", "en") == 0
    p = json.loads((out / "packet.json").read_text(encoding="utf-8"))
    assert p["impact"]["dsr"] == {} and p["cases"]
    html = re.sub(r"data:[^\"')\s]+", "data:", (out / "packet.html").read_text(encoding="utf-8"))
    assert "DSR" not in html  # the page's text; embedded images' base64 may spell "DSR"


# --------------------------------------------------------------------------- reasons that hold


_MEMO: dict = {}


def _memo(kind: str, data: pl.DataFrame, build) -> pl.DataFrame:
    """``build(data)`` once per input frame (the recounts below run for hundreds of reasons)."""
    key = (kind, id(data))
    if key not in _MEMO or _MEMO[key][0] is not data:
        _MEMO[key] = (data, build(data))
    return _MEMO[key][1]


def _ip_keyed(data: pl.DataFrame) -> pl.DataFrame:
    if "ip" not in data.columns:
        return data
    return _memo(
        "ip",
        data,
        lambda d: d.join(ip_keys(d.lazy().select("ip")).collect(), on="ip", how="left"),
    )


def _user_counts(data: pl.DataFrame) -> pl.DataFrame:
    return _memo("users", data, lambda d: d.group_by("user_id").len("n"))


def _check_claim(name: str, facts: dict, r: dict, data: pl.DataFrame, feats: dict) -> None:
    """Recount the facts of one reason from the input ``data`` (independent of features.claims)."""
    user = data.filter(pl.col("user_id") == r["user_id"])
    t = r["created_at"]
    if name == "user_review_count":
        assert facts["n"] == user.height
    elif name == "user_active_days":
        span = (user["created_at"].max() - user["created_at"].min()).total_seconds()
        assert facts["n"] == user.height and abs(facts["span"] - span) < 1
    elif name == "user_extreme_share":
        assert facts["k"] == user.filter(pl.col("rating").is_in([1, 5])).height
    elif name == "user_neg_shops":
        neg = user.filter(pl.col("rating") <= 2)
        assert facts["shops"] == neg["shop_id"].n_unique() >= 2 and facts["k"] == neg.height
    elif name == "user_day_share":
        days = user.group_by(pl.col("created_at").dt.date()).len()["len"].max()
        assert facts["k"] == days >= 2
    elif name == "rating_deviation":
        others = data.filter(
            (pl.col("product_id") == r["product_id"]) & (pl.col("review_id") != r["review_id"])
        )
        assert facts["n"] == others.height and facts["rating"] == r["rating"]
        assert facts["mean"] == pytest.approx(others["rating"].cast(pl.Float64).mean())
        assert abs(facts["mean"] - r["rating"]) >= REGISTRY.get(name).claim.tail
    elif name == "product_age_days":
        first = data.filter(pl.col("product_id") == r["product_id"])["created_at"].min()
        assert facts["age"] == pytest.approx((t - first).total_seconds(), abs=1)
    elif name == "review_delay_minutes":
        exact = (t - r["delivered_at"]).total_seconds() / 60  # the scan counts whole seconds
        assert facts["minutes"] == pytest.approx(exact, abs=1 / 60)
    elif name == "rating_extreme":
        assert facts["rating"] == r["rating"] and r["rating"] in (1, 5)
    elif name in ("ip_shop_burst", "net_shop_burst", "net_product_burst"):
        col = "_ip" if name == "ip_shop_burst" else "_net"
        where = "product_id" if name == "net_product_burst" else "shop_id"
        keyed = _ip_keyed(data)
        mine = keyed.filter(pl.col("review_id") == r["review_id"]).row(0, named=True)
        near = keyed.filter(
            (pl.col(col) == mine[col])
            & (pl.col(where) == r[where])
            & (pl.col("user_id") != r["user_id"])
            & ((pl.col("created_at") - t).dt.total_seconds().abs() <= IDENTITY_WINDOW_S)
        )
        assert facts["k"] == near["user_id"].n_unique() >= 1
    elif name == "prompt_burst":
        delay = (pl.col("created_at") - pl.col("delivered_at")).dt.total_seconds() / 60.0
        known = data.filter(pl.col("delivered_at").is_not_null())
        near = known.filter(
            (pl.col("product_id") == r["product_id"])
            & (_polarity(pl.col("rating")) == _polarity(r["rating"]))
            & ((pl.col("created_at") - t).dt.total_seconds().abs() <= 7 * 86_400)
        )
        prompt = near.filter(delay <= 30.0)
        assert facts["n"] == near.height and facts["k"] == prompt.height >= 0.5 * facts["n"]
        assert facts["start"] == prompt["created_at"].min().replace(microsecond=0)
        shop = known.filter(pl.col("shop_id") == r["shop_id"])
        assert facts["m"] == shop.height - near.height
        assert facts["m_k"] == shop.filter(delay <= 30.0).height - prompt.height
    elif name == "device_product_users":
        on_device = data.filter(
            (pl.col("device_id") == r["device_id"])
            & (pl.col("product_id") == r["product_id"])
            & (pl.col("user_id") != r["user_id"])
            & ((pl.col("created_at") - t).dt.total_seconds().abs() < 14 * 86_400)
        )
        value = feats[r["review_id"]][name]
        assert facts["k"] == value <= on_device["user_id"].n_unique()
    elif name == "device_users":
        n = data.filter(pl.col("device_id") == r["device_id"])["user_id"].n_unique()
        assert facts["n"] == n >= 2
    elif name == "fresh_burst":
        counts = _user_counts(data)
        pol = (data["rating"] >= 4).cast(pl.Int8) - (data["rating"] <= 2).cast(pl.Int8)
        same = (
            data.with_columns(pol.alias("_p"))
            .join(counts, on="user_id")
            .filter(
                (pl.col("product_id") == r["product_id"])
                & (pl.col("_p") == (1 if r["rating"] >= 4 else -1))
                & (pl.col("n") <= FRESH_MAX_REVIEWS)
                & ((pl.col("created_at") - t).dt.total_seconds().abs() <= BURST_WINDOW_S)
            )
        )
        assert facts["n"] == same.height >= 3
    elif name == "region_burst":
        known = data.filter(pl.col("ip_region").is_not_null())
        near = known.filter(
            (pl.col("product_id") == r["product_id"])
            & (_polarity(pl.col("rating")) == _polarity(r["rating"]))
            & ((pl.col("created_at") - t).dt.total_seconds().abs() <= BURST_WINDOW_S)
        )
        same = near.filter(pl.col("ip_region") == r["ip_region"])
        assert facts["region"] == r["ip_region"] and facts["product"] == r["product_id"]
        assert facts["n"] == near.height and facts["k"] == same.height >= 0.8 * facts["n"]
        assert facts["start"] == same["created_at"].min().replace(microsecond=0)
        shop = known.filter(pl.col("shop_id") == r["shop_id"])
        assert facts["m"] == shop.height - near.height
        assert (
            facts["m_k"] == shop.filter(pl.col("ip_region") == r["ip_region"]).height - same.height
        )
    else:  # counts the feature is: its own value, in its tail
        value = feats[r["review_id"]][name]
        assert value in (facts.get("k"), facts.get("n"))
    assert REGISTRY.get(name).in_tail(feats[r["review_id"]][name]), (name, facts)


def _shown_reasons(scan: Path) -> tuple[pl.DataFrame, dict, dict]:
    """Every flagged review's reasons as the scan summary and packets word them.

    Each name in the ``reasons`` column of scores.parquet has its claim.
    """
    bundle = load_scan(scan)
    flagged = bundle.scores.filter(pl.col("flagged"))
    said = wording.reason_texts(
        bundle.reviews,
        bundle.features,
        flagged.select("review_id", "reasons"),
        "en",
        wording.scan_zone(bundle.summary),  # times as the packet shows them
    )
    feats = {r["review_id"]: r for r in bundle.features.iter_rows(named=True)}
    named = flagged.select("review_id", "reasons").explode("reasons").drop_nulls()
    worded = {(rid, x["feature"]) for rid, xs in said.items() for x in xs}
    assert set(named.iter_rows()) == worded
    return bundle.reviews, said, feats


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_shown_reason_holds_in_the_input(scans, name):
    data, said, feats = _shown_reasons(scans[name].scan)
    rows = {r["review_id"]: r for r in data.iter_rows(named=True)}
    checked = 0
    for rid, reasons in said.items():
        for reason in reasons:
            facts = dict(reason["facts"])
            for k, v in facts.items():  # back from their JSON spelling
                if k in ("start", "end") and isinstance(v, str):
                    facts[k] = wording.parse_iso(v)
            _check_claim(reason["feature"], facts, rows[rid], data, feats)
            assert reason["text"] == wording.claim_text(
                reason["feature"],
                {k: v for k, v in reason["facts"].items()} | _typed(reason),
                "en",
                wording.scan_zone(None),
            )
            checked += 1
    assert checked >= 20, f"only {checked} reasons shown on {name}"
    if name == "one_review_each":
        shown = {x["feature"] for rs in said.values() for x in rs}
        assert not shown & USER_FEATURES, shown
    # the packet shows these claims for its cited reviews, and its links' for the others
    p = json.loads((scans[name].packet / "packet.json").read_text(encoding="utf-8"))
    check_packet_reasons(p, data, said)


def check_packet_reasons(p: dict, data: pl.DataFrame, said: dict) -> int:
    """Every cited review has a reason in words: its own claims, else its links', all true."""
    linked = 0
    for c in p["cases"]:
        for r in c["reviews"]:
            assert r["reasons"] and all(x["text"] for x in r["reasons"]), r["review_id"]
            own = [x["text"] for x in said.get(r["review_id"], [])]
            # a delay_burst group's numbers come after the review's own reasons
            rest = [x for x in r["reasons"] if x.get("link") != "delay_burst"]
            assert [x["link"] for x in r["reasons"][len(rest) :]] in ([], ["delay_burst"])
            if own:
                assert [x["text"] for x in rest] == own
            for reason in r["reasons"] if not own else r["reasons"][len(rest) :]:
                assert reason["feature"] is None and reason["facts"]["case"] == c["case_id"]
                _check_link(reason["link"], reason["facts"], r["review_id"], c, data)
                linked += 1
    return linked


def _polarity(rating) -> pl.Expr | int:
    if isinstance(rating, int):
        return 1 if rating >= 4 else -1 if rating <= 2 else 0
    return (rating >= 4).cast(pl.Int8) - (rating <= 2).cast(pl.Int8)


def _check_link(link: str, facts: dict, rid: str, case: dict, data: pl.DataFrame) -> None:
    """Recount one link reason's numbers from the input and the case's review ids."""
    ids = set(case["review_ids"]) | set(case["related_review_ids"])
    me = data.filter(pl.col("review_id") == rid).row(0, named=True)
    others = data.filter(pl.col("review_id").is_in(sorted(ids - {rid})))
    secs = pl.col("created_at").dt.epoch("s")
    if link == "text":
        assert facts["ref"] in ids and facts["ref"] != rid and 2 <= facts["n"] <= len(ids)
        ref = data.filter(pl.col("review_id") == facts["ref"])["text"][0]
        ratios = {
            round(SequenceMatcher(None, a, b, autojunk=False).ratio(), 4)
            for a, b in ((ref, me["text"]), (me["text"], ref))
        }
        assert facts["similarity"] in ratios and facts["similarity"] >= 0.5
    elif link == "burst":
        t0, t1 = (int(wording.parse_iso(facts[k]).timestamp()) for k in ("start", "end"))
        same = data.filter(
            (pl.col("shop_id") == me["shop_id"])
            & (pl.col("product_id") == me["product_id"])
            & (_polarity(pl.col("rating")) == _polarity(me["rating"]))
        ).with_columns(secs.alias("_s"))
        assert t0 <= int(me["created_at"].timestamp()) <= t1
        assert facts["n"] == same.filter(pl.col("_s").is_between(t0, t1)).height >= 2
        outside = same.filter(
            (pl.col("_s") < t0 - BURST_WINDOW_S) | (pl.col("_s") > t1 + BURST_WINDOW_S)
        ).height
        lo, hi = data.select(secs.min(), secs.max().alias("hi")).row(0)
        period = max(hi - lo - (t1 - t0) - 2 * BURST_WINDOW_S, BASELINE_FLOOR_S)
        assert facts["per_day"] == pytest.approx(outside / period * 86_400)
    elif link == "near":
        near = others.filter(
            (pl.col("shop_id") == me["shop_id"])
            & (_polarity(pl.col("rating")) == _polarity(me["rating"]))
            & (
                (pl.col("created_at") - me["created_at"]).dt.total_seconds().abs()
                <= facts["window"]
            )
        )
        if facts["scope"] == "product":
            near = near.filter(pl.col("product_id") == me["product_id"])
        assert facts["n"] == near.height >= 1
    elif link == "delay_burst":
        _check_delay(facts, me, data)
    else:  # a shared IP, network, device or account
        col = {"ip": "_ip", "net": "_net", "device": "device_id", "user": "user_id"}[link]
        keyed = data
        if "ip" in data.columns:
            keyed = data.join(ip_keys(data.lazy().select("ip")).collect(), on="ip", how="left")
        mine = keyed.filter(pl.col("review_id") == rid)[col][0]
        shared = keyed.filter(
            pl.col("review_id").is_in(sorted(ids - {rid})) & (pl.col(col) == mine)
        )
        assert mine is not None and facts["n"] == shared.height >= 1


def _check_delay(facts: dict, me: dict, data: pl.DataFrame) -> None:
    """A delay_burst reason: K prompt of N reviews of the product in the window, the share."""
    window = 28 * 86_400
    t0, t1 = (int(wording.parse_iso(facts[k]).timestamp()) for k in ("start", "end"))
    assert t0 % window == 0 and t1 - t0 == window - 1 and facts["minutes"] == 30
    secs = pl.col("created_at").dt.epoch("s")
    minutes = (pl.col("created_at") - pl.col("delivered_at")).dt.total_seconds() / 60
    known = data.filter(pl.col("delivered_at").is_not_null())
    assert me["product_id"] == facts["product"] and t0 <= me["created_at"].timestamp() <= t1
    assert (me["created_at"] - me["delivered_at"]).total_seconds() <= 30 * 60
    group = known.filter((pl.col("product_id") == facts["product"]) & secs.is_between(t0, t1))
    k = group.filter(minutes <= 30).height
    assert (facts["k"], facts["n"]) == (k, group.height) and k >= 8
    market_k, market_n = known.filter(minutes <= 30).height, known.height
    shop = known.filter(pl.col("shop_id") == me["shop_id"]).join(group, on="review_id", how="anti")
    shop_k, shop_n = shop.filter(minutes <= 30).height, shop.height
    market = market_k / market_n
    by_shop = shop_n > 0 and (shop_k + 50 * market) / (shop_n + 50) > market
    assert facts["ref"] == ("shop" if by_shop else "market")
    assert (facts["ref_k"], facts["ref_n"]) == (
        (shop_k, shop_n) if by_shop else (market_k, market_n)
    )
    assert facts["share"] == pytest.approx(facts["ref_k"] / facts["ref_n"]) and facts["share"] < 0.5


def test_a_delay_campaigns_reviews_state_the_campaigns_numbers(tmp_path):
    """Reviews of a delay_burst group say K of N were prompt where the shop or market usually is not."""
    reviews, labels = build_cell("signal", "delay", 0, 4000)
    data = tmp_path / "delay.parquet"
    reviews.write_parquet(data)
    run_scan(data, tmp_path / "scan")
    shop = _campaign_shop(reviews, labels)
    texts, packets = {}, {}
    bundle = load_scan(tmp_path / "scan")
    for lang in ("en", "zh"):  # the packet's data, without rendering it
        options = PacketOptions(shop, lang=lang, include_all=True)
        p = packets[lang] = json.loads(json.dumps(build_packet(bundle, options).data))
        texts[lang] = [
            x for c in p["cases"] for r in c["reviews"] for x in r["reasons"]
            if x.get("link") == "delay_burst"
        ]  # fmt: skip
    frame, said, _ = _shown_reasons(tmp_path / "scan")
    assert check_packet_reasons(packets["en"], frame, said) >= 8  # each delay reason recounted
    assert len(texts["en"]) == len(texts["zh"]) >= 8
    for en, zh in zip(texts["en"], texts["zh"], strict=True):
        f = en["facts"]
        assert en["text"].startswith(f"One of {f['k']} reviews of product {f['product']} written")
        assert f"of {f['n']} reviews of it" in en["text"] and wording.pct(f["share"]) in en["text"]
        assert f"{f['k']}条评价" in zh["text"] and f"共{f['n']}条" in zh["text"]


def _campaign_shop(reviews: pl.DataFrame, labels: pl.DataFrame) -> str:
    fake = reviews.join(labels.filter(pl.col("is_fake")), on="review_id")
    return (
        fake.group_by("shop_id")
        .len()
        .sort(["len", "shop_id"], descending=[True, False])["shop_id"][0]
    )


def test_every_review_a_merchants_packet_cites_has_a_true_reason(tmp_path):
    """On a seller-centre export most cited reviews are attached (unflagged): their links say why."""
    export = build_export("douyin", seed=2, n=1500)
    paths = write_export(export, tmp_path / "export", fmt="csv")
    scan, packet = tmp_path / "scan", tmp_path / "packet"
    argv = ["scan", str(paths["reviews"]), "--out", str(scan), "--preset", "douyin"]
    assert main([*argv, "--shop", SHOP, "--orders", str(paths["orders"]), "--quiet"]) == 0
    assert evidence(scan, "--shop", SHOP, "--out", packet, "--lang", "en") == 0
    data, said, _ = _shown_reasons(scan)
    p = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    # some cited reviews are attached (unflagged) and carry their links' reasons, each recounted
    assert check_packet_reasons(p, data, said) >= 1


def _typed(reason: dict) -> dict:
    """Facts whose JSON spelling differs from what claim_text takes (times, spans, word pairs)."""
    f = reason["facts"]
    out = {}
    for k, v in f.items():
        if k in ("start", "end"):
            out[k] = wording.parse_iso(v)
        elif k in ("span", "age"):
            out[k] = timedelta(seconds=v)
        elif k in ("stars", "when"):
            out[k] = {"en": v, "zh": v}
    return out


def test_no_professional_negative_claim_when_every_account_has_one_review(scans):
    scores = pl.read_parquet(scans["one_review_each"].scan / "scores.parquet")
    named = set(scores["reasons"].explode().drop_nulls().unique().to_list())
    assert "user_neg_shops" not in named and not named & USER_FEATURES
    p = json.loads((scans["one_review_each"].packet / "packet.json").read_text(encoding="utf-8"))
    shown = {x["feature"] for c in p["cases"] for r in c["reviews"] for x in r["reasons"]}
    assert shown and not shown & USER_FEATURES


# --------------------------------------------------------------------------- times in the export's zone


def test_times_round_trip_in_the_scans_zone(scans, market, tmp_path, monkeypatch):
    """A scan that says its export was in Asia/Shanghai: every time shown is Beijing time."""
    scan = tmp_path / "scan"
    run_scan(scans["full"].data, scan)
    summary = json.loads((scan / "summary.json").read_text(encoding="utf-8"))
    summary["input"] = {"timezone": "Asia/Shanghai"}
    (scan / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    out = tmp_path / "packet"
    assert evidence(scan, "--shop", market.shop, "--out", out, "--lang", "zh") == 0
    p = json.loads((out / "packet.json").read_text(encoding="utf-8"))
    assert p["timezone"] == "Asia/Shanghai"
    utc = dict(market.reviews.select("review_id", "created_at").iter_rows())
    html = (out / "packet.html").read_text(encoding="utf-8")
    assert "Asia/Shanghai (UTC+08:00)" in html
    csv = (out / "appeals.csv").read_text(encoding="utf-8-sig").splitlines()
    header = csv[0].split(",")
    rows = {line.split(",")[0]: line.split(",") for line in csv[1:]}
    for c in p["cases"]:
        for r in c["reviews"]:
            beijing = utc[r["review_id"]].astimezone(wording.ZoneInfo("Asia/Shanghai"))
            assert r["created_at"] == beijing.isoformat(timespec="seconds")
            assert r["created_at"].endswith("+08:00")
            assert beijing.strftime("%Y-%m-%d %H:%M") in html
            row = rows[r["review_id"]]
            assert row[header.index("created_at")] == r["created_at"]
            assert row[header.index("timezone")] == "Asia/Shanghai"


# --------------------------------------------------------------------------- appeal windows


def test_past_appeal_windows_are_marked_and_warned(scans, market, tmp_path, monkeypatch, capsys):
    first, last = market.reviews["created_at"].min(), market.reviews["created_at"].max()
    for when, past in ((last + timedelta(days=400), True), (first + timedelta(days=1), False)):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(when.timestamp())))
        out = tmp_path / f"douyin-{past}"
        code = evidence(
            scans["full"].scan, "--shop", market.shop, "--out", out, "--platform", "douyin",
            "--lang", "en",
        )  # fmt: skip
        assert code == 0
        err = capsys.readouterr().err
        p = json.loads((out / "packet.json").read_text(encoding="utf-8"))
        flags = [r["appeal_past"] for c in p["cases"] for r in c["reviews"]]
        html = (out / "packet.html").read_text(encoding="utf-8")
        csv = (out / "appeals.csv").read_text(encoding="utf-8-sig")
        if past:
            assert flags and all(flags) and "30-day appeal window" in err
            assert "window closed" in html and ",yes," in csv
        else:
            assert flags and not any(flags) and "appeal window" not in err
            assert "window closed" not in html and ",yes," not in csv


# --------------------------------------------------------------------------- cards fit long ids


def test_cards_fit_19_digit_ids_and_long_nicknames(market, tmp_path, monkeypatch):
    long_ids = market.reviews.with_columns(
        (pl.lit("4") + pl.col("review_id").str.slice(1).str.zfill(18)).alias("review_id"),
        (pl.lit("一个非常非常长的买家昵称_") + pl.col("user_id")).alias("user_id"),
    )
    assert long_ids["review_id"].str.len_chars().min() == 19
    data = tmp_path / "long.parquet"
    long_ids.write_parquet(data)
    run_scan(data, tmp_path / "scan")
    packet = build_packet(load_scan(tmp_path / "scan"), PacketOptions(shop=market.shop, lang="zh"))
    drawn = []
    real_at = cards._Page.at

    def at(self, x, y, s, size=16, color=cards.charts.INK, bold=False, mono=False):
        font = self.font(s, size, bold, mono)
        drawn.append((x, y, s, font.getlength(self._clean(s, font)), size))
        return real_at(self, x, y, s, size, color, bold, mono)

    monkeypatch.setattr(cards._Page, "at", at)
    rendered, _ = cards.render_cards(packet)
    assert len(rendered) >= 2
    ids = {r["review_id"] for c in packet.data["cases"] for r in c["reviews"]}
    lines = [d for d in drawn if d[2].split("  ")[0] in ids]
    assert lines, "no cited id was drawn"
    for x, y, s, w, _ in lines:
        assert x + w <= cards.WIDTH - cards.MARGIN, f"{s!r} runs off the card"
        others = [d for d in lines if d[1] == y and d[0] > x]
        assert all(x + w < o[0] for o in others), f"{s!r} overlaps the next column"
    # a long nickname is wrapped, never cut
    words = cards._Page(True).wrap("账号 " + long_ids["user_id"][0] * 3, 17, False, 400, None)
    joined, expected = "".join(words).replace(" ", ""), "账号" + long_ids["user_id"][0] * 3
    # every character kept, in order (as "?" where no font on this machine draws it)
    assert len(joined) == len(expected), joined
    assert all(a in (b, "?") for a, b in zip(joined, expected, strict=True)), joined


# --------------------------------------------------------------------------- numbers and language


def test_numbers_as_a_person_writes_them():
    assert wording.human(1234) == "1,234" and wording.human(4.6) == "4.6"
    assert wording.human(0.0362) == "0.036" and wording.human(2e-138) == "< 0.0001"
    assert wording.chance(2e-138, "en") == "< 1 in a million"
    assert wording.chance(2.2e-5, "en") == "1 in 45,000"
    assert wording.chance(2.2e-5, "zh") == "45,000分之一"
    assert wording.chance(0.034, "en") == "0.03"


def test_no_number_is_shown_in_scientific_notation(scans):
    p = scans["full"].packet
    shown = (p / "packet.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", shown)
    sci = r"(?<![\w.])\d+(\.\d+)?e[-+]?\d+(?!\w)"  # 2e-138, not a hex id's 3e1
    assert not re.search(sci, text), re.search(".{30}" + sci, text)


def test_language_follows_the_locale(monkeypatch):
    assert wording.default_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert wording.default_lang({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert wording.default_lang({}) == "en"


def test_demo_speaks_the_users_language_and_says_what_to_run_next(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--reviews", "3000", "--seed", "5"]) == 0
    printed = capsys.readouterr().out
    assert "已评分" in printed and "下一步" in printed
    assert "review-detector evidence" in printed and "--shop" in printed
    for name in REGISTRY.features:  # registry explanations, never feature names
        assert name not in printed, name
    # a line Rich would have wrapped at 80 columns is one line outside a terminal
    assert all(len(line) < 400 for line in printed.splitlines())
    assert any(len(line) > 80 for line in printed.splitlines())


def test_user_strings_are_printed_as_text_not_markup(scans, tmp_path, capsys):
    assert evidence(scans["full"].scan, "--shop", "[bold red]x[/]", "--out", tmp_path / "p") == 2
    err = capsys.readouterr().err
    assert "[bold red]x[/]" in err


def test_link_reasons_state_what_holds_of_each_review():
    """Each link type's statement, on a small case whose numbers are known by construction."""
    from datetime import UTC, datetime

    from detector.evidence.case_facts import with_keys
    from detector.evidence.link_reasons import link_reasons
    from detector.evidence.spans import shared_spans

    t0 = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "review_id": ["a", "b", "c", "d", "e"],
            "shop_id": ["s", "s", "s", "s", "t"],
            "product_id": ["p", "p", "q", "p", "p"],
            "user_id": ["u1", "u2", "u3", "u4", "u5"],
            "rating": [1, 1, 2, 1, 1],
            "created_at": [t0 + timedelta(hours=h) for h in (0, 1, 2, 30, 1)],
            "ip": ["1.2.3.4", "1.2.3.4", "1.2.3.9", None, "1.2.3.4"],
            "device_id": ["d1", "d1", None, None, None],
            "text": ["千万别买，质量太差了", "千万别买，质量太差了！", "x", "y", "z"],
        }
    )
    members = with_keys(rows)
    at_shop = members.filter(pl.col("shop_id") == "s")
    edges = [
        {"a": "a", "b": "b", "type": t, "key": k}
        for t, k in (("text", "7"), ("ip", "1.2.3.4"), ("device", "d1"))
    ] + [{"a": "b", "b": "c", "type": "window", "key": "s|-1"}]
    edges.append({"a": "b", "b": "d", "type": "burst", "key": "p|-1"})
    sim = shared_spans(rows["text"][0], rows["text"][1])[2]
    cluster = {
        "reference": {"review_id": "a", "text": rows["text"][0]},
        "matches": [{"review_id": "b", "similarity": round(sim, 4)}],
        "n_reviews": 2,
    }
    case = {
        "case_id": "C-1",
        "evidence": {"edges": edges, "text_clusters": [cluster], "bursts": []},
    }
    zone = wording.ZoneInfo("UTC")
    got = link_reasons(case, at_shop, members, ["a", "b", "c", "d"], "en", zone)
    facts = {rid: {x["link"]: x["facts"] for x in xs} for rid, xs in got.items()}
    assert facts["a"]["text"]["ref"] == "b" and facts["b"]["text"]["ref"] == "a"
    assert facts["a"]["ip"]["n"] == 2  # b at this shop and e at another
    assert facts["a"]["device"]["n"] == 1
    assert facts["c"]["near"] == {"case": "C-1", "n": 2, "window": BURST_WINDOW_S, "scope": "shop"}
    assert "net" not in facts["c"]  # c has no net edge: its /24 is not a reason given
    assert "d" not in facts or not got["d"]  # 29 h from b: no burst shown, nothing near
    assert got["a"][0]["text"].startswith("Its text is ") and "case C-1" in got["a"][0]["text"]
