"""A deterministic synthetic e-commerce review market with planted fraud.

Usage::

    reviews, labels = generate(5_000, seed=0)
    write_dataset("data/synth", reviews, labels)

``reviews`` follows the input contract (:data:`detector.input.schema.CONTRACT`, every
column, in that order), sorted by ``created_at`` then ``review_id``.
``labels`` has one row per review, in the same order:

* ``review_id`` (String)
* ``is_fake`` (Boolean): the review was planted by an attack.
* ``attack_type`` (String): one of :data:`ATTACK_FAMILIES`, null for honest reviews.
* ``campaign_id`` (String): e.g. ``"boost-0003"``, null for honest reviews.
  Numbered from 0 within each family; for ``pro_negative`` one campaign is one
  operator (1-3 accounts), for ``ring`` one ring.
* ``trap`` (String): one of :data:`TRAPS` when an honest review belongs to a
  trap (honest behaviour that looks suspicious), else null; always null for
  fake reviews. Configs that turn on the further traps (off by default; see
  :mod:`benchmarks.market` and :mod:`benchmarks.matrix`) can write any of
  :data:`ALL_TRAPS`.

Label semantics
---------------
* Only the reviews an attack plants are fake. **Ring camouflage** — the
  ordinary-looking reviews each ring account also leaves on popular products at
  random times — is labelled honest (``is_fake`` False, every other label
  null), although the account is fake: the unit of truth is the review, and a
  camouflage review harms nobody. A detector that flags whole accounts pays for
  it in false positives there.
* Aged accounts (``aged_share`` of a family's config) get a history of
  ordinary reviews before their campaign, labelled honest like camouflage.
* Trap reviews are honest (``is_fake`` False) with ``trap`` set. Traps are
  disjoint: a flash-sale buyer is never a shared-IP buyer, and default texts are
  only put on reviews in neither.

Market model (see :mod:`benchmarks.market`, :mod:`benchmarks.attacks` and
:mod:`benchmarks.texts`): Zipf product popularity within lognormal-sized shops,
heavy-tailed buyer activity (about a third of honest buyers write a single
review), weekly/seasonal/diurnal timing in China time, ratings around
75/12/5/3/5% (5★..1★) varying with product quality, DSR scores correlated with
the rating, mostly Chinese texts (about 10% English), IPv4 and about 15% IPv6.

The row count is exactly ``n_reviews``: fake reviews are planned first (about
``fraud_share`` of the total; a little more at small sizes, where every family
still gets ``min_campaigns`` campaigns), then ring camouflage, then honest
reviews fill the rest. Trap sizes are shares of ``n_reviews``.

Determinism: one :class:`numpy.random.SeedSequence` per seed, with a fixed
child stream per component (market, each attack family, camouflage, honest
buyers, identifiers). No Python ``hash``, no Polars hashing, no unordered
group-bys: the same ``(n_reviews, seed, config)`` gives identical frames.

Identifiers (review, user, shop, product, order) are random numbers drawn
after all rows exist and device ids are random 64-bit codes, so nothing about
a row's origin (honest, trap or attack) leaks through them.

Run ``python -m benchmarks.generator --n 1000000 --out DIR`` to write a dataset
and print the time taken.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks import attacks, market, regions
from detector.atomic import write_parquet
from detector.input.schema import CONTRACT, DSR_COLUMNS, EXPORT_ONLY

ATTACK_FAMILIES: tuple[str, ...] = ("boost", "smear", "ring", "pro_negative")
#: The classic traps every default market has.
TRAPS: tuple[str, ...] = ("flash_sale", "shared_ip", "default_text")
#: Every trap label the generator can write (the later ones are off by default; the
#: scenario matrix, :mod:`benchmarks.matrix`, turns them on). Index = code in market.
ALL_TRAPS: tuple[str, ...] = (
    *TRAPS,
    "campus",
    "ipv6_mobile",
    "common_phrase",
    "repeat_buyer",
    "defect_batch",
    "real_text",
    "prompt_review",
    "shared_device",
    "regional",
)

LABEL_SCHEMA: dict[str, pl.DataType] = {
    "review_id": pl.String(),
    "is_fake": pl.Boolean(),
    "attack_type": pl.String(),
    "campaign_id": pl.String(),
    "trap": pl.String(),
}


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignKnobs:
    """Evasion knobs every attack family has; the defaults change nothing.

    * ``pool_prefix``: the campaign's shared addresses lie in one /24 (24) or
      are spread over a /16 (16); ``pool_hosts`` (per family) how many.
    * ``text``: ``"template"`` (the family's templates) or ``"honest"``
      (natural texts like honest buyers'), then ``perturb`` (mean strength,
      0-1, drawn per campaign like ``paraphrase``) inserts noise and an extra
      phrase (:func:`benchmarks.texts.perturb_texts`).
    * ``aged_share``: share of the campaign's accounts that have a history,
      ``history`` ordinary reviews each, written before the campaign and
      labelled honest (like ring camouflage).
    * ``region_provinces``: how many provinces (IP属地) the campaign's
      accounts sit in (only with ``GeneratorConfig.ip_region``).
    """

    pool_prefix: int = 24
    text: str = "template"
    perturb: float = 0.0
    aged_share: float = 0.0
    history: tuple[int, int] = (3, 12)
    #: provinces (IP属地) the campaign's accounts sit in; more than
    #: :data:`benchmarks.regions.SPREAD_FROM`: a proxy pool, a province per review
    region_provinces: tuple[int, int] = (1, 3)


@dataclass(frozen=True)
class BoostConfig(CampaignKnobs):
    """Templated 5★ bursts on one shop's product(s), fresh accounts, minutes after delivery."""

    weight: float = 0.40  # share of the fraud budget
    n_campaigns: int | None = None  # None: from the budget (at least min_campaigns)
    size: tuple[int, int] = (20, 80)  # reviews per campaign
    products: tuple[int, int] = (1, 3)  # target products (one shop)
    spread_hours: tuple[float, float] = (2.0, 48.0)
    fresh_ip_share: float = 0.3
    paraphrase: float = 0.35
    delay_minutes: tuple[float, float] = (2.0, 120.0)
    english_share: float = 0.1  # share of campaigns written in English
    four_star_share: float = 0.02
    pool_hosts: tuple[int, int] = (3, 10)
    device_pool_share: float = 0.6  # reviews from the campaign's few phones
    device_pool: tuple[int, int] = (2, 6)


@dataclass(frozen=True)
class SmearConfig(CampaignKnobs):
    """A competitor's burst of 1★/2★ complaints on a usually 5★ shop."""

    weight: float = 0.20
    n_campaigns: int | None = None
    size: tuple[int, int] = (15, 60)
    products: tuple[int, int] = (1, 3)
    spread_hours: tuple[float, float] = (1.0, 24.0)
    fresh_ip_share: float = 0.2
    paraphrase: float = 0.4
    delay_minutes: tuple[float, float] = (10.0, 1440.0)
    two_star_share: float = 0.15
    pool_hosts: tuple[int, int] = (2, 8)
    device_pool_share: float = 0.5
    device_pool: tuple[int, int] = (2, 6)


@dataclass(frozen=True)
class RingConfig(CampaignKnobs):
    """Lockstep rings; a campaign's size is accounts x products x participation."""

    weight: float = 0.25
    n_campaigns: int | None = None
    accounts: tuple[int, int] = (8, 20)
    products: tuple[int, int] = (5, 15)  # across shops
    participation: float = 0.9  # chance an account reviews a given ring product
    spread_hours: tuple[float, float] = (0.25, 6.0)  # window of one wave
    wave_gap_days: tuple[float, float] = (3.0, 12.0)
    fresh_ip_share: float = 0.5  # "fresh" = the account's own home IP
    paraphrase: float = 0.6
    delay_minutes: tuple[float, float] = (30.0, 2880.0)
    four_star_share: float = 0.1
    camouflage: tuple[int, int] = (3, 12)  # honest-looking reviews per account
    pool_hosts: tuple[int, int] = (2, 6)


@dataclass(frozen=True)
class ProNegativeConfig(CampaignKnobs):
    """职业差评师: 1★ compensation demands on many shops, minutes after delivery, over months."""

    weight: float = 0.15
    n_campaigns: int | None = None  # operators
    accounts: tuple[int, int] = (1, 3)  # accounts per operator
    size: tuple[int, int] = (10, 40)  # reviews (distinct shops) per account
    spread_hours: tuple[float, float] = (1440.0, 5760.0)  # 2-8 months
    fresh_ip_share: float = 0.3
    paraphrase: float = 0.5
    delay_minutes: tuple[float, float] = (1.0, 60.0)
    two_star_share: float = 0.1
    pool_hosts: tuple[int, int] = (1, 3)


@dataclass(frozen=True)
class GeneratorConfig:
    """Market knobs. Shares are of ``n_reviews``."""

    n_shops: int | None = None  # None: max(5, n_reviews / 2000)
    products_per_shop: float = 30.0
    span_days: int = 365
    start: datetime = datetime(2023, 12, 31, 16, 0, tzinfo=UTC)  # 2024-01-01 00:00 China time
    fraud_share: float = 0.05
    min_campaigns: int = 3  # per family, when n_campaigns is None (fewer below 4,500 reviews)
    flash_sale_share: float = 0.03
    flash_sale_size: tuple[int, int] = (150, 600)
    flash_sale_window_hours: tuple[float, float] = (1.0, 6.0)
    flash_sale_multi_share: float = 0.8  # flash-sale buyers with other reviews
    shared_ip_share: float = 0.03
    shared_ip_hosts: tuple[int, int] = (1, 4)  # carrier-NAT addresses per pool, one /24
    shared_ip_pool_reviews: float = 600.0  # reviews per pool on average (sets the pool count)
    default_text_share: float = 0.03
    # Traps off by default (see benchmarks.market and benchmarks.matrix):
    campus_share: float = 0.0  # campus networks: many hosts over a /16, a few campus shops
    campus_hosts: tuple[int, int] = (8, 64)
    campus_pool_reviews: float = 1500.0
    campus_shop_focus: float = 0.5
    ipv6_mobile_share: float = 0.0  # many buyers in one IPv6 /64 (rotating privacy addresses)
    ipv6_mobile_pool_reviews: float = 300.0
    common_phrase_share: float = 0.0  # "物流很快，质量很好" word for word
    common_phrases: int | None = None  # how many of texts.COMMON_PHRASES (None: all)
    repeat_buyer_share: float = 0.0  # loyal buyers, one or two shops, again and again
    repeat_same_text: float = 0.5  # share of them pasting their own text each time
    defect_batch_share: float = 0.0  # bursts of genuine complaints about one bad batch
    defect_batch_size: tuple[int, int] = (20, 150)
    defect_window_hours: tuple[float, float] = (12.0, 120.0)
    defect_phrase_share: float = 0.5  # complaints naming the batch's fault
    real_text_share: float = 0.0  # real buyers' texts (optional corpus, texts.load_corpus)
    honest_delay_days: float = 3.0  # median delivery-to-review delay of honest buyers
    prompt_review_share: float = 0.0  # honest reviews written minutes after confirming receipt
    prompt_review_minutes: tuple[float, float] = (1.0, 30.0)
    shared_device_share: float = 0.0  # households: a few accounts on one phone and one address
    household_size: tuple[int, int] = (2, 4)
    # IP属地 (benchmarks.regions); off by default, the scenario matrix turns it on:
    ip_region: bool = False  # an ip_region column
    with_ip: bool = True  # False: no ip column, as in merchants' exports
    region_noise: float = 0.3  # sigma of the log-normal noise on the population shares
    regional_shop_share: float = 0.1  # shops whose buyers are mostly from one province
    regional_local_share: tuple[float, float] = (0.4, 0.9)
    local_flash_share: float = 0.2  # flash sales promoted in one city
    local_flash_local: tuple[float, float] = (0.3, 0.8)
    label_regional: bool = False  # label local buyers' reviews trap="regional"
    english_share: float = 0.10
    ipv6_share: float = 0.15
    device_null_share: float = 0.04
    boost: BoostConfig = field(default_factory=BoostConfig)
    smear: SmearConfig = field(default_factory=SmearConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    pro_negative: ProNegativeConfig = field(default_factory=ProNegativeConfig)


# Fixed child-stream numbers: adding draws to one component never shifts another.
_STREAMS = {
    "market": 1,
    "boost": 2,
    "smear": 3,
    "ring": 4,
    "pro_negative": 5,
    "camouflage": 6,
    "honest": 7,
    "ids": 8,
    "aged": 9,
    "region": 10,
}


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _STREAMS[name]]))


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def generate(
    n_reviews: int, seed: int = 0, config: GeneratorConfig | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(reviews, labels)`` for a market of exactly ``n_reviews`` reviews."""
    cfg = config or GeneratorConfig()
    n_reviews = int(n_reviews)
    if n_reviews < 200:
        raise ValueError("n_reviews must be at least 200")
    if seed < 0:
        raise ValueError("seed must be non-negative")

    mk = market.build_market(_rng(seed, "market"), n_reviews, cfg)
    min_c = max(1, min(cfg.min_campaigns, n_reviews // 1500))
    fams = {f: getattr(cfg, f) for f in ATTACK_FAMILIES}
    total_w = sum(fc.weight for fc in fams.values()) or 1.0
    budget = {f: cfg.fraud_share * n_reviews * fc.weight / total_w for f, fc in fams.items()}

    users = attacks.UserAlloc()
    blocks: list[pl.DataFrame] = []
    for fam in ("boost", "smear", "pro_negative"):
        fn = getattr(attacks, fam)
        blocks.append(fn(_rng(seed, fam), mk, cfg, budget[fam], min_c, users))
    ring_block, ring_acc = attacks.ring(_rng(seed, "ring"), mk, cfg, budget["ring"], min_c, users)
    blocks.append(ring_block)
    n_fake = sum(b.height for b in blocks)
    camo = ring_acc.camouflage
    room = n_reviews - n_fake
    if n_fake > n_reviews // 2:
        raise ValueError(
            f"the attacks need {n_fake} of {n_reviews} reviews; raise n_reviews or shrink them"
        )
    if camo.sum() > room // 4:  # tiny markets: keep camouflage a minor part
        camo = np.minimum(camo, max(1, room // 4 // max(len(camo), 1)))
    blocks.append(
        market.camouflage_block(
            _rng(seed, "camouflage"), mk, cfg, ring_acc.users, ring_acc.home, ring_acc.device, camo
        )
    )
    aged_room = max(0, room // 5 - int(camo.sum()))
    blocks.extend(_histories(_rng(seed, "aged"), mk, cfg, blocks[:4], aged_room))
    n_honest = n_reviews - sum(b.height for b in blocks)
    traps = market.Traps(
        **{
            name: int(round(getattr(cfg, share) * n_reviews))
            for name, share in _TRAP_SHARES.items()
        }
    )
    honest, _ = market.honest_block(_rng(seed, "honest"), mk, cfg, n_honest, traps, users.next)
    blocks.append(honest)
    raw = pl.concat(blocks, how="vertical", rechunk=True)
    if cfg.ip_region:
        raw = _with_regions(raw, _rng(seed, "region"), cfg, fams)
    reviews, labels = _finalise(raw, _rng(seed, "ids"))
    if not cfg.with_ip:
        reviews = reviews.drop("ip")
    return reviews, labels


def _with_regions(raw: pl.DataFrame, rng, cfg: GeneratorConfig, fams: dict) -> pl.DataFrame:
    """``raw`` with its ``ip_region`` (:mod:`benchmarks.regions`), its own stream: the rest of
    the market is the same with or without it. With ``label_regional`` the local buyers of
    regional shops and local flash sales are labelled ``regional``."""
    codes, local = regions.region_codes(
        rng, raw, cfg, market.TRAP_FLASH, tuple(fams[f] for f in ATTACK_FAMILIES)
    )
    raw = raw.with_columns(regions.region_series(codes))
    if cfg.label_regional:
        trap = raw["trap"].to_numpy()
        relabel = local & ((trap == market.TRAP_NONE) | (trap == market.TRAP_FLASH))
        code = ALL_TRAPS.index("regional")
        raw = raw.with_columns(trap=pl.Series(np.where(relabel, code, trap).astype(np.int8)))
    return raw


_TRAP_SHARES = {
    "flash": "flash_sale_share",
    "shared": "shared_ip_share",
    "default": "default_text_share",
    "campus": "campus_share",
    "ipv6_mobile": "ipv6_mobile_share",
    "common_phrase": "common_phrase_share",
    "repeat_buyer": "repeat_buyer_share",
    "defect_batch": "defect_batch_share",
    "real_text": "real_text_share",
    "prompt_review": "prompt_review_share",
    "shared_device": "shared_device_share",
}


def _histories(
    rng: np.random.Generator,
    mk: market.Market,
    cfg: GeneratorConfig,
    attack_blocks: list[pl.DataFrame],
    room: int,
) -> list[pl.DataFrame]:
    """Earlier ordinary reviews of the aged accounts of each family (``aged_share``), honest-labelled.

    Each aged account keeps the address and device of its first campaign
    review; its history ends a day before that review. At most ``room``
    reviews in all (shrunk proportionally).
    """
    plans = []
    for block in attack_blocks:
        if block.height == 0:
            continue
        fam = ATTACK_FAMILIES[int(block["family"][0])]
        fc = getattr(cfg, fam)
        if fc.aged_share <= 0:
            continue
        first = block.sort(["user", "created"]).group_by("user", maintain_order=True).first()
        aged = rng.random(first.height) < fc.aged_share
        first = first.filter(pl.Series(aged))
        counts = rng.integers(fc.history[0], fc.history[1] + 1, first.height)
        plans.append((first, counts))
    total = sum(int(c.sum()) for _, c in plans)
    out = []
    for first, counts in plans:
        if total > room:
            counts = np.floor(counts * room / total).astype(np.int64)
        ips = market.IPs(
            first["ip_v6"].to_numpy(), first["ip_hi"].to_numpy(), first["ip_lo"].to_numpy()
        )
        before = first["created"].to_numpy() - market.DAY_US
        out.append(
            market.camouflage_block(
                rng,
                mk,
                cfg,
                first["user"].to_numpy(),
                ips,
                first["device"].to_numpy(),
                counts,
                before=before,
            )
        )
    return out


def _unique_numbers(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    """``n`` distinct random integers below 10**digits, in random order."""
    top = 10**digits
    x = np.sort(rng.integers(0, top - n, n)) + np.arange(n)
    return rng.permutation(x).astype(np.int64)


_HEX4: pl.Series | None = None
_HEX: pl.Series | None = None


def _hex_tables() -> tuple[pl.Series, pl.Series]:
    global _HEX4, _HEX
    if _HEX4 is None or _HEX is None:
        _HEX4 = pl.Series([f"{i:04x}" for i in range(65536)], dtype=pl.String)
        _HEX = pl.Series([f"{i:x}" for i in range(65536)], dtype=pl.String)
    return _HEX4, _HEX


def _group16(x: np.ndarray, shift: int) -> np.ndarray:
    return ((x >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.int64)


def _ip_text(v6: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> pl.Series:
    """Dotted-quad IPv4 / lower-case IPv6 text (``a:b:c:d::h`` when the middle is zero)."""
    _, hexn = _hex_tables()
    groups = [_group16(hi, s) for s in (48, 32, 16, 0)] + [_group16(lo, s) for s in (48, 32, 16, 0)]
    g = {f"g{i}": hexn.gather(a) for i, a in enumerate(groups)}
    octets = {
        f"o{i}": ((lo >> np.uint64(s)) & np.uint64(255)).astype(np.uint8)
        for i, s in enumerate((24, 16, 8, 0))
    }
    short = (groups[4] == 0) & (groups[5] == 0) & (groups[6] == 0)
    df = pl.DataFrame({**g, **octets, "v6": v6, "short": short})
    full6 = pl.concat_str([pl.col(f"g{i}") for i in range(8)], separator=":")
    short6 = pl.concat_str(
        [
            pl.concat_str([pl.col(f"g{i}") for i in range(4)], separator=":"),
            pl.lit("::"),
            pl.col("g7"),
        ]
    )
    v4 = pl.concat_str([pl.col(f"o{i}") for i in range(4)], separator=".")
    return df.select(
        pl.when(~pl.col("v6"))
        .then(v4)
        .when(pl.col("short"))
        .then(short6)
        .otherwise(full6)
        .alias("ip")
    ).to_series()


def _device_text(device: np.ndarray) -> pl.Series:
    hex4, _ = _hex_tables()
    parts = {f"d{i}": hex4.gather(_group16(device, s)) for i, s in enumerate((48, 32, 16, 0))}
    df = pl.DataFrame({**parts, "null": device == 0})
    return df.select(
        pl.when(~pl.col("null"))
        .then(pl.concat_str([pl.col(f"d{i}") for i in range(4)]))
        .alias("device_id")
    ).to_series()


def _finalise(raw: pl.DataFrame, rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = raw.height
    user = raw["user"].to_numpy()
    n_users = int(user.max()) + 1
    shop = raw["shop"].to_numpy().astype(np.int64)
    product = raw["product"].to_numpy().astype(np.int64)
    n_shops = int(shop.max()) + 1
    n_products = int(product.max()) + 1

    review_no = _unique_numbers(rng, n, 12)
    user_no = _unique_numbers(rng, n_users, 9)[user]
    shop_no = _unique_numbers(rng, n_shops, 6)[shop]
    product_no = _unique_numbers(rng, n_products, 9)[product]
    order_no = _unique_numbers(rng, n, 13)
    delivered = raw["delivered"].to_numpy()
    ordered = delivered - (rng.uniform(1.0, 10.0, n) * market.DAY_US).astype(np.int64)

    rating = raw["rating"].to_numpy().astype(float)
    family = raw["family"].to_numpy()
    dsr = {}
    for col, w in zip(DSR_COLUMNS, (0.85, 0.55, 0.35), strict=True):
        base = w * rating + (1 - w) * 4.7 + rng.normal(0.0, 0.6, n)
        d = np.clip(np.round(base), 1, 5)
        d = np.where(family == attacks.FAMILY_CODES["boost"], 5, d)
        negative = (family == attacks.FAMILY_CODES["smear"]) | (
            family == attacks.FAMILY_CODES["pro_negative"]
        )
        d = np.where(negative, np.minimum(d, rating + (rng.random(n) < 0.2)), d)
        dsr[col] = pl.Series(col, d.astype(np.int8))

    frame = pl.DataFrame(
        {
            "review_no": review_no,
            "user_no": user_no,
            "shop_no": shop_no,
            "product_no": product_no,
            "order_no": order_no,
            "ordered": ordered,
            "ip": _ip_text(
                raw["ip_v6"].to_numpy(), raw["ip_hi"].to_numpy(), raw["ip_lo"].to_numpy()
            ),
            "device_id": _device_text(raw["device"].to_numpy()),
            **dsr,
        }
    )
    both = pl.concat([raw, frame], how="horizontal")

    def pre(prefix: str, col: str, width: int) -> pl.Expr:
        return pl.concat_str([pl.lit(prefix), pl.col(col).cast(pl.String).str.zfill(width)])

    def to_dt(col: str) -> pl.Expr:
        return pl.from_epoch(pl.col(col), time_unit="us").dt.replace_time_zone("UTC")

    fam_names = pl.Series(ATTACK_FAMILIES)
    trap_names = pl.Series(ALL_TRAPS)
    out = both.select(
        pre("r", "review_no", 12).alias("review_id"),
        pre("s", "shop_no", 6).alias("shop_id"),
        pre("p", "product_no", 9).alias("product_id"),
        pre("u", "user_no", 9).alias("user_id"),
        pl.col("rating").cast(pl.Int8),
        to_dt("created").alias("created_at"),
        pl.col("text"),
        pl.col("ip"),
        pl.col("device_id"),
        to_dt("delivered").alias("delivered_at"),
        pl.concat_str(
            [
                pl.from_epoch(
                    pl.col("ordered") + market.CHINA_OFFSET_US, time_unit="us"
                ).dt.strftime("%y%m%d"),
                pl.col("order_no").cast(pl.String).str.zfill(13),
            ]
        ).alias("order_id"),
        *[pl.col(c) for c in DSR_COLUMNS],
        *([pl.col("ip_region")] if "ip_region" in both.columns else []),
        # labels
        (pl.col("family") >= 0).alias("is_fake"),
        pl.when(pl.col("family") >= 0)
        .then(pl.lit(fam_names).gather(pl.col("family").clip(0).cast(pl.Int64)))
        .alias("attack_type"),
        pl.when(pl.col("family") >= 0)
        .then(
            pl.concat_str(
                [
                    pl.lit(fam_names).gather(pl.col("family").clip(0).cast(pl.Int64)),
                    pl.lit("-"),
                    pl.col("campaign").cast(pl.String).str.zfill(4),
                ]
            )
        )
        .alias("campaign_id"),
        pl.when(pl.col("trap") >= 0)
        .then(pl.lit(trap_names).gather(pl.col("trap").clip(0).cast(pl.Int64)))
        .alias("trap"),
    ).sort(["created_at", "review_id"], maintain_order=True)

    kept = [c for c in CONTRACT if c not in EXPORT_ONLY or (c == "ip_region" and c in raw.columns)]
    reviews = out.select([pl.col(c).cast(CONTRACT[c]) for c in kept])
    labels = out.select([pl.col(c).cast(t) for c, t in LABEL_SCHEMA.items()])
    return reviews, labels


def write_dataset(
    out_dir: str | Path, reviews: pl.DataFrame, labels: pl.DataFrame
) -> tuple[Path, Path]:
    """Write ``out_dir/reviews.parquet`` and ``out_dir/labels.parquet`` (each atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = write_parquet(reviews, out / "reviews.parquet")
    lab = write_parquet(labels, out / "labels.parquet")
    return r, lab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a synthetic review market with fraud.")
    ap.add_argument("--n", type=int, default=100_000, help="number of reviews")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="directory for the Parquet files")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    reviews, labels = generate(args.n, seed=args.seed)
    t1 = time.perf_counter()
    print(f"generated {reviews.height:,} reviews in {t1 - t0:.2f} s")
    fake = labels["is_fake"].sum()
    print(
        f"fake {fake:,} ({fake / labels.height:.2%}); traps "
        + ", ".join(f"{t}={int((labels['trap'] == t).sum()):,}" for t in TRAPS)
    )
    if args.out is not None:
        paths = write_dataset(args.out, reviews, labels)
        print(f"wrote {paths[0]} and {paths[1]} in {time.perf_counter() - t1:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
