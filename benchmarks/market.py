"""The honest side of the synthetic market: shops, products, buyers, traps.

Everything is vectorised numpy (plus Polars for strings); Python loops only run
over a handful of trap events, never over reviews.

Internally a group of reviews is a *block*: a Polars frame with integer codes
(see :data:`BLOCK_SCHEMA`). :mod:`benchmarks.generator` concatenates the blocks
and turns the codes into the contract's string columns at the very end, so
identifiers carry no trace of which block (honest, trap or attack) a row came
from.

Model
-----
* Shops sell one category each and have a lognormal size; a shop's products
  have Zipf popularity (exponent ~1.1) within the shop. A product's quality
  ("badness", mean 1) scales the base low-star probabilities
  (5% 1★, 3% 2★, 5% 3★, 12% 4★, 75% 5★ on average).
* Buyers have a heavy-tailed number of reviews (discretised lognormal: about a
  third write one review, the top 1% dozens, spread over many shops). Each has
  a home IP (15% IPv6), which about 8% of reviews replace by a roaming IP, and
  one or two devices; a few reviews have no device.
* ``created_at`` follows day weights (weekday, a slow growth, review waves a few
  days after 618 / 双11 / 双12, a dip around the Spring Festival) and a diurnal
  curve in China time (peak 20-22h). ``delivered_at`` precedes it by a
  log-normal 0.5-15 days (median 3).
* Traps (honest, labelled in ``trap``):
  - ``flash_sale``: hundreds of distinct buyers (about 80% with other reviews)
    review one popular product within a few hours, with ordinary delivery
    delays, their own IPs and natural texts, mostly 5★. (The burst is in
    ``created_at``: the goods were received days before, e.g. a 晒单有礼
    review drive after a flash sale.)
  - ``shared_ip``: whole buyers whose every review comes from one of a few
    carrier-NAT / campus IPv4 pools (1-4 addresses in one /24 each), spread
    over the year and over many shops.
  - ``default_text``: platform default texts ("此用户没有填写评价", "默认好评",
    "Good" ...) repeated word for word, mostly on 5★ reviews.
  Off by default (share 0; turned on by :mod:`benchmarks.matrix`):
  - ``campus``: like ``shared_ip`` but many hosts spread over one /16, and a
    share of the buyers' reviews going to a few "campus" shops;
  - ``ipv6_mobile``: many buyers in one IPv6 /64, each review from its own
    interface id (privacy addresses);
  - ``common_phrase``: short praise thousands write word for word
    (:data:`benchmarks.texts.COMMON_PHRASES`, "物流很快，质量很好");
  - ``repeat_buyer``: loyal buyers (3-40 reviews) buying from one or two
    shops again and again, some pasting their own text each time;
  - ``defect_batch``: a burst of genuine complaints (1-3★, established buyers,
    ordinary delays and addresses, varied texts, often naming the same fault)
    on one product, like a flash sale turned sour (the same event mechanics);
  - ``real_text``: real buyers' words from the optional corpus
    (:func:`benchmarks.texts.load_corpus`); without it nothing is labelled.
  ``shared_ip``, ``campus`` and ``ipv6_mobile`` are one implementation
  (:class:`NetPools`), as are ``flash_sale`` and ``defect_batch``
  (``_event_slots``). A trap at size 0 draws nothing, so turning the new
  ones on never shifts the rest of a default market.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from benchmarks import texts

if TYPE_CHECKING:
    from benchmarks.generator import GeneratorConfig

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 3600 * US
DAY_US = 86400 * US
CHINA_OFFSET_US = 8 * HOUR_US

FAMILY_HONEST = -1
TRAP_NONE = -1
TRAP_FLASH, TRAP_SHARED, TRAP_DEFAULT = 0, 1, 2
TRAP_CAMPUS, TRAP_IPV6_MOBILE, TRAP_COMMON_PHRASE = 3, 4, 5
TRAP_REPEAT_BUYER, TRAP_DEFECT_BATCH, TRAP_REAL_TEXT = 6, 7, 8
TRAP_PROMPT_REVIEW, TRAP_SHARED_DEVICE = 9, 10

#: Internal block layout (integer codes; strings are made in the generator).
BLOCK_SCHEMA: dict[str, pl.DataType] = {
    "shop": pl.Int32(),
    "product": pl.Int32(),
    "user": pl.Int64(),
    "rating": pl.Int8(),
    "created": pl.Int64(),
    "delivered": pl.Int64(),
    "text": pl.String(),
    "ip_v6": pl.Boolean(),
    "ip_hi": pl.UInt64(),
    "ip_lo": pl.UInt64(),
    "device": pl.UInt64(),  # 0 = no device
    "family": pl.Int8(),  # -1 honest, else index into ATTACK_FAMILIES
    "campaign": pl.Int32(),  # -1 honest, else campaign number within the family
    "trap": pl.Int8(),  # -1 none, else index into TRAPS
}

# Hourly review weights in China local time (0h..23h).
_HOUR_WEIGHTS = np.array(
    [
        0.55,
        0.32,
        0.16,
        0.1,
        0.08,
        0.1,
        0.22,
        0.45,
        0.75,
        0.95,
        1.05,
        1.1,
        1.3,
        1.15,
        1.0,
        0.98,
        1.0,
        1.05,
        1.25,
        1.55,
        1.9,
        2.0,
        1.7,
        1.1,
    ]
)
# Monday .. Sunday.
_WEEKDAY_WEIGHTS = np.array([1.04, 0.98, 0.97, 0.96, 0.95, 1.05, 1.12])
# Shopping festivals (month, day, extra weight); reviews follow about five days later.
_FESTIVALS = [(3, 8, 0.3), (6, 18, 0.8), (11, 11, 1.4), (12, 12, 0.5), (1, 1, 0.2)]
_SPRING_FESTIVAL = {
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
}
# First octets of IPv4 space common in China; IPv6 /16-ish prefixes of the big carriers.
_V4_FIRST = np.array(
    [
        27,
        36,
        39,
        42,
        49,
        58,
        59,
        60,
        61,
        101,
        106,
        110,
        111,
        112,
        113,
        114,
        115,
        116,
        117,
        118,
        119,
        120,
        121,
        122,
        123,
        124,
        125,
        171,
        175,
        180,
        182,
        183,
        202,
        210,
        211,
        218,
        219,
        220,
        221,
        222,
        223,
    ],
    dtype=np.uint64,
)
_V6_FIRST = np.array([0x240E, 0x2408, 0x2409, 0x2400], dtype=np.uint64)


def epoch_us(dt: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return int(round(dt.timestamp() * US))


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct indices drawn with probability proportional to ``weights``.

    Efraimidis-Spirakis: the ``k`` smallest exponential(1) / weight keys.
    """
    w = np.asarray(weights, dtype=float)
    k = int(min(k, np.count_nonzero(w > 0)))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = rng.exponential(size=len(w)) / w
    idx = np.argpartition(keys, k - 1)[:k]
    return idx[np.argsort(keys[idx], kind="stable")].astype(np.int64)


def scale_counts(sizes: np.ndarray, target: float, floor: int) -> np.ndarray:
    """Shrink ``sizes`` proportionally towards a total of ``target`` (never below ``floor``)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = sizes.sum()
    if total <= target or total == 0:
        return sizes
    return np.maximum(floor, np.round(sizes * (target / total))).astype(np.int64)


def split_total(rng: np.random.Generator, total: int, lo: int, hi: int) -> np.ndarray:
    """Event sizes drawn in [lo, hi] and rescaled to sum exactly to ``total``."""
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    n = max(1, int(round(total / ((lo + hi) / 2))))
    sizes = rng.integers(lo, hi + 1, n).astype(float)
    sizes = np.floor(sizes * total / sizes.sum()).astype(np.int64)
    sizes[0] += total - sizes.sum()
    return sizes


def log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    lo, hi = max(lo, 1e-9), max(hi, lo * (1 + 1e-9))
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def random_device(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random non-zero 64-bit device codes."""
    return rng.integers(1, np.iinfo(np.int64).max, n, dtype=np.int64).astype(np.uint64)


# --------------------------------------------------------------------------------------
# IP addresses (kept numeric: v6 flag, high and low 64 bits; IPv4 lives in the low bits)
# --------------------------------------------------------------------------------------


@dataclass
class IPs:
    v6: np.ndarray
    hi: np.ndarray
    lo: np.ndarray

    def take(self, idx: np.ndarray) -> IPs:
        return IPs(self.v6[idx], self.hi[idx], self.lo[idx])

    def where(self, mask: np.ndarray, other: IPs) -> IPs:
        """Rows of ``other`` where ``mask``, else own rows."""
        return IPs(
            np.where(mask, other.v6, self.v6),
            np.where(mask, other.hi, self.hi),
            np.where(mask, other.lo, self.lo),
        )

    @staticmethod
    def concat(parts: list[IPs]) -> IPs:
        return IPs(
            np.concatenate([p.v6 for p in parts]),
            np.concatenate([p.hi for p in parts]),
            np.concatenate([p.lo for p in parts]),
        )


def random_v4(rng: np.random.Generator, n: int) -> np.ndarray:
    first = _V4_FIRST[rng.integers(0, len(_V4_FIRST), n)]
    mid = rng.integers(0, 1 << 16, n).astype(np.uint64)
    host = rng.integers(1, 255, n).astype(np.uint64)
    return (first << np.uint64(24)) | (mid << np.uint64(8)) | host


def random_ips(rng: np.random.Generator, n: int, v6_share: float) -> IPs:
    """Random public addresses; a ``v6_share`` of them IPv6 (some with a short ``::x`` tail)."""
    v6 = rng.random(n) < v6_share
    v4 = random_v4(rng, n)
    hi = v6_prefix(rng, n)
    lo_rand = rng.integers(0, np.iinfo(np.int64).max, n, dtype=np.int64).astype(np.uint64)
    lo_rand |= rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)
    short = rng.random(n) < 0.2  # e.g. 240e:3b7:1234:5678::3a
    lo6 = np.where(short, rng.integers(1, 1 << 16, n).astype(np.uint64), lo_rand)
    return IPs(v6, np.where(v6, hi, np.uint64(0)), np.where(v6, lo6, v4))


def subnet_pool(rng: np.random.Generator, k: int, prefix: int = 24) -> np.ndarray:
    """``k`` IPv4 hosts in one random /24 (distinct) or /16 (``prefix=16``, spread over its /24s)."""
    if prefix == 24:
        net = random_v4(rng, 1)[0] & np.uint64(0xFFFFFF00)
        hosts = rng.choice(np.arange(1, 255, dtype=np.uint64), size=min(k, 254), replace=False)
        return net | hosts
    if prefix != 16:
        raise ValueError(f"prefix must be 24 or 16, got {prefix}")
    net = random_v4(rng, 1)[0] & np.uint64(0xFFFF0000)
    third = rng.integers(0, 256, k).astype(np.uint64)
    last = rng.integers(1, 255, k).astype(np.uint64)
    return np.unique(net | (third << np.uint64(8)) | last)


def v6_prefix(rng: np.random.Generator, n: int) -> np.ndarray:
    """High 64 bits of ``n`` random carrier /64 prefixes."""
    first = _V6_FIRST[rng.integers(0, len(_V6_FIRST), n)]
    return (first << np.uint64(48)) | rng.integers(0, 1 << 48, n, dtype=np.int64).astype(np.uint64)


def v4_ips(addr: np.ndarray) -> IPs:
    n = len(addr)
    return IPs(np.zeros(n, bool), np.zeros(n, np.uint64), np.asarray(addr, dtype=np.uint64))


# --------------------------------------------------------------------------------------
# Market structure
# --------------------------------------------------------------------------------------


@dataclass
class Market:
    n_shops: int
    shop_cat: np.ndarray  # category index per shop
    shop_weight: np.ndarray  # share of the market's reviews
    shop_badness: np.ndarray
    shop_start: np.ndarray  # first product of each shop (products are contiguous by shop)
    shop_count: np.ndarray
    product_shop: np.ndarray
    product_prob: np.ndarray  # global popularity (sums to 1)
    product_cum: np.ndarray
    product_badness: np.ndarray
    within_key: np.ndarray  # shop index + cumulative popularity within the shop
    start_us: int
    end_us: int
    day_weights: np.ndarray
    local_midnight_us: int  # China-time midnight at or before the start

    @property
    def n_products(self) -> int:
        return len(self.product_shop)

    @property
    def product_cat(self) -> np.ndarray:
        return self.shop_cat[self.product_shop]


def build_market(rng: np.random.Generator, n_reviews: int, cfg: GeneratorConfig) -> Market:
    n_shops = cfg.n_shops if cfg.n_shops is not None else max(5, int(round(n_reviews / 2000)))
    shop_cat = rng.integers(0, len(texts.CATEGORIES), n_shops)
    shop_weight = rng.lognormal(0.0, 0.8, n_shops)
    shop_weight /= shop_weight.sum()
    shop_badness = rng.lognormal(-0.08, 0.4, n_shops)
    pps = cfg.products_per_shop
    counts = np.maximum(3, np.round(rng.lognormal(np.log(pps) - 0.32, 0.8, n_shops))).astype(
        np.int64
    )
    shop_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    product_shop = np.repeat(np.arange(n_shops), counts)
    # Zipf popularity within each shop, ranks shuffled so popularity is not the product order.
    rank = np.concatenate([rng.permutation(c) for c in counts]) + 1
    zipf = rank.astype(float) ** -1.1
    shop_sum = np.bincount(product_shop, weights=zipf)
    within = zipf / shop_sum[product_shop]
    prob = within * shop_weight[product_shop]
    prob /= prob.sum()
    wcum = np.cumsum(within)
    # cumulative popularity restarting in every shop, ending at exactly 1.0
    wcum = wcum - np.repeat(np.concatenate([[0.0], wcum[shop_start[1:] - 1]]), counts)
    wcum[shop_start + counts - 1] = 1.0
    badness = np.clip(shop_badness[product_shop] * rng.lognormal(-0.125, 0.5, len(prob)), 0.05, 3.4)

    start = epoch_us(cfg.start)
    end = start + int(cfg.span_days) * DAY_US
    midnight = start - ((start + CHINA_OFFSET_US) % DAY_US)
    n_days = (end - midnight) // DAY_US + 1
    return Market(
        n_shops=n_shops,
        shop_cat=shop_cat,
        shop_weight=shop_weight,
        shop_badness=shop_badness,
        shop_start=shop_start,
        shop_count=counts,
        product_shop=product_shop,
        product_prob=prob,
        product_cum=np.cumsum(prob),
        product_badness=badness,
        within_key=product_shop + wcum,
        start_us=start,
        end_us=end,
        day_weights=_day_weights(midnight, int(n_days)),
        local_midnight_us=midnight,
    )


def _day_weights(midnight_us: int, n_days: int) -> np.ndarray:
    """Relative review volume of each China-time day from ``midnight_us``."""
    day0 = (midnight_us + CHINA_OFFSET_US) // DAY_US  # days since 1970-01-01, China time
    days = np.arange(n_days)
    weekday = (day0 + days + 3) % 7  # 1970-01-01 was a Thursday
    w = _WEEKDAY_WEIGHTS[weekday] * (1.0 + 0.2 * days / max(n_days, 1))
    first = np.datetime64("1970-01-01") + np.timedelta64(int(day0), "D")
    years = range(int(str(first)[:4]) - 1, int(str(first + np.timedelta64(n_days, "D"))[:4]) + 1)
    for y in years:
        for month, dom, amp in _FESTIVALS:
            d = (np.datetime64(f"{y}-{month:02d}-{dom:02d}") - first).astype(int) + 5
            w *= 1.0 + amp * np.exp(-0.5 * ((days - d) / 4.0) ** 2)
        if y in _SPRING_FESTIVAL:
            d = (np.datetime64(_SPRING_FESTIVAL[y]) - first).astype(int)
            w *= np.where((days >= d - 5) & (days <= d + 7), 0.5, 1.0)
    return w / w.sum()


def sample_products(rng: np.random.Generator, market: Market, n: int) -> np.ndarray:
    """Products drawn by popularity."""
    idx = np.searchsorted(market.product_cum, rng.random(n) * market.product_cum[-1], "right")
    return np.minimum(idx, market.n_products - 1).astype(np.int64)


def sample_products_in_shops(
    rng: np.random.Generator, market: Market, shops: np.ndarray
) -> np.ndarray:
    """One product per row from the row's shop, by popularity within the shop."""
    shops = np.asarray(shops, dtype=np.int64)
    key = shops + np.minimum(rng.random(len(shops)), 1 - 1e-12)
    idx = np.searchsorted(market.within_key, key, side="right")
    last = market.shop_start[shops] + market.shop_count[shops] - 1
    return np.clip(idx, market.shop_start[shops], last).astype(np.int64)


def sample_ratings(rng: np.random.Generator, market: Market, product: np.ndarray) -> np.ndarray:
    """Star ratings 1-5 from each product's quality."""
    b = market.product_badness[product]
    u = rng.random(len(product))
    cuts = np.array([0.05, 0.08, 0.13, 0.25])
    r = 1 + (u[:, None] >= cuts[None, :] * b[:, None]).sum(axis=1)
    return r.astype(np.int8)


def sample_times(
    rng: np.random.Generator,
    market: Market,
    n: int,
    lo_us: int | None = None,
    hi_us: int | None = None,
) -> np.ndarray:
    """Review times with day-of-year, weekday and China-time diurnal effects, in [lo, hi)."""
    lo = market.start_us if lo_us is None else lo_us
    hi = market.end_us if hi_us is None else hi_us
    first_day = max(0, (lo - market.local_midnight_us) // DAY_US)
    last_day = min(len(market.day_weights) - 1, (hi - 1 - market.local_midnight_us) // DAY_US)
    w = market.day_weights[first_day : last_day + 1]
    cum = np.cumsum(w)
    day = first_day + np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], "right"), len(w) - 1)
    hcum = np.cumsum(_HOUR_WEIGHTS)
    hour = np.minimum(np.searchsorted(hcum, rng.random(n) * hcum[-1], "right"), 23)
    t = (
        market.local_midnight_us
        + day * DAY_US
        + hour * HOUR_US
        + (rng.random(n) * HOUR_US).astype(np.int64)
    )
    # Days cut by [lo, hi): fold the overhang back inside uniformly.
    out = (t < lo) | (t >= hi)
    t[out] = lo + (rng.random(int(out.sum())) * (hi - lo)).astype(np.int64)
    return t.astype(np.int64)


def honest_delay(rng: np.random.Generator, n: int, median_days: float = 3.0) -> np.ndarray:
    """Delivery-to-review delay of ordinary buyers: log-normal, median 3 days, 0.5-15 days.

    Another ``median_days`` scales the whole range (median / 6 to median x 5).
    """
    m = float(median_days)
    days = np.clip(rng.lognormal(np.log(m), 0.8, n), m / 6.0, m * 5.0)
    return (days * DAY_US).astype(np.int64)


def make_block(n: int, **cols) -> pl.DataFrame:
    """A block frame with :data:`BLOCK_SCHEMA`; scalar values are broadcast."""
    data = {}
    for name, dtype in BLOCK_SCHEMA.items():
        v = cols[name]
        if isinstance(v, pl.Series):
            data[name] = v.cast(dtype).alias(name)
        else:
            arr = np.broadcast_to(np.asarray(v), (n,)) if np.ndim(v) == 0 else np.asarray(v)
            data[name] = pl.Series(name, arr).cast(dtype)
    return pl.DataFrame(data)


# --------------------------------------------------------------------------------------
# Honest buyers and their reviews
# --------------------------------------------------------------------------------------


def user_counts(rng: np.random.Generator, total: int) -> np.ndarray:
    """Reviews per buyer (discretised lognormal, ~35% single), summing exactly to ``total``."""
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    mu, sigma, cap = 0.46, 1.2, 300
    mean = np.exp(mu + sigma**2 / 2) + 0.5
    parts, have = [], 0
    while have < total:
        c = np.minimum(
            np.ceil(rng.lognormal(mu, sigma, int((total - have) / mean * 1.2) + 16)), cap
        )
        parts.append(c.astype(np.int64))
        have += int(parts[-1].sum())
    counts = np.concatenate(parts)
    cum = np.cumsum(counts)
    k = int(np.searchsorted(cum, total))  # first user reaching the total
    counts = counts[: k + 1].copy()
    counts[-1] -= cum[k] - total
    return counts[counts > 0]


@dataclass
class Traps:
    """Reviews per honest trap (see the module docstring); the first three are the classic ones."""

    flash: int
    shared: int
    default: int
    campus: int = 0
    ipv6_mobile: int = 0
    common_phrase: int = 0
    repeat_buyer: int = 0
    defect_batch: int = 0
    real_text: int = 0
    prompt_review: int = 0
    shared_device: int = 0


@dataclass
class _Buyers:
    """The honest buyers of a block: reviews per buyer, each buyer's first row, who is taken."""

    counts: np.ndarray
    first_slot: np.ndarray
    user: np.ndarray  # buyer of each row
    taken: np.ndarray  # buyer already in a trap

    def rows_of(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the ``chosen`` buyers, and each row's index into ``chosen``."""
        which = np.full(len(self.counts), -1, dtype=np.int64)
        which[chosen] = np.arange(len(chosen))
        g = which[self.user]
        rows = np.flatnonzero(g >= 0)
        return rows, g[rows]

    def pick(
        self, rng: np.random.Generator, n_reviews: int, lo: int = 1, hi: int = 20
    ) -> np.ndarray:
        """Free buyers with ``lo``-``hi`` reviews, in random order, until they have ``n_reviews``."""
        cand = np.flatnonzero(~self.taken & (self.counts >= lo) & (self.counts <= hi))
        cand = rng.permutation(cand)
        k = int(np.searchsorted(np.cumsum(self.counts[cand]), n_reviews)) + 1
        chosen = cand[:k]
        self.taken[chosen] = True
        return chosen


def _event_slots(
    rng: np.random.Generator,
    market: Market,
    buyers: _Buyers,
    total: int,
    size: tuple[int, int],
    window_hours: tuple[float, float],
    multi_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Move one review of each of about ``total`` free buyers into short events on popular products.

    Events have ``size`` buyers, last ``window_hours`` and start at 0h, 10h, 12h
    or 20h China time; ``multi_share`` of the buyers have other reviews. Returns
    the moved rows, their new products and times, and each row's event number.
    """
    counts = buyers.counts
    lo, hi = size
    sizes = split_total(rng, min(total, len(counts)), lo, hi)
    multi = np.flatnonzero((counts >= 2) & ~buyers.taken)
    single = np.flatnonzero((counts == 1) & ~buyers.taken)
    k_total = int(sizes.sum())
    k_multi = min(len(multi), int(round(k_total * multi_share)))
    k_single = min(len(single), k_total - k_multi)
    k_multi = min(len(multi), k_total - k_single)
    chosen = np.concatenate([rng.permutation(multi)[:k_multi], rng.permutation(single)[:k_single]])
    chosen = rng.permutation(chosen)
    empty = np.zeros(0, dtype=np.int64)
    if len(chosen) == 0:
        return empty, empty, empty, empty
    sizes = scale_counts(sizes, len(chosen), 1)
    sizes[-1] = len(chosen) - sizes[:-1].sum()
    sizes = sizes[sizes > 0]
    buyers.taken[chosen] = True
    event_products = weighted_sample(rng, market.product_prob, len(sizes))
    if len(event_products) < len(sizes):  # tiny markets: products repeat
        event_products = rng.choice(market.n_products, len(sizes))
    event = np.repeat(np.arange(len(sizes)), sizes)
    slots = buyers.first_slot[chosen[: len(event)]]
    wlo, whi = window_hours
    window = rng.uniform(wlo, whi, len(sizes)) * HOUR_US
    day = sample_times(
        rng, market, len(sizes), market.start_us + 2 * DAY_US, market.end_us - DAY_US
    )
    day_start = day - ((day + CHINA_OFFSET_US) % DAY_US)
    event_start = day_start + rng.choice(np.array([0, 10, 12, 20]), len(sizes)) * HOUR_US
    event_start = np.clip(event_start, market.start_us, market.end_us - window.astype(np.int64))
    offset = (rng.beta(1.2, 2.5, len(event)) * window[event]).astype(np.int64)
    return slots, event_products[event], event_start[event] + offset, event


@dataclass(frozen=True)
class NetPools:
    """Honest buyers behind shared networks: carrier NAT, a campus, an IPv6 mobile range.

    ``pool_reviews`` reviews per pool on average (Pareto-sized pools, so a
    few are large); ``hosts`` addresses per pool in one /24 (``prefix=24``) or
    spread over one /16 (``prefix=16``); ``prefix=64``: one IPv6 /64 per
    pool, every review from its own interface id (privacy addresses).
    ``shop_focus``: share of the buyers' reviews that go to a few shops of
    their pool (students buying from the campus shops).
    """

    code: int
    n_reviews: int
    pool_reviews: float = 600.0
    hosts: tuple[int, int] = (1, 4)
    prefix: int = 24
    shop_focus: float = 0.0
    focus_shops: tuple[int, int] = (2, 6)


def _net_pools(
    rng: np.random.Generator,
    market: Market,
    buyers: _Buyers,
    spec: NetPools,
    ip: IPs,
    product: np.ndarray,
    rating: np.ndarray,
    trap: np.ndarray,
) -> None:
    """Put every review of some free buyers (at most 20 reviews each) on ``spec``'s pools, in place."""
    chosen = buyers.pick(rng, spec.n_reviews)
    n_groups = max(2, int(round(spec.n_reviews / spec.pool_reviews)))
    group_w = rng.pareto(1.5, n_groups) + 1.0
    group_of_user = np.minimum(
        np.searchsorted(np.cumsum(group_w), rng.random(len(chosen)) * group_w.sum(), "right"),
        n_groups - 1,
    )
    rows, which = buyers.rows_of(chosen)
    g = group_of_user[which]
    if spec.prefix == 64:
        prefixes = v6_prefix(rng, n_groups)
        ip.v6[rows] = True
        ip.hi[rows] = prefixes[g]
        ip.lo[rows] = rng.integers(1, np.iinfo(np.int64).max, len(rows), dtype=np.int64).astype(
            np.uint64
        )
    else:
        n_hosts = rng.integers(spec.hosts[0], spec.hosts[1] + 1, n_groups)
        pools = [subnet_pool(rng, int(h), spec.prefix) for h in n_hosts]
        n_hosts = np.array([len(p) for p in pools], dtype=np.int64)
        pool_start = np.concatenate([[0], np.cumsum(n_hosts)[:-1]])
        flat_pool = np.concatenate(pools)
        host = (rng.random(len(rows)) * n_hosts[g]).astype(np.int64)
        ip.v6[rows] = False
        ip.hi[rows] = 0
        ip.lo[rows] = flat_pool[pool_start[g] + host]
    trap[rows] = spec.code
    if spec.shop_focus > 0 and len(rows):
        lo, hi = spec.focus_shops
        k = rng.integers(lo, hi + 1, n_groups)
        shops = [weighted_sample(rng, market.shop_weight, int(x)) for x in k]
        n_sh = np.array([len(s) for s in shops], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(n_sh)[:-1]])
        flat = np.concatenate(shops)
        fm = rng.random(len(rows)) < spec.shop_focus
        focus, gf = rows[fm], g[fm]
        pick = flat[start[gf] + (rng.random(len(focus)) * n_sh[gf]).astype(np.int64)]
        product[focus] = sample_products_in_shops(rng, market, pick)
        rating[focus] = sample_ratings(rng, market, product[focus])


def _households(
    rng: np.random.Generator,
    buyers: _Buyers,
    n_reviews: int,
    size: tuple[int, int],
    ip: IPs,
    device: np.ndarray,
    trap: np.ndarray,
) -> None:
    """Families sharing one phone and the home address: every review of ``size``-member households."""
    chosen = buyers.pick(rng, n_reviews)
    k = rng.integers(size[0], size[1] + 1, len(chosen))
    household = np.repeat(np.arange(len(chosen)), k)[: len(chosen)]
    n_h = int(household.max()) + 1 if len(chosen) else 0
    head = chosen[np.searchsorted(household, np.arange(n_h))]  # each household's first member
    src = buyers.first_slot[head]  # the head's first review: the family's phone and address
    phone = np.where(device[src] == 0, random_device(rng, n_h), device[src])
    home = ip.take(src)
    rows, which = buyers.rows_of(chosen)
    h = household[which]
    device[rows] = phone[h]
    ip.v6[rows], ip.hi[rows], ip.lo[rows] = home.v6[h], home.hi[h], home.lo[h]
    trap[rows] = TRAP_SHARED_DEVICE


def _repeat_buyers(
    rng: np.random.Generator,
    market: Market,
    buyers: _Buyers,
    n_reviews: int,
    product: np.ndarray,
    rating: np.ndarray,
    trap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Loyal buyers (3-40 reviews) who buy again and again from one or two shops; returns (rows, buyer)."""
    chosen = buyers.pick(rng, n_reviews, lo=3, hi=40)
    cum = np.cumsum(market.shop_weight)
    home = np.minimum(
        np.searchsorted(cum, rng.random((len(chosen), 2)) * cum[-1]), market.n_shops - 1
    )
    rows, which = buyers.rows_of(chosen)
    second = rng.random(len(rows)) < 0.25
    shop = np.where(second, home[which, 1], home[which, 0])
    product[rows] = sample_products_in_shops(rng, market, shop)
    r = sample_ratings(rng, market, product[rows])
    rating[rows] = np.where(rng.random(len(rows)) < 0.8, np.maximum(r, 4), r).astype(np.int8)
    trap[rows] = TRAP_REPEAT_BUYER
    return rows, which


def honest_block(
    rng: np.random.Generator,
    market: Market,
    cfg: GeneratorConfig,
    n_honest: int,
    traps: Traps,
    user_offset: int,
) -> tuple[pl.DataFrame, int]:
    """``n_honest`` honest reviews including the traps; returns the block and the user count.

    Traps are drawn in a fixed order and only when their size is positive, so
    a trap left at zero draws nothing and shifts no other part of the market.
    """
    counts = user_counts(rng, n_honest)
    n_users = len(counts)
    first_slot = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    user = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    n = n_honest
    buyers = _Buyers(counts, first_slot, user, np.zeros(n_users, dtype=bool))

    english_u = rng.random(n_users) < cfg.english_share
    home = random_ips(rng, n_users, cfg.ipv6_share)
    dev1 = random_device(rng, n_users)
    dev2 = np.where(rng.random(n_users) < 0.25, random_device(rng, n_users), np.uint64(0))

    product = sample_products(rng, market, n)
    created = sample_times(rng, market, n)
    rating = sample_ratings(rng, market, product)
    trap = np.full(n, TRAP_NONE, dtype=np.int8)

    # ---- flash sales: one slot of each buyer moves into the burst ----
    if traps.flash > 0:
        slots, prods, times, _ = _event_slots(
            rng,
            market,
            buyers,
            traps.flash,
            cfg.flash_sale_size,
            cfg.flash_sale_window_hours,
            cfg.flash_sale_multi_share,
        )
        product[slots] = prods
        created[slots] = times
        r = sample_ratings(rng, market, product[slots])
        rating[slots] = np.where(rng.random(len(slots)) < 0.85, 5, r).astype(np.int8)
        trap[slots] = TRAP_FLASH

    ip = home.take(user)
    roam = rng.random(n) < 0.08
    ip = ip.where(roam, random_ips(rng, n, cfg.ipv6_share))

    # ---- carrier-NAT pools, campus networks, IPv6 mobile ranges: every review of the buyers ----
    for spec in _net_specs(cfg, traps):
        _net_pools(rng, market, buyers, spec, ip, product, rating, trap)

    repeat_rows = repeat_which = None
    if traps.repeat_buyer > 0:
        repeat_rows, repeat_which = _repeat_buyers(
            rng, market, buyers, traps.repeat_buyer, product, rating, trap
        )
    defect = None
    if traps.defect_batch > 0:  # a bad batch: a burst of genuine, varied complaints
        slots, prods, times, event = _event_slots(
            rng,
            market,
            buyers,
            traps.defect_batch,
            cfg.defect_batch_size,
            cfg.defect_window_hours,
            0.9,
        )
        product[slots] = prods
        created[slots] = times
        rating[slots] = rng.choice(np.array([1, 1, 1, 2, 2, 3], dtype=np.int8), len(slots))
        trap[slots] = TRAP_DEFECT_BATCH
        defect = (slots, event)

    device = np.where((dev2[user] != 0) & (rng.random(n) < 0.3), dev2[user], dev1[user]).astype(
        np.uint64
    )
    device[rng.random(n) < cfg.device_null_share] = 0
    if traps.shared_device > 0:
        _households(rng, buyers, traps.shared_device, cfg.household_size, ip, device, trap)

    category = market.product_cat[product]
    text = texts.honest_texts(rng, rating, category, english_u[user])
    text = _trap_texts(
        rng, cfg, traps, text, rating, category, trap, repeat_rows, repeat_which, defect, buyers
    )

    delivered = created - honest_delay(rng, n, cfg.honest_delay_days)
    if traps.prompt_review > 0:  # confirm receipt, then review at once, as the app prompts
        free = np.flatnonzero(trap == TRAP_NONE)
        rows = np.sort(rng.choice(free, min(traps.prompt_review, len(free)), replace=False))
        lo, hi = cfg.prompt_review_minutes
        delivered[rows] = created[rows] - (log_uniform(rng, lo, hi, len(rows)) * MINUTE_US).astype(
            np.int64
        )
        trap[rows] = TRAP_PROMPT_REVIEW
    block = make_block(
        n,
        shop=market.product_shop[product],
        product=product,
        user=user + user_offset,
        rating=rating,
        created=created,
        delivered=delivered,
        text=text,
        ip_v6=ip.v6,
        ip_hi=ip.hi,
        ip_lo=ip.lo,
        device=device,
        family=FAMILY_HONEST,
        campaign=-1,
        trap=trap,
    )
    return block, n_users


def _net_specs(cfg: GeneratorConfig, traps: Traps) -> list[NetPools]:
    specs = [
        NetPools(TRAP_SHARED, traps.shared, cfg.shared_ip_pool_reviews, cfg.shared_ip_hosts),
        NetPools(
            TRAP_CAMPUS,
            traps.campus,
            cfg.campus_pool_reviews,
            cfg.campus_hosts,
            prefix=16,
            shop_focus=cfg.campus_shop_focus,
        ),
        NetPools(TRAP_IPV6_MOBILE, traps.ipv6_mobile, cfg.ipv6_mobile_pool_reviews, prefix=64),
    ]
    return [s for s in specs if s.n_reviews > 0]


def _trap_texts(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    traps: Traps,
    text: pl.Series,
    rating: np.ndarray,
    category: np.ndarray,
    trap: np.ndarray,
    repeat_rows: np.ndarray | None,
    repeat_which: np.ndarray | None,
    defect: tuple[np.ndarray, np.ndarray] | None,
    buyers: _Buyers,
) -> pl.Series:
    """The text-level traps, in place of the natural texts of the rows they take."""
    if repeat_rows is not None and len(repeat_rows):
        # some loyal buyers paste their own text every time
        same_u = rng.random(int(repeat_which.max()) + 1) < cfg.repeat_same_text
        rows = repeat_rows[same_u[repeat_which]]
        text = text.scatter(rows, text.gather(buyers.first_slot[buyers.user[rows]]))
    if defect is not None and len(defect[0]):
        # the complaints of one batch often name the same fault, each in the buyer's own words
        slots, event = defect
        fault = texts.aspect_phrases(
            rng, category[slots][np.unique(event, return_index=True)[1]], texts.NEG
        )
        chinese = text.gather(slots).str.contains("[\u4e00-\u9fff]").fill_null(False).to_numpy()
        named = (rng.random(len(slots)) < cfg.defect_phrase_share) & chinese
        rows = slots[named]
        sep = pl.Series(["，", "。", "！", " "]).gather(rng.integers(0, 4, len(rows)))
        joined = pl.DataFrame(
            {"f": fault.gather(event[named]), "s": sep, "t": text.gather(rows)}
        ).select(pl.concat_str(["f", "s", "t"]).alias("x"))["x"]
        text = text.scatter(rows, joined)
    if traps.default > 0:  # platform default texts
        free = trap == TRAP_NONE
        w = np.where(free, np.where(rating == 5, 1.0, 0.12), 0.0)
        rows = np.sort(weighted_sample(rng, w, traps.default))
        text = text.scatter(rows, texts.default_texts(rng, rating[rows]))
        trap[rows] = TRAP_DEFAULT
    if traps.common_phrase > 0:  # "物流很快，质量很好": the same short praise from thousands
        free = trap == TRAP_NONE
        w = np.where(free, np.select([rating >= 4, rating == 3], [1.0, 0.08], 0.0), 0.0)
        rows = np.sort(weighted_sample(rng, w, traps.common_phrase))
        text = text.scatter(rows, texts.common_phrase_texts(rng, len(rows), cfg.common_phrases))
        trap[rows] = TRAP_COMMON_PHRASE
    if traps.real_text > 0:  # real buyers' words from a public corpus, where installed
        free = np.flatnonzero(trap == TRAP_NONE)
        rows = np.sort(rng.choice(free, min(traps.real_text, len(free)), replace=False))
        real = texts.corpus_texts(rng, rating[rows])
        if real is not None:  # else the built-in texts stay (texts.corpus_texts logs why)
            text = text.scatter(rows, real)
            trap[rows] = TRAP_REAL_TEXT
    return text


def camouflage_block(
    rng: np.random.Generator,
    market: Market,
    cfg: GeneratorConfig,
    users: np.ndarray,
    home: IPs,
    device: np.ndarray,
    counts: np.ndarray,
    before: np.ndarray | None = None,
) -> pl.DataFrame:
    """Ordinary-looking reviews of fake accounts on popular products at random times.

    They are labelled honest: the review itself is unremarkable; only the
    account is fake (see :mod:`benchmarks.generator`). Ring accounts get
    them as camouflage; aged accounts of the other families as their history,
    then written before ``before`` (per account, microseconds): the market's
    time pattern squeezed into the account's past.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        return pl.DataFrame(schema=BLOCK_SCHEMA)
    owner = np.repeat(np.arange(len(users)), counts)
    product = sample_products(rng, market, n)
    rating = sample_ratings(rng, market, product)
    created = sample_times(rng, market, n)
    if before is not None:
        end = np.maximum(np.asarray(before, dtype=np.int64)[owner], market.start_us + DAY_US)
        frac = (created - market.start_us) / max(market.end_us - market.start_us, 1)
        created = (market.start_us + frac * (end - market.start_us)).astype(np.int64)
    text = texts.honest_texts(rng, rating, market.product_cat[product], np.zeros(n, bool))
    ip = home.take(owner)
    return make_block(
        n,
        shop=market.product_shop[product],
        product=product,
        user=np.asarray(users)[owner],
        rating=rating,
        created=created,
        delivered=created - honest_delay(rng, n, cfg.honest_delay_days),
        text=text,
        ip_v6=ip.v6,
        ip_hi=ip.hi,
        ip_lo=ip.lo,
        device=np.asarray(device)[owner],
        family=FAMILY_HONEST,
        campaign=-1,
        trap=TRAP_NONE,
    )
