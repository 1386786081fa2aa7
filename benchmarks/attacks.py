"""Planted fraud: the four attack families of the synthetic market.

Each family function returns a block (see :mod:`benchmarks.market`) of fake
reviews with ``family`` and ``campaign`` set. Python loops run over campaigns
(a few hundred at most), never over reviews.

Knob semantics shared by the families (see the config classes in
:mod:`benchmarks.generator`):

* ``fresh_ip_share``: share of a campaign's reviews sent from a fresh IP (a
  random proxy address; for ``ring`` the account's own home address); the rest
  come from the campaign's shared pool of a few hosts in one /24.
* ``paraphrase``: template paraphrase strength, 0 (every review of the
  campaign has the identical text) to 1 (heavily varied), see
  :func:`benchmarks.texts.template_texts`. It is the family's mean: each
  campaign draws ``paraphrase x U(0.4, 1.6)`` (clipped to [0, 1]), so 0 stays 0.
* ``spread_hours``: range the campaign's time spread is drawn from.
* ``delay_minutes``: range of the (log-uniform) delivered→review delay.
* Evasions (:class:`benchmarks.generator.CampaignKnobs`, defaults change
  nothing): ``pool_prefix`` / ``pool_hosts`` (the shared pool over a /16),
  ``text="honest"`` (natural texts instead of templates), ``perturb`` (noise
  and an extra phrase, :func:`benchmarks.texts.perturb_texts`) and, applied by
  the generator, ``aged_share`` / ``history``; per family
  ``four_star_share`` / ``two_star_share`` and (boost, smear)
  ``device_pool_share`` / ``device_pool``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from benchmarks import texts
from benchmarks.market import (
    BLOCK_SCHEMA,
    DAY_US,
    HOUR_US,
    MINUTE_US,
    TRAP_NONE,
    IPs,
    Market,
    log_uniform,
    make_block,
    random_device,
    random_ips,
    sample_products_in_shops,
    scale_counts,
    subnet_pool,
    v4_ips,
    weighted_sample,
)

if TYPE_CHECKING:
    from benchmarks.generator import GeneratorConfig

FAMILY_CODES = {"boost": 0, "smear": 1, "ring": 2, "pro_negative": 3}


class UserAlloc:
    """Hands out consecutive user numbers."""

    def __init__(self, start: int = 0):
        self.next = start

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out


@dataclass
class RingAccounts:
    """Ring accounts and what their camouflage reviews need."""

    users: np.ndarray
    home: IPs
    device: np.ndarray
    camouflage: np.ndarray  # number of camouflage reviews per account


def n_campaigns(fixed: int | None, budget: float, expected: float, min_c: int) -> int:
    """The configured number, else enough for the budget (at least ``min_c``; 0 without budget)."""
    if fixed is not None:
        return max(0, int(fixed))
    if budget <= 0:
        return 0
    return max(min_c, int(round(budget / max(expected, 1.0))))


def campaign_paraphrase(rng: np.random.Generator, mean: float, n_c: int) -> np.ndarray:
    """Per-campaign paraphrase strength: ``mean`` x U(0.4, 1.6), within [0, 1]."""
    return np.clip(mean * rng.uniform(0.4, 1.6, n_c), 0.0, 1.0)


def empty_block() -> pl.DataFrame:
    return pl.DataFrame(schema=BLOCK_SCHEMA)


def _campaign_ips(
    rng: np.random.Generator,
    n: int,
    fresh_share: float,
    pool: np.ndarray,
    v6_share: float,
    fresh: IPs | None = None,
) -> IPs:
    """Pool addresses, replaced by ``fresh`` ones (random proxies by default) at ``fresh_share``."""
    pooled = v4_ips(pool[rng.integers(0, len(pool), n)])
    if fresh is None:
        fresh = random_ips(rng, n, v6_share)
    return pooled.where(rng.random(n) < fresh_share, fresh)


def _devices(
    rng: np.random.Generator,
    n: int,
    pool_share: float,
    null_share: float,
    pool_size: tuple[int, int] = (2, 6),
) -> np.ndarray:
    """A campaign's devices: a pool of ``pool_size`` phones at ``pool_share``, else one each."""
    pool = random_device(rng, int(rng.integers(pool_size[0], pool_size[1] + 1)))
    dev = np.where(
        rng.random(n) < pool_share, pool[rng.integers(0, len(pool), n)], random_device(rng, n)
    )
    dev[rng.random(n) < null_share] = 0
    return dev.astype(np.uint64)


def _pool(rng: np.random.Generator, fc) -> np.ndarray:
    """The campaign's shared addresses: ``pool_hosts`` hosts in one /24 (or spread over a /16)."""
    lo, hi = fc.pool_hosts
    return subnet_pool(rng, int(rng.integers(lo, hi + 1)), fc.pool_prefix)


def _evade_text(
    rng: np.random.Generator, fc, text: pl.Series, parts: list[dict], market: Market, n_c: int
) -> pl.Series:
    """A careful operator's texts: honest-looking ones (``text="honest"``) and/or perturbed ones.

    Draws nothing with the defaults, so the default market is unchanged.
    """
    if fc.text == "template" and fc.perturb <= 0:
        return text
    rating = np.concatenate([p["rating"] for p in parts])
    if fc.text == "honest":
        product = np.concatenate([p["product"] for p in parts])
        text = texts.honest_texts(
            rng, rating, market.product_cat[product], np.zeros(len(rating), bool)
        )
    elif fc.text != "template":
        raise ValueError(f"text must be 'template' or 'honest', got {fc.text!r}")
    if fc.perturb > 0:
        campaign = np.concatenate([p["campaign"] for p in parts]).astype(np.int64)
        strength = campaign_paraphrase(rng, fc.perturb, n_c)[campaign]
        text = texts.perturb_texts(rng, text, strength, rating)
    return text


def _window_start(rng: np.random.Generator, market: Market, length_us: float) -> int:
    lo = market.start_us + DAY_US
    hi = max(lo + 1, market.end_us - int(length_us) - HOUR_US)
    return int(rng.integers(lo, hi))


def _finish(
    parts: list[dict],
    family: str,
    texts_series: pl.Series,
    market: Market,
) -> pl.DataFrame:
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "ip"}
    ip = IPs.concat([p["ip"] for p in parts])
    n = len(cols["product"])
    return make_block(
        n,
        shop=market.product_shop[cols["product"]],
        product=cols["product"],
        user=cols["user"],
        rating=cols["rating"],
        created=cols["created"],
        delivered=cols["delivered"],
        text=texts_series,
        ip_v6=ip.v6,
        ip_hi=ip.hi,
        ip_lo=ip.lo,
        device=cols["device"],
        family=FAMILY_CODES[family],
        campaign=cols["campaign"],
        trap=TRAP_NONE,
    )


def _texts_by_language(
    rng: np.random.Generator,
    family: str,
    campaign: np.ndarray,
    paraphrase: np.ndarray,
    english_c: np.ndarray,
) -> pl.Series:
    """Template texts; campaigns flagged English use the ``<family>_en`` templates."""
    english_rows = english_c[campaign]
    if not english_rows.any():
        return texts.template_texts(rng, family, campaign, paraphrase)
    out = pl.Series("text", [None] * len(campaign), dtype=pl.String)
    for flag, fam in ((False, family), (True, family + "_en")):
        rows = np.flatnonzero(english_rows == flag)
        if len(rows):
            out = out.scatter(rows, texts.template_texts(rng, fam, campaign[rows], paraphrase))
    return out


def boost(
    rng: np.random.Generator,
    market: Market,
    cfg: GeneratorConfig,
    budget: float,
    min_c: int,
    users: UserAlloc,
) -> pl.DataFrame:
    """Templated 5★ bursts on one shop's product(s) from fresh accounts."""
    fc = cfg.boost
    lo, hi = fc.size
    n_c = n_campaigns(fc.n_campaigns, budget, (lo + hi) / 2, min_c)
    if n_c == 0:
        return empty_block()
    sizes = rng.integers(lo, hi + 1, n_c)
    if fc.n_campaigns is None:
        sizes = scale_counts(sizes, budget, lo)
    parts = []
    for c, size in enumerate(sizes):
        size = int(size)
        shop = int(rng.integers(0, market.n_shops))
        k = int(min(rng.integers(fc.products[0], fc.products[1] + 1), market.shop_count[shop]))
        targets = market.shop_start[shop] + rng.choice(market.shop_count[shop], k, replace=False)
        # Mostly one review per account; with several products some accounts review two.
        n_acc = size if k == 1 else int(np.ceil(size * rng.uniform(0.7, 1.0)))
        acc = users.take(n_acc)
        first = rng.integers(0, k, n_acc)
        extra = size - n_acc
        user = np.concatenate([acc, acc[:extra]])
        prod_i = np.concatenate([first, (first[:extra] + 1) % k])
        spread = rng.uniform(*fc.spread_hours) * HOUR_US
        start = _window_start(rng, market, spread)
        created = start + (rng.beta(1.0, 1.8, size) * spread).astype(np.int64)
        delay = (log_uniform(rng, *fc.delay_minutes, size) * MINUTE_US).astype(np.int64)
        pool = _pool(rng, fc)
        parts.append(
            {
                "product": targets[prod_i],
                "user": user,
                "rating": np.where(rng.random(size) < fc.four_star_share, 4, 5).astype(np.int8),
                "created": created,
                "delivered": created - delay,
                "ip": _campaign_ips(rng, size, fc.fresh_ip_share, pool, 0.1),
                "device": _devices(
                    rng, size, fc.device_pool_share, cfg.device_null_share, fc.device_pool
                ),
                "campaign": np.full(size, c, dtype=np.int32),
            }
        )
    campaign = np.concatenate([p["campaign"] for p in parts]).astype(np.int64)
    english_c = rng.random(n_c) < fc.english_share
    para = campaign_paraphrase(rng, fc.paraphrase, n_c)
    text = _texts_by_language(rng, "boost", campaign, para, english_c)
    return _finish(parts, "boost", _evade_text(rng, fc, text, parts, market, n_c), market)


def smear(
    rng: np.random.Generator,
    market: Market,
    cfg: GeneratorConfig,
    budget: float,
    min_c: int,
    users: UserAlloc,
) -> pl.DataFrame:
    """A competitor's burst of 1★ (some 2★) complaints on a usually 5★ shop."""
    fc = cfg.smear
    lo, hi = fc.size
    n_c = n_campaigns(fc.n_campaigns, budget, (lo + hi) / 2, min_c)
    if n_c == 0:
        return empty_block()
    sizes = rng.integers(lo, hi + 1, n_c)
    if fc.n_campaigns is None:
        sizes = scale_counts(sizes, budget, lo)
    # Victims: the better half of the shops (few low ratings), bigger shops more often.
    good = market.shop_badness <= np.median(market.shop_badness)
    victim_w = np.where(good, market.shop_weight, 0.0)
    parts = []
    for c, size in enumerate(sizes):
        size = int(size)
        shop = int(weighted_sample(rng, victim_w, 1)[0])
        k = int(min(rng.integers(fc.products[0], fc.products[1] + 1), market.shop_count[shop]))
        prods = np.unique(sample_products_in_shops(rng, market, np.full(k * 3, shop)))[:k]
        n_acc = int(np.ceil(size * rng.uniform(0.8, 1.0)))
        acc = users.take(n_acc)
        user = np.concatenate([acc, acc[: size - n_acc]])
        spread = rng.uniform(*fc.spread_hours) * HOUR_US
        start = _window_start(rng, market, spread)
        created = start + (rng.beta(1.0, 1.5, size) * spread).astype(np.int64)
        delay = (log_uniform(rng, *fc.delay_minutes, size) * MINUTE_US).astype(np.int64)
        pool = _pool(rng, fc)
        parts.append(
            {
                "product": prods[rng.integers(0, len(prods), size)],
                "user": user,
                "rating": np.where(rng.random(size) < fc.two_star_share, 2, 1).astype(np.int8),
                "created": created,
                "delivered": created - delay,
                "ip": _campaign_ips(rng, size, fc.fresh_ip_share, pool, 0.1),
                "device": _devices(
                    rng, size, fc.device_pool_share, cfg.device_null_share, fc.device_pool
                ),
                "campaign": np.full(size, c, dtype=np.int32),
            }
        )
    campaign = np.concatenate([p["campaign"] for p in parts]).astype(np.int64)
    text = texts.template_texts(
        rng, "smear", campaign, campaign_paraphrase(rng, fc.paraphrase, n_c)
    )
    return _finish(parts, "smear", _evade_text(rng, fc, text, parts, market, n_c), market)


def ring(
    rng: np.random.Generator,
    market: Market,
    cfg: GeneratorConfig,
    budget: float,
    min_c: int,
    users: UserAlloc,
) -> tuple[pl.DataFrame, RingAccounts]:
    """Lockstep rings: the same accounts review the same products in waves, weeks apart.

    A ring of K accounts targets P products in different shops. The products are
    split into waves of 1-3, ``wave_gap_days`` apart, so the ring's activity
    spans weeks; in a wave each account reviews each of the wave's products
    (with probability ``participation``) inside a window of ``spread_hours``,
    always at about the same relative position (the accounts keep their order
    from wave to wave). Each account also gets ``camouflage`` ordinary reviews,
    made by :func:`benchmarks.market.camouflage_block` and labelled honest.
    """
    fc = cfg.ring
    a_lo, a_hi = fc.accounts
    p_lo, p_hi = fc.products
    expected = (a_lo + a_hi) / 2 * (p_lo + p_hi) / 2 * fc.participation
    n_c = n_campaigns(fc.n_campaigns, budget, expected, min_c)
    if n_c == 0:
        no_ips = IPs(np.zeros(0, bool), np.zeros(0, np.uint64), np.zeros(0, np.uint64))
        empty = np.zeros(0, np.int64)
        return empty_block(), RingAccounts(empty, no_ips, empty.astype(np.uint64), empty)
    n_acc = rng.integers(a_lo, a_hi + 1, n_c)
    n_prod = rng.integers(p_lo, p_hi + 1, n_c)
    if fc.n_campaigns is None:
        total = (n_acc * n_prod).sum() * fc.participation
        if total > budget:
            f = np.sqrt(budget / total)
            n_acc = np.maximum(a_lo, np.round(n_acc * f)).astype(np.int64)
            n_prod = np.maximum(p_lo, np.round(n_prod * f)).astype(np.int64)
    n_prod = np.minimum(n_prod, market.n_products)
    parts, acc_users, acc_home, acc_dev = [], [], [], []
    for c in range(n_c):
        K, P = int(n_acc[c]), int(n_prod[c])
        acc = users.take(K)
        home = random_ips(rng, K, cfg.ipv6_share)
        dev = random_device(rng, K)
        dev[rng.random(K) < cfg.device_null_share] = 0
        # Products across shops: distinct shops where possible, moderately popular products.
        shops = weighted_sample(rng, market.shop_weight, P)
        if len(shops) < P:
            shops = np.concatenate([shops, rng.integers(0, market.n_shops, P - len(shops))])
        prods = sample_products_in_shops(rng, market, shops)
        # Waves of 1-3 products, a few days to weeks apart.
        wave_of_prod = np.repeat(np.arange(P), rng.integers(1, 4, P))[
            :P
        ]  # non-decreasing wave numbers
        wave_of_prod = np.unique(wave_of_prod, return_inverse=True)[1]
        n_waves = int(wave_of_prod.max()) + 1
        gaps = rng.uniform(*fc.wave_gap_days, n_waves) * DAY_US
        gaps[0] = 0
        total = gaps.sum()
        max_len = (market.end_us - market.start_us) * 0.9
        if total > max_len:
            gaps *= max_len / total
        start = _window_start(rng, market, gaps.sum())
        anchors = start + np.cumsum(gaps).astype(np.int64)
        spread = rng.uniform(*fc.spread_hours) * HOUR_US
        # Lockstep: every account at about the same place in every wave.
        acc_pos = rng.permutation(K) / max(K, 1)
        grid_a, grid_p = np.meshgrid(np.arange(K), np.arange(P), indexing="ij")
        grid_a, grid_p = grid_a.ravel(), grid_p.ravel()
        keep = rng.random(len(grid_a)) < fc.participation
        grid_a, grid_p = grid_a[keep], grid_p[keep]
        m = len(grid_a)
        prod_off = rng.uniform(0, 0.15, P) * spread
        jitter = rng.normal(0, 0.08, m) * spread
        created = (
            anchors[wave_of_prod[grid_p]]
            + prod_off[grid_p]
            + np.clip(acc_pos[grid_a] * spread + jitter, 0, spread)
        ).astype(np.int64)
        delay = (log_uniform(rng, *fc.delay_minutes, m) * MINUTE_US).astype(np.int64)
        pool = _pool(rng, fc)
        parts.append(
            {
                "product": prods[grid_p],
                "user": acc[grid_a],
                "rating": np.where(rng.random(m) < fc.four_star_share, 4, 5).astype(np.int8),
                "created": created,
                "delivered": created - delay,
                "ip": _campaign_ips(
                    rng, m, fc.fresh_ip_share, pool, cfg.ipv6_share, fresh=home.take(grid_a)
                ),
                "device": dev[grid_a],
                "campaign": np.full(m, c, dtype=np.int32),
            }
        )
        acc_users.append(acc)
        acc_home.append(home)
        acc_dev.append(dev)
    campaign = np.concatenate([p["campaign"] for p in parts]).astype(np.int64)
    text = texts.template_texts(rng, "ring", campaign, campaign_paraphrase(rng, fc.paraphrase, n_c))
    block = _finish(parts, "ring", _evade_text(rng, fc, text, parts, market, n_c), market)
    all_users = np.concatenate(acc_users)
    accounts = RingAccounts(
        users=all_users,
        home=IPs.concat(acc_home),
        device=np.concatenate(acc_dev),
        camouflage=rng.integers(fc.camouflage[0], fc.camouflage[1] + 1, len(all_users)),
    )
    return block, accounts


def pro_negative(
    rng: np.random.Generator,
    market: Market,
    cfg: GeneratorConfig,
    budget: float,
    min_c: int,
    users: UserAlloc,
) -> pl.DataFrame:
    """职业差评师: a few accounts leave 1★ compensation demands on many shops over months."""
    fc = cfg.pro_negative
    a_lo, a_hi = fc.accounts
    r_lo, r_hi = fc.size
    n_c = n_campaigns(fc.n_campaigns, budget, (a_lo + a_hi) / 2 * (r_lo + r_hi) / 2, min_c)
    if n_c == 0:
        return empty_block()
    n_acc = rng.integers(a_lo, a_hi + 1, n_c)
    per_acc = [rng.integers(r_lo, r_hi + 1, int(a)) for a in n_acc]
    if fc.n_campaigns is None:
        total = sum(int(x.sum()) for x in per_acc)
        if total > budget:
            per_acc = [scale_counts(x, x.sum() * budget / total, r_lo) for x in per_acc]
            # Still over: fewer accounts per operator.
            while sum(int(x.sum()) for x in per_acc) > budget * 1.3 and any(
                len(x) > 1 for x in per_acc
            ):
                j = int(np.argmax([len(x) for x in per_acc]))
                per_acc[j] = per_acc[j][:-1]
    parts = []
    for c in range(n_c):
        counts = per_acc[c]
        acc = users.take(len(counts))
        spread = rng.uniform(*fc.spread_hours) * HOUR_US
        spread = min(spread, (market.end_us - market.start_us) * 0.9)
        start = _window_start(rng, market, spread)
        pool = _pool(rng, fc)
        dev = random_device(rng, len(counts))
        dev[rng.random(len(counts)) < cfg.device_null_share] = 0
        owner = np.repeat(np.arange(len(counts)), counts)
        shops = []
        for r in counts:
            s = weighted_sample(rng, market.shop_weight, int(r))
            while len(s) < r:  # more targets than shops: go round again
                s = np.concatenate([s, weighted_sample(rng, market.shop_weight, int(r - len(s)))])
            shops.append(s)
        shops = np.concatenate(shops)
        m = len(owner)
        created = start + (rng.random(m) * spread).astype(np.int64)
        delay = (log_uniform(rng, *fc.delay_minutes, m) * MINUTE_US).astype(np.int64)
        parts.append(
            {
                "product": sample_products_in_shops(rng, market, shops),
                "user": acc[owner],
                "rating": np.where(rng.random(m) < fc.two_star_share, 2, 1).astype(np.int8),
                "created": created,
                "delivered": created - delay,
                "ip": _campaign_ips(rng, m, fc.fresh_ip_share, pool, cfg.ipv6_share),
                "device": dev[owner],
                "campaign": np.full(m, c, dtype=np.int32),
            }
        )
    campaign = np.concatenate([p["campaign"] for p in parts]).astype(np.int64)
    text = texts.template_texts(
        rng, "pro_negative", campaign, campaign_paraphrase(rng, fc.paraphrase, n_c)
    )
    return _finish(parts, "pro_negative", _evade_text(rng, fc, text, parts, market, n_c), market)
