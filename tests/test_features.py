"""Feature registry and pipeline: declarations, purity, degradation, invariance."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.pipeline import compute_features, plan
from features.prepare import prepare, prepare_frame
from features.registry import FAMILIES, REGISTRY

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def market(seed: int, n: int, shop_prefix: str, with_optional: bool = True) -> pl.DataFrame:
    """Hand-made reviews whose ids, IPs and texts are private to ``shop_prefix``."""
    rng = np.random.default_rng(seed)
    users = [f"{shop_prefix}-u{i}" for i in rng.integers(0, max(n // 3, 2), n)]
    words = [f"{shop_prefix}词{i}" for i in range(40)]
    df = pl.DataFrame(
        {
            "review_id": [f"{shop_prefix}-r{i}" for i in range(n)],
            "shop_id": [f"{shop_prefix}-s{i}" for i in rng.integers(0, 3, n)],
            "product_id": [f"{shop_prefix}-p{i}" for i in rng.integers(0, 12, n)],
            "user_id": users,
            "rating": rng.choice([1, 2, 3, 4, 5], n, p=[0.1, 0.05, 0.05, 0.2, 0.6]).astype(np.int8),
            "created_at": [
                T0 + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 90, n)
            ],
        }
    )
    if with_optional:
        octet = {"A": 10, "B": 20, "C": 30}.get(shop_prefix[0], 40)
        df = df.with_columns(
            pl.Series("text", ["".join(rng.choice(words, 6)) for _ in range(n)]),
            pl.Series("ip", [f"{octet}.{a}.{b}.{c}" for a, b, c in rng.integers(0, 4, (n, 3))]),
            pl.Series("device_id", [f"{shop_prefix}-d{i}" for i in rng.integers(0, n // 2 + 1, n)]),
            (pl.col("created_at") - pl.duration(minutes=rng.integers(1, 60 * 24 * 5, n))).alias(
                "delivered_at"
            ),
        )
    return df


def by_review(fr) -> pl.DataFrame:
    return fr.frame.drop("_rid").sort("review_id")


def test_every_feature_is_declared_once_with_explanations():
    feats = REGISTRY.features
    assert len(feats) >= 15
    for f in feats.values():
        assert f.family in FAMILIES
        assert f.direction in (1, -1)
        assert f.en and f.zh and f.en != f.zh
    assert {f.family for f in feats.values()} == set(FAMILIES)


def test_steps_add_exactly_the_columns_they_declare():
    df = market(1, 400, "A")
    prepared = prepare(df.lazy()).collect()
    steps, tables_needed, _ = plan(df.columns)
    tables = {}
    for t in tables_needed:
        tables[t.name] = t.build(prepared.lazy(), tables)
    for step in steps:
        out = step.fn(prepared.lazy(), tables).collect()
        added = set(out.columns) - set(prepared.columns)
        assert added == set(step.columns), step.name
        assert out.height == prepared.height, step.name


@pytest.mark.parametrize("with_optional", [True, False])
def test_materialised_prepare_matches_the_lazy_definition(with_optional):
    """prepare_frame keeps the input's buffers but gives prepare()'s values, row for row."""
    df = market(3, 500, "A", with_optional=with_optional)
    if with_optional:
        df = df.with_columns(
            pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("ip")).alias("ip"),
            pl.when(pl.int_range(pl.len()) % 5 == 0)
            .then(None)
            .otherwise(pl.col("text"))
            .alias("text"),
        )
    keep = [c for c in df.columns if c not in ("text", "ip")]
    lazy = prepare(df.lazy()).collect(engine="in-memory")
    got = prepare_frame(df, keep)
    derived = [c for c in lazy.columns if c.startswith("_")]
    assert sorted(got.columns) == sorted(keep + derived)
    assert got.select(lazy.select(keep + derived).columns).equals(lazy.select(keep + derived))


def test_missing_columns_skip_features_and_say_which():
    df = market(2, 300, "A", with_optional=False)
    fr = compute_features(df)
    unavailable = fr.unavailable
    assert "text_dup_window" in unavailable and unavailable["text_dup_window"] == ["text"]
    assert "ip_shop_burst" in unavailable and "ip" in unavailable["ip_shop_burst"]
    assert "review_delay_minutes" in unavailable
    assert "user_review_count" in fr.features
    assert not set(fr.features) & set(unavailable)


def test_features_are_finite_floats():
    fr = compute_features(market(3, 500, "A"))
    for name in fr.features:
        col = fr.frame[name]
        assert col.dtype == pl.Float64
        assert col.is_finite().all(), name


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_features_do_not_depend_on_row_order(seed):
    df = market(seed, 300, "A")
    perm = np.random.default_rng(seed).permutation(df.height)
    a = by_review(compute_features(df))
    b = by_review(compute_features(df[perm]))
    assert a.columns == b.columns
    for c in a.columns[1:]:
        assert np.allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-9, atol=1e-9), c


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), other=st.integers(50, 400))
def test_unrelated_shops_do_not_change_a_shops_features(seed, other):
    a = market(seed, 300, "A")
    b = market(seed + 1, other, "B")
    alone = by_review(compute_features(a))
    together = by_review(compute_features(pl.concat([a, b]))).filter(
        pl.col("review_id").str.starts_with("A-")
    )
    for c in alone.columns[1:]:
        assert np.allclose(alone[c].to_numpy(), together[c].to_numpy(), rtol=1e-9, atol=1e-9), c


def test_templates_burst_and_rings_are_found():
    df = market(5, 600, "A")
    # plant: 12 fresh accounts post one paraphrased template at one shop within an hour
    camp = pl.DataFrame(
        {
            "review_id": [f"X-r{i}" for i in range(12)],
            "shop_id": ["A-s0"] * 12,
            "product_id": ["A-p1"] * 12,
            "user_id": [f"X-u{i}" for i in range(12)],
            "rating": [5] * 12,
            "created_at": [T0 + dt.timedelta(days=40, minutes=5 * i) for i in range(12)],
            "text": [
                "这款保温杯质量非常好保温效果一流物流也很快推荐购买" + ("哈" * (i % 3))
                for i in range(12)
            ],
            "ip": [f"99.1.1.{i}" for i in range(12)],
            "device_id": [f"X-d{i % 3}" for i in range(12)],
            "delivered_at": [T0 + dt.timedelta(days=40, minutes=5 * i - 3) for i in range(12)],
        },
        schema=df.schema,
    )
    fr = compute_features(pl.concat([df, camp]))
    f = fr.frame.filter(pl.col("review_id").str.starts_with("X-"))
    rest = fr.frame.filter(~pl.col("review_id").str.starts_with("X-"))
    assert f["text_dup_window"].min() >= 10
    assert f["net_shop_burst"].min() > rest["net_shop_burst"].quantile(0.99)
    assert f["device_users"].min() == 4
    assert f["device_product_users"].min() == 3  # the other three accounts on each phone
    assert f["review_delay_minutes"].max() <= 3
    assert f["fresh_burst"].min() > rest["fresh_burst"].quantile(0.99)


def test_platform_default_texts_are_never_templates():
    df = market(6, 300, "A")
    defaults = pl.DataFrame(
        {
            "review_id": [f"D-r{i}" for i in range(40)],
            "shop_id": ["A-s0"] * 40,
            "product_id": ["A-p2"] * 40,
            "user_id": [f"D-u{i}" for i in range(40)],
            "rating": [5] * 40,
            "created_at": [T0 + dt.timedelta(days=10, minutes=i) for i in range(40)],
            "text": ["此用户没有填写评价", "好评！", "默认好评", "Good"] * 10,
            "ip": [f"77.{i}.0.1" for i in range(40)],
            "device_id": [f"D-d{i}" for i in range(40)],
            "delivered_at": [T0 + dt.timedelta(days=8) for _ in range(40)],
        },
        schema=df.schema,
    )
    fr = compute_features(pl.concat([df, defaults]))
    f = fr.frame.filter(pl.col("review_id").str.starts_with("D-"))
    assert f["text_dup_window"].max() == 0
    assert f["text_cluster_users"].max() == 0


def _many_shops(n_shops: int, per_shop: int, seed: int) -> pl.DataFrame:
    """Honest buyers at ``n_shops`` shops of equal size, each writing its own texts."""
    return pl.concat(
        [market(seed + k, per_shop, f"H{k:02d}", with_optional=True) for k in range(n_shops)]
    )


def test_a_phrase_many_buyers_write_everywhere_is_no_template():
    """A common phrase fires nothing; the same phrase piled up at one shop still does."""
    df = _many_shops(12, 150, 40)
    shops = sorted(df["shop_id"].unique().to_list())
    phrase = "物流很快，质量很好，下次还来"  # 12 letters after normalising: a candidate
    n = 40  # below the 50 writers the old absolute rule needed
    common = pl.DataFrame(
        {
            "review_id": [f"C-r{i}" for i in range(n)],
            "shop_id": [shops[(i * 7) % len(shops)] for i in range(n)],
            "product_id": [f"C-p{i % 9}" for i in range(n)],
            "user_id": [f"C-u{i}" for i in range(n)],
            "rating": [5] * n,
            "created_at": [T0 + dt.timedelta(hours=29 * i) for i in range(n)],
            "text": [phrase] * n,
            "ip": [f"88.{i}.3.4" for i in range(n)],
            "device_id": [f"C-d{i}" for i in range(n)],
            "delivered_at": [T0 + dt.timedelta(hours=29 * i - 50) for i in range(n)],
        },
        schema=df.schema,
    )
    f = compute_features(pl.concat([df, common])).frame
    c = f.filter(pl.col("review_id").str.starts_with("C-"))
    assert c["text_cluster_users"].max() == 0 and c["text_dup_window"].max() == 0
    # 25 of the writers at one shop, within days: that shop holds far more than its share
    piled = common.with_columns(
        pl.when(pl.int_range(pl.len()) < 25)
        .then(pl.lit(shops[0]))
        .otherwise(pl.col("shop_id"))
        .alias("shop_id"),
        pl.when(pl.int_range(pl.len()) < 25)
        .then(pl.lit(T0) + pl.duration(hours=pl.int_range(pl.len())))
        .otherwise(pl.col("created_at"))
        .alias("created_at"),
    )
    f = compute_features(pl.concat([df, piled])).frame
    c = f.filter(pl.col("review_id").is_in([f"C-r{i}" for i in range(25)]))
    assert c["text_cluster_users"].min() >= 24 and c["text_dup_window"].min() >= 10
    # the pile is the template; the buyers who wrote the phrase elsewhere are not its accounts
    assert c["text_cluster_users"].max() == 24
    rest = f.filter(pl.col("review_id").is_in([f"C-r{i}" for i in range(25, n)]))
    assert rest["text_cluster_users"].max() == 0 and rest["text_dup_window"].max() == 0


def _crowd(prefix: str, n: int, start: dt.datetime, hours: float, nat_share: float, seed: int):
    """``n`` honest buyers at shop S0 over ``hours``; ``nat_share`` of them behind one NAT address."""
    rng = np.random.default_rng(seed)
    nat = rng.random(n) < nat_share
    base = 30 if prefix == "A" else 130  # the crowds' own addresses never meet
    ips = [
        "100.64.7.9" if m else f"{base + i % 90}.{i % 97}.{i // 97 % 250}.5"
        for i, m in enumerate(nat)
    ]
    t = [start + dt.timedelta(hours=float(h)) for h in np.sort(rng.uniform(0, hours, n))]
    return pl.DataFrame(
        {
            "review_id": [f"{prefix}-r{i}" for i in range(n)],
            "shop_id": ["S0"] * n,
            "product_id": [f"P{i % 5}" for i in range(n)],
            "user_id": [f"{prefix}-u{i}" for i in range(n)],
            "rating": [5] * n,
            "created_at": t,
            "ip": ips,
        }
    ), nat


def test_a_flash_sale_behind_carrier_nat_is_no_identity_burst():
    """A NAT address holding a steady share of a shop's buyers stays quiet when the shop's crowd surges."""
    steady, _ = _crowd("A", 400, T0, 24 * 90, 0.4, 1)
    sale, nat = _crowd("F", 200, T0 + dt.timedelta(days=100), 20, 0.4, 2)
    # a campaign: 8 accounts on one /24 that never reviewed the shop, in an hour
    camp = pl.DataFrame(
        {
            "review_id": [f"X-r{i}" for i in range(8)],
            "shop_id": ["S0"] * 8,
            "product_id": ["P1"] * 8,
            "user_id": [f"X-u{i}" for i in range(8)],
            "rating": [5] * 8,
            "created_at": [T0 + dt.timedelta(days=50, minutes=7 * i) for i in range(8)],
            "ip": [f"203.0.113.{i + 1}" for i in range(8)],
        }
    )
    fr = compute_features(pl.concat([steady, sale, camp], how="vertical_relaxed"))
    f = fr.frame.join(fr.keys.select("_rid"), on="_rid")
    sale_nat = f.filter(pl.col("review_id").is_in([f"F-r{i}" for i in np.flatnonzero(nat)]))
    assert sale_nat["ip_shop_burst"].max() < 2 and sale_nat["net_shop_burst"].max() < 2
    x = f.filter(pl.col("review_id").str.starts_with("X-"))
    assert x["net_shop_burst"].min() > 5


def _coreviews(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    """5-star reviews at one shop from ``(user, product, minute)`` rows."""
    return pl.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(len(rows))],
            "shop_id": ["S"] * len(rows),
            "product_id": [f"P{p}" for _, p, _ in rows],
            "user_id": [u for u, _, _ in rows],
            "rating": [5] * len(rows),
            "created_at": [T0 + dt.timedelta(minutes=int(m)) for _, _, m in rows],
        }
    )


def test_repeat_buyers_meeting_by_chance_are_no_ring_but_a_lockstep_ring_is():
    """Co-reviews are counted against the chance that the products' timing gives them."""
    import features.cooccurrence as co

    rng = np.random.default_rng(8)
    year = 365 * 24 * 60
    rows = []  # (user, product, minute)
    for p in range(6):
        rows += [(f"bg{p}-{i}", p, m) for i, m in enumerate(rng.integers(0, year, 100))]
        # two loyal buyers, each reviewing every product a dozen times over the year
        rows += [(h, p, int(m)) for h in ("H1", "H2") for m in rng.integers(0, year, 12)]
    for start in (20_000, 300_000):  # five accounts review six products together, twice
        rows += [(f"R{a}", p, start + 10 * a + p) for a in range(5) for p in range(6)]
    df = _coreviews(rows)
    fr = compute_features(df, keep_tables=True)
    pairs = fr.tables["coreview_pairs"]
    met = pairs.filter((pl.col("user_a") == "H1") & (pl.col("user_b") == "H2")).height
    assert met >= co.RING_MIN_PRODUCTS  # by counts alone the loyal buyers are a ring
    edges = fr.tables["ring_edges"]
    users = set(edges["user_a"].to_list()) | set(edges["user_b"].to_list())
    assert users == {f"R{a}" for a in range(5)}
    assert edges.height == 10
    # the ring's co-reviews are almost all beyond what the products' timing explains
    assert fr.tables["rings"]["ring_excess"].min() > 0.95


def test_a_ring_account_counts_its_whole_rings_accounts_on_the_product():
    """An aged account passes the share test with few of its ring: the ring still acts together."""
    rng = np.random.default_rng(4)
    year = 365 * 24 * 60
    rows = [(f"bg{i}", int(i % 6), int(m)) for i, m in enumerate(rng.integers(0, year, 400))]
    for start in (20_000, 300_000):  # five accounts review three products together, twice
        rows += [(f"R{a}", p, start + 10 * a + p) for a in range(5) for p in range(3)]
    # R3 and R4 have histories of their own (20 products each): the three products
    # they co-reviewed are too small a share of either's for an edge between them
    rows += [(u, 10 + k + 20 * j, 1_000 * k) for j, u in enumerate(("R3", "R4")) for k in range(20)]
    fr = compute_features(_coreviews(rows), keep_tables=True)
    edges = fr.tables["ring_edges"]
    pairs = set(zip(edges["user_a"].to_list(), edges["user_b"].to_list(), strict=True))
    assert ("R3", "R4") not in pairs and len(pairs) == 9
    f = fr.frame.join(_coreviews(rows).select("review_id", "user_id", "product_id"), on="review_id")
    wave = f.filter((pl.col("user_id") == "R4") & (pl.col("product_id").is_in(["P0", "P1", "P2"])))
    # the other four accounts of its ring, R3 among them
    assert wave.height == 6 and wave["ring_partners"].min() == 4


def test_a_ring_accounts_review_away_from_its_wave_is_not_lockstep():
    """Ring features are per review: the ring acted on this product within the window."""
    rows = []  # (user, product, minute)
    for start in (20_000, 300_000):  # five accounts review six products together, twice
        rows += [(f"R{a}", p, start + 10 * a + p) for a in range(5) for p in range(6)]
    rows += [(f"bg{i}", i % 6, 1_000 * i) for i in range(400)]
    rows.append(("R0", 0, 150_000))  # R0 reviews product 0 again, months from either wave
    df = _coreviews(rows)
    fr = compute_features(df)
    f = fr.frame.join(df.select("review_id", "user_id"), on="review_id")
    wave = f.filter(pl.col("user_id").str.starts_with("R") & (pl.col("review_id") != "r460"))
    assert wave["ring_partners"].min() == 4 and wave["ring_size"].min() == 5
    away = f.filter(pl.col("review_id") == "r460")
    assert away["ring_partners"].item() == 0 and away["ring_size"].item() == 0
    linked = fr.keys.filter(pl.col("review_id") == "r460")
    assert linked["ring_id"].is_null().all()


@pytest.mark.parametrize("family", FAMILIES)
def test_family_ablation_removes_only_that_family(family):
    df = market(7, 300, "A")
    fr = compute_features(df, families=[f for f in FAMILIES if f != family])
    assert all(REGISTRY.get(n).family != family for n in fr.features)
    assert fr.features


def test_tiny_inputs_do_not_break_any_table():
    for n in (1, 2, 3):
        fr = compute_features(market(8, n, "A"))
        assert fr.frame.height == n


def test_pair_weights_are_exact_even_when_user_hashes_collide(monkeypatch):
    import features.cooccurrence as co

    rng = np.random.default_rng(4)
    a = rng.integers(0, 40, 3_000)
    b = rng.integers(0, 40, 3_000)
    keep = a != b
    pairs = pl.DataFrame(
        {
            "product_id": [f"p{i}" for i in range(int(keep.sum()))],
            "user_a": [f"u{x:02d}" for x in np.minimum(a[keep], b[keep])],
            "user_b": [f"u{x:02d}" for x in np.maximum(a[keep], b[keep])],
        }
    )
    exact = (
        pairs.group_by("user_a", "user_b")
        .agg(pl.len().alias("weight"))
        .filter(pl.col("weight") >= co.RING_MIN_PRODUCTS)
        .sort("user_a", "user_b")
    )
    assert exact.height > 10
    got = co._strong_pair_weights(pairs).sort("user_a", "user_b")
    assert got.equals(exact.select(got.columns))
    # a hash with 3 values makes most users collide: the fallback counts by name
    monkeypatch.setattr(co, "_user_hash", lambda c: pl.col(c).hash(seed=0) % 3)
    got = co._strong_pair_weights(pairs).sort("user_a", "user_b")
    assert got.equals(exact.select(got.columns))


def test_a_device_value_shared_by_accounts_everywhere_names_no_phone():
    """A placeholder (or model name) behind many accounts on many products is no identity."""
    n = 400
    df = pl.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(n)],
            "shop_id": ["S"] * n,
            "product_id": [f"P{i % 20}" for i in range(n)],
            "user_id": [f"u{i}" for i in range(n)],
            "rating": [5] * n,
            "created_at": [T0 + dt.timedelta(hours=i) for i in range(n)],
            "device_id": ["iPhone"] * (n - 6) + ["phone-1"] * 3 + ["phone-2"] * 3,
        }
    ).with_columns(
        pl.when(pl.col("device_id") == "phone-1")
        .then(pl.lit("P99"))
        .otherwise(pl.col("product_id"))
        .alias("product_id")
    )
    f = by_review(compute_features(df))
    placeholder = f.filter(pl.col("review_id").is_in([f"r{i}" for i in range(n - 6)]))
    assert placeholder["device_users"].min() == n - 6
    assert placeholder["device_product_users"].max() == 0
    phone = f.filter(pl.col("review_id").is_in([f"r{i}" for i in range(n - 6, n - 3)]))
    assert phone["device_product_users"].to_list() == [2.0, 2.0, 2.0]


def _fresh_burst_of(buyers_fresh: bool, reviewers_history: int) -> pl.DataFrame:
    """A product with steady reviews for 60 days, then 30 5-star reviews in an hour.

    The steady buyers have ``reviewers_history`` other reviews each; the burst's
    buyers are new accounts (``buyers_fresh``) or buyers like the steady ones.
    """
    rows = []
    for i in range(120):  # steady buyers, each with history elsewhere
        u = f"old{i}"
        rows.append((f"r{i}", "s", "p", u, 5, T0 + dt.timedelta(hours=12 * i)))
        for h in range(reviewers_history):
            rows.append((f"h{i}-{h}", "s2", f"q{h}", u, 5, T0 + dt.timedelta(days=h, hours=i)))
    for i in range(30):
        u = f"new{i}" if buyers_fresh else f"old{i}"
        rows.append((f"b{i}", "s", "p", u, 5, T0 + dt.timedelta(days=61, minutes=2 * i)))
    cols = ["review_id", "shop_id", "product_id", "user_id", "rating", "created_at"]
    df = pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.col("rating").cast(pl.Int8))
    return compute_features(df).frame.sort("review_id")


def test_fresh_burst_needs_new_accounts_far_beyond_their_usual_share():
    """New accounts making a burst where buyers usually have a history: fresh_burst;
    the same burst where every account is new (a merchant's export, in which each buyer
    appears once) or made of the usual buyers: a burst only, which flash sales make too."""
    campaign = _fresh_burst_of(buyers_fresh=True, reviewers_history=3)
    burst = campaign.filter(pl.col("review_id").str.starts_with("b"))
    assert burst["fresh_burst"].min() > 2.0
    assert burst["product_burst"].min() > 2.0
    everyone_new = _fresh_burst_of(buyers_fresh=True, reviewers_history=0)
    burst = everyone_new.filter(pl.col("review_id").str.starts_with("b"))
    assert burst["product_burst"].min() > 2.0 and burst["fresh_burst"].max() == 0.0
    usual = _fresh_burst_of(buyers_fresh=False, reviewers_history=3)
    assert usual["fresh_burst"].max() == 0.0


def _prompt_shop(campaign_prompt: bool, everyone_prompt: bool = False) -> pl.DataFrame:
    """A shop's product with 150 reviews over 150 days, delays of hours to days, and
    25 more 5-star reviews within 5 days (posted 2-10 min after receipt when
    ``campaign_prompt``); 15 honest prompt reviewers spread over the whole period."""
    rng = np.random.default_rng(7)
    n, k = 150, 25
    t = np.sort(rng.uniform(0, 150 * 86_400, n)).astype(np.int64)
    delay_min = rng.uniform(240, 4_000, n)
    delay_min[rng.choice(n, 15, replace=False)] = rng.uniform(1, 30, 15)
    if everyone_prompt:  # a shop that asks every buyer to review on delivery
        delay_min = rng.uniform(1, 30, n)
    tc = (60 * 86_400 + np.sort(rng.uniform(0, 5 * 86_400, k))).astype(np.int64)
    dc = rng.uniform(2, 10, k) if campaign_prompt else rng.uniform(240, 4_000, k)
    created = [T0 + dt.timedelta(seconds=int(x)) for x in np.concatenate([t, tc])]
    delays = np.concatenate([delay_min, dc])
    return pl.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(n + k)],
            "shop_id": ["S"] * (n + k),
            "product_id": ["P"] * (n + k),
            "user_id": [f"u{i}" for i in range(n + k)],
            "rating": [5] * (n + k),
            "created_at": created,
            "delivered_at": [
                c - dt.timedelta(minutes=float(m)) for c, m in zip(created, delays, strict=True)
            ],
        }
    )


def test_prompt_burst_marks_a_run_of_prompt_reviews_not_prompt_reviewers():
    campaign = [f"r{i}" for i in range(150, 175)]
    f = by_review(compute_features(_prompt_shop(True)))
    got = f.filter(pl.col("review_id").is_in(campaign))["prompt_burst"]
    assert got.min() > REGISTRY.get("prompt_burst").claim.tail
    honest = f.filter(~pl.col("review_id").is_in(campaign))["prompt_burst"]
    # the honest prompt reviewers spread over months carry nothing (those inside
    # the campaign's week are part of its window, and may)
    assert (honest > 0).sum() <= 3
    # the same campaign without its prompt delays, and a shop where every buyer is prompt
    assert by_review(compute_features(_prompt_shop(False)))["prompt_burst"].max() == 0
    everyone = by_review(compute_features(_prompt_shop(True, everyone_prompt=True)))
    assert everyone["prompt_burst"].max() < REGISTRY.get("prompt_burst").claim.tail
