"""The scenario matrix: every attack family under every evasion, every honest crowd, every lone tell.

One generated market per *cell* (family x variant) and seed, every parameter of
every attack and trap drawn from a wide range keyed on the seed (domain
randomisation), so that no figure depends on one setting of our own generator.

Cells
-----
``boost``, ``smear``, ``ring``, ``pro_negative`` x :data:`ATTACK_VARIANTS`
    The market holds that family's campaigns only (2-8 % of the reviews), plus
    the classic honest traps at random small shares. Variants are the evasions
    a careful operator uses:

    * ``plain``: the family with randomised parameters and no evasion;
    * ``subnet16``: the shared addresses spread over a /16 instead of one /24;
    * ``proxy_pool``: every review from its own proxy address;
    * ``paraphrased``: templates paraphrased at full strength;
    * ``perturbed``: paraphrased, then noise and an honest phrase inserted;
    * ``slow``: the campaign spread over weeks (rings: waves weeks apart);
    * ``aged``: most accounts have a history of ordinary reviews first;
    * ``human_delay``: reviews 10 hours to 10 days after receipt, not minutes;
    * ``soft_rating``: 4★ instead of 5★ (2★ instead of 1★);
    * ``mixed``: three to five of the above at once, drawn per seed;
    * ``no_ip``: plain, but the input has IP属地 and no address, as merchants'
      exports (not one of the evasions ``mixed`` draws).

    Every cell's reviews carry ``ip_region`` (IP属地, :mod:`benchmarks.regions`):
    honest buyers by population with regional shops, travellers and local
    flash sales drawn per seed, each family's farms in one to three provinces;
    ``proxy_pool`` campaigns show a province per review (10-30 of them).
``signal`` x :data:`SIGNAL_VARIANTS`
    5★ campaigns that look honest in every respect (aged accounts, own
    addresses and phones, natural texts, human delays, spread over weeks)
    except one extreme feature: ``delay`` (minutes after receipt),
    ``device`` (one or two phones for the whole campaign), ``template`` (one
    text word for word), ``subnet`` (a few addresses of one /24),
    ``fresh_burst`` (fresh accounts within hours), ``lockstep`` (a ring that
    reviews the same products together), ``region_burst`` (aged accounts of
    one province within hours). Their recall says whether a single
    strong signal survives the forest (:data:`SIGNAL_FEATURE` names the
    feature meant to catch it).
``honest`` x :data:`HONEST_VARIANTS`
    One honest crowd at 3-12 % of the reviews, with its parameters drawn
    wide, beside all four attack families: ``flash_sale``, ``carrier_nat``
    (pools of 1-32 addresses shared by 30-5,000 reviews), ``campus`` (a /16,
    buyers concentrated on a few campus shops), ``ipv6_mobile`` (many buyers
    in one /64), ``common_phrase`` ("物流很快，质量很好" word for word),
    ``repeat_buyer`` (loyal buyers, often pasting their own text),
    ``defect_batch`` (a burst of genuine, varied complaints about one bad
    batch), ``default_text`` (platform defaults), ``real_text`` (real
    buyers' words from the optional ``bench-text`` corpus, see
    :func:`benchmarks.texts.load_corpus`; without it the built-in texts are
    used and the report says so), ``prompt_review`` (20-45 % of the buyers
    review minutes after confirming receipt, as the app prompts them),
    ``shared_device`` (households: a few accounts on one phone and address)
    and ``regional`` (no IP; 30-70 % of the shops regional, most flash sales
    promoted in one city: the local buyers are the crowd).
    Every market also has some prompt reviewers (2-20 %) and households
    (0-2 %), and its honest delivery-to-review delays drawn around a median
    of 1.5-5 days, so that no single feature is a free tell.

Seeds
-----
Development seeds are :data:`DEV_SEEDS` (0-9); figures are reported on
:data:`REPORT_SEEDS` (1001+). ``resolve_seeds("dev")`` / ``("report")`` /
``("report:5")`` / ``("1001,1004")`` turns a ``--seeds`` value into seeds.

API
---
``build_cell(family, variant, seed, n_reviews) -> (reviews, labels)``
    The cell's market (:func:`benchmarks.generator.generate` with
    :func:`cell_config`); labels as the generator's (``is_fake``,
    ``attack_type``, ``campaign_id``, ``trap``). :func:`target_mask` gives the
    rows a cell is about (the family's fakes, or the honest crowd).
``run_matrix(seeds, n_reviews, cells=None, method=None, log=None) -> pl.DataFrame``
    One row per (cell, seed): ``family, variant, kind, seed, n_reviews,
    n_fake, n_target, roc_auc, average_precision, precision, recall,
    flag_rate, target_flag_rate, trap_flag_rate, honest_flag_rate, tell_auc,
    top_feature, top_feature_auc, seconds``.
    ``method(reviews, seed) -> MethodOutput`` defaults to review-detector
    (:func:`benchmarks.baselines.review_detector`), scored in-process.
    ``cells`` is a list of ``(family, variant)`` or ``"family/variant"`` or
    family names. :func:`summarise` reduces the rows to one per cell.
``run_matrix_suite(out_dir, ...)``
    What ``review-detector bench --suite matrix`` runs: writes
    ``matrix.json`` and ``matrix.md`` (machine, versions, git, command).

For example, while developing (development seeds, a few cells)::

    from benchmarks.matrix import run_matrix, summarise

    rows = run_matrix("dev", 6_000, cells="signal,honest/repeat_buyer,boost/mixed")
    print(summarise(rows).select("family", "variant", "precision", "recall", "tell_auc"))

Metric definitions (all from :mod:`benchmarks.metrics`): ROC-AUC and AP of
the cell's fakes against every honest review (honest cells: all fakes);
``precision`` is the share of the engine's flags that are fake; ``recall`` the
share of the cell's target fakes flagged (honest cells: all fakes);
``target_flag_rate`` the flagged share of the honest crowd (honest cells);
``trap_flag_rate`` of all honest trap rows; ``honest_flag_rate`` of all honest
reviews. Per feature (:func:`feature_aucs`, when the method returns the
engine's feature values): ``tell_auc`` is the ROC-AUC of a signal cell's own
feature alone (:data:`SIGNAL_FEATURE`) — high there with a low recall means
the engine has the signal and dilutes it; ``top_feature`` / ``top_feature_auc``
the single feature that best separates the cell's target (honest cells: the
feature that most sets the crowd apart from other honest buyers, the likely
source of false flags).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks import metrics
from benchmarks.generator import (
    ATTACK_FAMILIES,
    BoostConfig,
    GeneratorConfig,
    ProNegativeConfig,
    RingConfig,
    SmearConfig,
    generate,
)

DEV_SEEDS: tuple[int, ...] = tuple(range(10))
REPORT_SEEDS: tuple[int, ...] = (1001, 1002, 1003)
DEFAULT_REVIEWS = 10_000
QUICK_REVIEWS = 4_000

ATTACK_VARIANTS: tuple[str, ...] = (
    "plain",
    "subnet16",
    "proxy_pool",
    "paraphrased",
    "perturbed",
    "slow",
    "aged",
    "human_delay",
    "soft_rating",
    "mixed",
    "no_ip",
)
#: The evasions "mixed" draws from.
EVASIONS: tuple[str, ...] = ATTACK_VARIANTS[1:-2]
SIGNAL_VARIANTS: tuple[str, ...] = (
    "delay",
    "device",
    "template",
    "subnet",
    "fresh_burst",
    "lockstep",
    "region_burst",
)
#: The engine feature meant to catch each lone tell.
SIGNAL_FEATURE: dict[str, str] = {
    "delay": "review_delay_minutes",
    "device": "device_users",
    "template": "text_cluster_users",
    "subnet": "net_shop_burst",
    "fresh_burst": "fresh_burst",
    "lockstep": "ring_partners",
    "region_burst": "region_burst",
}
HONEST_VARIANTS: tuple[str, ...] = (
    "flash_sale",
    "carrier_nat",
    "campus",
    "ipv6_mobile",
    "common_phrase",
    "repeat_buyer",
    "defect_batch",
    "default_text",
    "real_text",
    "prompt_review",
    "shared_device",
    "regional",
)
#: The trap label each honest variant writes.
HONEST_TRAP: dict[str, str] = {
    "flash_sale": "flash_sale",
    "carrier_nat": "shared_ip",
    "campus": "campus",
    "ipv6_mobile": "ipv6_mobile",
    "common_phrase": "common_phrase",
    "repeat_buyer": "repeat_buyer",
    "defect_batch": "defect_batch",
    "default_text": "default_text",
    "real_text": "real_text",
    "prompt_review": "prompt_review",
    "shared_device": "shared_device",
    "regional": "regional",
}

#: Targets of issue 13 a cell is checked against.
TARGETS = {"roc_auc": 0.97, "precision": 0.9, "recall": 0.7, "trap_flag_rate": 0.005}


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix."""

    family: str  # an attack family, "signal" or "honest"
    variant: str

    @property
    def kind(self) -> str:
        return self.family if self.family in ("signal", "honest") else "attack"

    @property
    def name(self) -> str:
        return f"{self.family}/{self.variant}"


CELLS: tuple[Cell, ...] = (
    *(Cell(f, v) for f in ATTACK_FAMILIES for v in ATTACK_VARIANTS),
    *(Cell("signal", v) for v in SIGNAL_VARIANTS),
    *(Cell("honest", v) for v in HONEST_VARIANTS),
)
#: The ``--quick`` subset: one cell of each family and kind.
QUICK_CELLS: tuple[Cell, ...] = (
    Cell("boost", "mixed"),
    Cell("smear", "perturbed"),
    Cell("ring", "aged"),
    Cell("pro_negative", "human_delay"),
    Cell("signal", "delay"),
    Cell("honest", "carrier_nat"),
    Cell("honest", "common_phrase"),
)


def get_cell(family: str, variant: str) -> Cell:
    """The cell ``family/variant``; ``ValueError`` naming the valid ones otherwise."""
    cell = Cell(family, variant)
    if cell not in CELLS:
        valid = sorted({c.family for c in CELLS})
        raise ValueError(
            f"unknown cell {cell.name!r}: families {valid}; variants: attack {list(ATTACK_VARIANTS)}, "
            f"signal {list(SIGNAL_VARIANTS)}, honest {list(HONEST_VARIANTS)}"
        )
    return cell


def parse_cells(spec: Iterable[str | tuple[str, str] | Cell] | str | None) -> tuple[Cell, ...]:
    """Cells from ``"boost/aged,honest"``, a list of such names or ``(family, variant)`` pairs."""
    if spec is None:
        return CELLS
    items = [s.strip() for s in spec.split(",") if s.strip()] if isinstance(spec, str) else spec
    out: list[Cell] = []
    for item in items:
        if isinstance(item, Cell):
            cells = [get_cell(item.family, item.variant)]
        elif isinstance(item, tuple):
            cells = [get_cell(*item)]
        elif "/" in item:
            cells = [get_cell(*item.split("/", 1))]
        else:
            cells = [c for c in CELLS if c.family == item]
            if not cells:
                get_cell(item, "?")  # raises with the valid names
        out += [c for c in cells if c not in out]
    return tuple(out)


def resolve_seeds(spec: str | Sequence[int] | None) -> tuple[int, ...]:
    """``"report"`` (default), ``"dev"``, ``"report:N"`` / ``"dev:N"`` or explicit integers."""
    if spec is None:
        return REPORT_SEEDS
    if not isinstance(spec, str):
        return tuple(int(s) for s in spec)
    name, _, count = spec.partition(":")
    if name in ("dev", "report"):
        k = int(count) if count else 3
        if k < 1:
            raise ValueError(f"seed count must be at least 1, got {spec!r}")
        return DEV_SEEDS[:k] if name == "dev" else tuple(1001 + i for i in range(k))
    try:
        return tuple(int(x.strip().replace("_", "")) for x in spec.split(",") if x.strip())
    except ValueError as exc:
        raise ValueError(
            f"--seeds takes 'dev', 'report', 'dev:N', 'report:N' or integers, got {spec!r}"
        ) from exc


# ----------------------------------------------------------------------------- randomisation


def _rng(seed: int, *names: str) -> np.random.Generator:
    keys = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D617472, *keys]))


def _span(rng: np.random.Generator, lo: tuple[float, float], factor: tuple[float, float]):
    """A range (a, a x f) with a ~ U(lo) and f ~ U(factor)."""
    a = float(rng.uniform(*lo))
    return (a, a * float(rng.uniform(*factor)))


def _ispan(rng: np.random.Generator, lo: tuple[int, int], extra: tuple[int, int]):
    a = int(rng.integers(lo[0], lo[1] + 1))
    return (a, a + int(rng.integers(extra[0], extra[1] + 1)))


def _log_u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _plain_families(rng: np.random.Generator) -> dict:
    """Every family's parameters drawn wide."""
    u = rng.uniform
    boost = BoostConfig(
        size=_ispan(rng, (5, 30), (10, 90)),
        products=(1, int(rng.integers(1, 6))),
        spread_hours=(u(0.5, 6.0), u(6.0, 96.0)),
        fresh_ip_share=u(0.0, 0.8),
        paraphrase=u(0.0, 0.8),
        delay_minutes=(u(1.0, 10.0), u(30.0, 600.0)),
        english_share=u(0.0, 0.2),
        four_star_share=u(0.0, 0.1),
        pool_hosts=_ispan(rng, (1, 5), (0, 20)),
        device_pool_share=u(0.0, 0.9),
        device_pool=(1, int(rng.integers(2, 11))),
    )
    smear = SmearConfig(
        size=_ispan(rng, (5, 25), (10, 70)),
        products=(1, int(rng.integers(1, 5))),
        spread_hours=(u(0.5, 4.0), u(4.0, 72.0)),
        fresh_ip_share=u(0.0, 0.8),
        paraphrase=u(0.0, 0.8),
        delay_minutes=(u(5.0, 60.0), u(120.0, 2880.0)),
        two_star_share=u(0.0, 0.3),
        pool_hosts=_ispan(rng, (1, 5), (0, 16)),
        device_pool_share=u(0.0, 0.9),
        device_pool=(1, int(rng.integers(2, 11))),
    )
    ring = RingConfig(
        accounts=_ispan(rng, (4, 12), (4, 20)),
        products=_ispan(rng, (3, 8), (3, 12)),
        participation=u(0.6, 1.0),
        spread_hours=(u(0.1, 2.0), u(2.0, 24.0)),
        wave_gap_days=(u(1.0, 7.0), u(7.0, 30.0)),
        fresh_ip_share=u(0.2, 1.0),
        paraphrase=u(0.2, 1.0),
        delay_minutes=(u(10.0, 120.0), u(600.0, 4320.0)),
        four_star_share=u(0.0, 0.3),
        camouflage=_ispan(rng, (0, 5), (2, 20)),
        pool_hosts=_ispan(rng, (1, 4), (0, 10)),
    )
    pro = ProNegativeConfig(
        accounts=(1, int(rng.integers(1, 6))),
        size=_ispan(rng, (5, 15), (5, 40)),
        spread_hours=(u(720.0, 2880.0), u(2880.0, 8000.0)),
        fresh_ip_share=u(0.0, 0.8),
        paraphrase=u(0.2, 1.0),
        delay_minutes=(u(0.5, 10.0), u(20.0, 240.0)),
        two_star_share=u(0.0, 0.3),
        pool_hosts=_ispan(rng, (1, 3), (0, 6)),
    )
    return {"boost": boost, "smear": smear, "ring": ring, "pro_negative": pro}


def base_config(seed: int, n_reviews: int) -> GeneratorConfig:
    """The seed's market: shop structure, languages, devices and the classic traps drawn wide.

    Keyed on the seed alone, so every cell of one seed shares its honest market
    parameters and differs only by what the cell adds.
    """
    rng = _rng(seed, "market")
    u = rng.uniform
    fams = _plain_families(rng)
    regions = _region_knobs(_rng(seed, "regions"))
    for f, knobs in regions.pop("_families").items():
        fams[f] = replace(fams[f], **knobs)
    return GeneratorConfig(
        n_shops=max(5, int(round(n_reviews / u(300.0, 2500.0)))),
        products_per_shop=_log_u(rng, 8.0, 80.0),
        fraud_share=u(0.02, 0.08),
        english_share=u(0.0, 0.2),
        ipv6_share=u(0.05, 0.4),
        device_null_share=u(0.0, 0.2),
        flash_sale_share=u(0.005, 0.04),
        flash_sale_size=_ispan(rng, (20, 150), (30, 900)),
        flash_sale_window_hours=(u(0.25, 2.0), u(2.0, 12.0)),
        flash_sale_multi_share=u(0.3, 0.95),
        shared_ip_share=u(0.005, 0.04),
        shared_ip_hosts=(1, int(rng.integers(1, 17))),
        shared_ip_pool_reviews=_log_u(rng, 50.0, 3000.0),
        default_text_share=u(0.005, 0.04),
        honest_delay_days=u(1.5, 5.0),
        prompt_review_share=u(0.02, 0.2),
        shared_device_share=u(0.0, 0.02),
        **fams,
        **regions,
    )


def _region_knobs(rng: np.random.Generator) -> dict:
    """IP属地 everywhere (Chinese review pages show it), its honest skews drawn wide, and each
    family's farms in 1-3 provinces; own stream, so the rest of the market keeps its draws."""
    u = rng.uniform
    fams = {f: {"region_provinces": (1, int(rng.integers(1, 4)))} for f in ATTACK_FAMILIES}
    return {
        "ip_region": True,
        "region_noise": u(0.1, 0.6),
        "regional_shop_share": u(0.0, 0.3),
        "regional_local_share": (u(0.3, 0.6), u(0.6, 0.95)),
        "local_flash_share": u(0.0, 0.3),
        "local_flash_local": (u(0.2, 0.5), u(0.5, 0.9)),
        "_families": fams,
    }


def _only(cfg: GeneratorConfig, family: str | None) -> GeneratorConfig:
    """Campaigns of ``family`` only (None: all four)."""
    if family is None:
        return cfg
    off = {f: replace(getattr(cfg, f), weight=0.0) for f in ATTACK_FAMILIES if f != family}
    return replace(cfg, **{family: replace(getattr(cfg, family), weight=1.0)}, **off)


def _evade(fc, family: str, evasion: str, rng: np.random.Generator):
    """``fc`` (a family's config) with one evasion applied."""
    u = rng.uniform
    if evasion == "subnet16":
        return replace(
            fc,
            pool_prefix=16,
            pool_hosts=_ispan(rng, (8, 30), (10, 60)),
            fresh_ip_share=u(0.0, 0.3),
        )
    if evasion == "proxy_pool":  # exits all over the country: a province per review
        return replace(fc, fresh_ip_share=1.0, region_provinces=(10, 30))
    if evasion == "paraphrased":
        return replace(fc, paraphrase=u(0.85, 1.0))
    if evasion == "perturbed":
        return replace(fc, paraphrase=u(0.6, 1.0), perturb=u(0.7, 1.0))
    if evasion == "slow":
        if family == "ring":
            return replace(
                fc,
                spread_hours=(u(12.0, 48.0), u(48.0, 168.0)),
                wave_gap_days=(u(10.0, 20.0), u(20.0, 45.0)),
            )
        if family == "pro_negative":
            return replace(fc, spread_hours=(u(4000.0, 6000.0), u(6000.0, 8000.0)))
        return replace(fc, spread_hours=(u(24.0 * 7, 24.0 * 14), u(24.0 * 14, 24.0 * 42)))
    if evasion == "aged":
        return replace(fc, aged_share=u(0.7, 1.0), history=_ispan(rng, (2, 6), (4, 20)))
    if evasion == "human_delay":
        return replace(fc, delay_minutes=(u(600.0, 1440.0), u(2880.0, 14400.0)))
    if evasion == "soft_rating":
        if family in ("smear", "pro_negative"):
            return replace(fc, two_star_share=u(0.7, 1.0))
        return replace(fc, four_star_share=u(0.6, 1.0))
    raise ValueError(f"unknown evasion {evasion!r}")


def _honest_looking_boost(rng: np.random.Generator) -> BoostConfig:
    """5★ campaigns with nothing suspicious: the base the ``signal`` cells add one tell to."""
    u = rng.uniform
    return BoostConfig(
        weight=1.0,
        size=_ispan(rng, (22, 30), (5, 15)),
        products=(1, 2),
        spread_hours=(u(24.0 * 7, 24.0 * 10), u(24.0 * 14, 24.0 * 30)),
        fresh_ip_share=1.0,
        text="honest",
        delay_minutes=(u(600.0, 1440.0), u(2880.0, 14400.0)),
        english_share=0.0,
        four_star_share=u(0.1, 0.25),
        device_pool_share=0.0,
        aged_share=1.0,
        history=_ispan(rng, (2, 6), (4, 15)),
    )


def _signal(cfg: GeneratorConfig, tell: str, rng: np.random.Generator) -> GeneratorConfig:
    u = rng.uniform
    if tell == "lockstep":
        ring = replace(
            cfg.ring,
            weight=1.0,
            text="honest",
            fresh_ip_share=1.0,
            delay_minutes=(u(600.0, 1440.0), u(2880.0, 14400.0)),
            four_star_share=u(0.1, 0.25),
            participation=u(0.8, 1.0),
        )
        return replace(_only(cfg, "ring"), ring=ring)
    boost = _honest_looking_boost(rng)
    if tell == "delay":
        boost = replace(boost, delay_minutes=(1.0, u(5.0, 15.0)))
    elif tell == "device":
        boost = replace(boost, device_pool_share=1.0, device_pool=(1, 2))
    elif tell == "template":
        boost = replace(boost, text="template", paraphrase=0.0)
    elif tell == "subnet":
        boost = replace(boost, fresh_ip_share=0.0, pool_hosts=_ispan(rng, (1, 3), (1, 4)))
    elif tell == "fresh_burst":
        boost = replace(boost, aged_share=0.0, spread_hours=(u(0.5, 2.0), u(2.0, 6.0)))
    elif tell == "region_burst":  # aged accounts of one province within hours
        boost = replace(boost, region_provinces=(1, 1), spread_hours=(u(0.5, 2.0), u(2.0, 12.0)))
    else:
        raise ValueError(f"unknown signal {tell!r}")
    return replace(_only(cfg, "boost"), boost=boost, fraud_share=u(0.03, 0.06))


def _honest(cfg: GeneratorConfig, variant: str, rng: np.random.Generator) -> GeneratorConfig:
    u = rng.uniform
    share = u(0.03, 0.12)
    cfg = replace(cfg, fraud_share=u(0.03, 0.06))
    if variant == "flash_sale":
        return replace(
            cfg,
            flash_sale_share=share,
            flash_sale_size=_ispan(rng, (30, 300), (50, 2500)),
            flash_sale_window_hours=(u(0.25, 2.0), u(2.0, 12.0)),
            flash_sale_multi_share=u(0.3, 0.95),
        )
    if variant == "carrier_nat":
        return replace(
            cfg,
            shared_ip_share=share,
            shared_ip_hosts=(1, int(rng.integers(1, 33))),
            shared_ip_pool_reviews=_log_u(rng, 30.0, 5000.0),
        )
    if variant == "campus":
        return replace(
            cfg,
            campus_share=share,
            campus_hosts=_ispan(rng, (4, 32), (8, 200)),
            campus_pool_reviews=_log_u(rng, 300.0, 5000.0),
            campus_shop_focus=u(0.2, 0.8),
        )
    if variant == "ipv6_mobile":
        return replace(
            cfg, ipv6_mobile_share=share, ipv6_mobile_pool_reviews=_log_u(rng, 20.0, 2000.0)
        )
    if variant == "common_phrase":
        return replace(
            cfg, common_phrase_share=u(0.03, 0.15), common_phrases=int(rng.integers(1, 21))
        )
    if variant == "repeat_buyer":
        return replace(cfg, repeat_buyer_share=share, repeat_same_text=u(0.2, 0.9))
    if variant == "defect_batch":
        return replace(
            cfg,
            defect_batch_share=u(0.01, 0.05),
            defect_batch_size=_ispan(rng, (10, 60), (20, 200)),
            defect_window_hours=(u(6.0, 24.0), u(24.0, 168.0)),
            defect_phrase_share=u(0.2, 0.9),
        )
    if variant == "default_text":
        return replace(cfg, default_text_share=share)
    if variant == "real_text":
        return replace(cfg, real_text_share=u(0.3, 0.9))
    if variant == "prompt_review":
        return replace(
            cfg, prompt_review_share=u(0.2, 0.45), prompt_review_minutes=(1.0, u(5.0, 60.0))
        )
    if variant == "shared_device":
        return replace(cfg, shared_device_share=share, household_size=(2, int(rng.integers(2, 7))))
    if variant == "regional":  # regional shops and sales promoted in one city, no IP
        return replace(
            cfg,
            with_ip=False,
            label_regional=True,
            regional_shop_share=u(0.3, 0.7),
            regional_local_share=(u(0.5, 0.7), u(0.7, 0.95)),
            flash_sale_share=share,
            local_flash_share=u(0.5, 1.0),
            local_flash_local=(u(0.3, 0.6), u(0.6, 0.9)),
        )
    raise ValueError(f"unknown honest variant {variant!r}")


def cell_config(family: str, variant: str, seed: int, n_reviews: int) -> GeneratorConfig:
    """The generator configuration of one cell at one seed (deterministic)."""
    cell = get_cell(family, variant)
    cfg = base_config(seed, n_reviews)
    rng = _rng(seed, cell.name)
    if cell.kind == "signal":
        return _signal(cfg, variant, rng)
    if cell.kind == "honest":
        return _honest(cfg, variant, rng)
    evasions: tuple[str, ...] = ()
    if variant == "mixed":
        k = int(rng.integers(3, 6))
        evasions = tuple(str(e) for e in rng.choice(np.array(EVASIONS), k, replace=False))
    elif variant == "no_ip":  # a merchant's export: IP属地 but no address
        cfg = replace(cfg, with_ip=False)
    elif variant != "plain":
        evasions = (variant,)
    cfg = _only(cfg, family)
    fc = getattr(cfg, family)
    for e in evasions:
        if e == "proxy_pool" and "subnet16" in evasions:
            continue  # one address plan per campaign
        fc = _evade(fc, family, e, rng)
    return replace(cfg, **{family: fc})


def mixed_evasions(family: str, seed: int) -> tuple[str, ...]:
    """The evasions the ``mixed`` cell of ``family`` combines at ``seed`` (for reports)."""
    rng = _rng(seed, Cell(family, "mixed").name)
    k = int(rng.integers(3, 6))
    return tuple(str(e) for e in rng.choice(np.array(EVASIONS), k, replace=False))


def build_cell(
    family: str, variant: str, seed: int, n_reviews: int = DEFAULT_REVIEWS
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(reviews, labels)`` of one cell: :func:`benchmarks.generator.generate` with :func:`cell_config`."""
    cfg = cell_config(family, variant, seed, n_reviews)
    return generate(n_reviews, seed=seed, config=cfg)


def target_mask(labels: pl.DataFrame, family: str, variant: str) -> np.ndarray:
    """Rows a cell is about: its family's fakes, the signal campaigns, or the honest crowd."""
    cell = get_cell(family, variant)
    if cell.kind == "honest":
        return (labels["trap"] == HONEST_TRAP[variant]).fill_null(False).to_numpy()
    return labels["is_fake"].to_numpy().astype(bool)


# ----------------------------------------------------------------------------- running


def _nan(x) -> float:
    return math.nan if x is None else float(x)


def evaluate_cell(cell: Cell, labels: pl.DataFrame, scores, flagged) -> dict:
    """The figures of one cell's run (see the module docstring)."""
    y = labels["is_fake"].to_numpy().astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    f = np.asarray(flagged, dtype=bool)
    target = target_mask(labels, cell.family, cell.variant)
    trap = labels["trap"].is_not_null().to_numpy()
    thr = metrics.at_threshold(y, f)
    recall_rows = y if cell.kind == "honest" else target
    return {
        "n_fake": int(y.sum()),
        "n_target": int(target.sum()),
        "roc_auc": metrics.roc_auc(y, s),
        "average_precision": metrics.average_precision(y, s),
        "precision": thr["precision"],
        "recall": metrics.flag_rate(f, recall_rows),
        "flag_rate": thr["flag_rate"],
        "target_flag_rate": metrics.flag_rate(f, target) if cell.kind == "honest" else math.nan,
        "trap_flag_rate": metrics.flag_rate(f, trap),
        "honest_flag_rate": metrics.flag_rate(f, ~y),
    }


ROW_SCHEMA: dict[str, pl.DataType] = {
    "family": pl.String(),
    "variant": pl.String(),
    "kind": pl.String(),
    "seed": pl.Int64(),
    "n_reviews": pl.Int64(),
    "n_fake": pl.Int64(),
    "n_target": pl.Int64(),
    "roc_auc": pl.Float64(),
    "average_precision": pl.Float64(),
    "precision": pl.Float64(),
    "recall": pl.Float64(),
    "flag_rate": pl.Float64(),
    "target_flag_rate": pl.Float64(),
    "trap_flag_rate": pl.Float64(),
    "honest_flag_rate": pl.Float64(),
    "tell_auc": pl.Float64(),
    "top_feature": pl.String(),
    "top_feature_auc": pl.Float64(),
    "seconds": pl.Float64(),
}


def _default_method(reviews: pl.DataFrame, seed: int):
    from benchmarks.baselines import review_detector

    return review_detector(reviews, seed=seed, keep_features=True)


def feature_aucs(cell: Cell, labels: pl.DataFrame, frame: pl.DataFrame) -> dict[str, float]:
    """Per engine feature (oriented by its registry direction), the ROC-AUC of the cell's target.

    Attack and signal cells: the target fakes against every honest review
    (which single feature would catch them). Honest cells: the crowd against
    the other honest reviews outside any trap (which feature makes the crowd
    look suspicious). Missing values count as the least suspicious.
    """
    from features.registry import REGISTRY

    target = target_mask(labels, cell.family, cell.variant)
    y = labels["is_fake"].to_numpy().astype(bool)
    if cell.kind == "honest":
        rest = ~y & labels["trap"].is_null().to_numpy()
    else:
        rest = ~y
    sel = target | rest
    out = {}
    for name in frame.columns:
        if name == "review_id":
            continue
        v = frame[name].cast(pl.Float64).fill_nan(None).to_numpy() * REGISTRY.get(name).direction
        low = np.nanmin(v) if np.isfinite(v).any() else 0.0
        v = np.where(np.isfinite(v), v, low)
        out[name] = metrics.roc_auc(target[sel], v[sel])
    return out


def run_matrix(
    seeds: Sequence[int] | str | None = None,
    n_reviews: int = DEFAULT_REVIEWS,
    cells: Iterable[str | tuple[str, str] | Cell] | str | None = None,
    method: Callable | None = None,
    log: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Score every cell at every seed; one row per (cell, seed), schema :data:`ROW_SCHEMA`.

    ``method(reviews, seed) -> MethodOutput`` (default: review-detector at
    model seed 0) scores every review in row order and flags by its own rule.
    """
    seed_list = resolve_seeds(seeds)
    chosen = parse_cells(cells)
    fn = method or _default_method
    rows = []
    for seed in seed_list:
        for cell in chosen:
            reviews, labels = build_cell(cell.family, cell.variant, seed, n_reviews)
            t0 = time.perf_counter()
            out = fn(reviews, 0)
            secs = time.perf_counter() - t0
            ev = evaluate_cell(cell, labels, out.scores, out.flagged)
            frame = (getattr(out, "info", None) or {}).get("feature_frame")
            aucs = feature_aucs(cell, labels, frame) if frame is not None else {}
            ev["tell_auc"] = (
                aucs.get(SIGNAL_FEATURE.get(cell.variant, ""), math.nan)
                if cell.kind == "signal"
                else math.nan
            )
            top = max(
                aucs.items(),
                key=lambda kv: -1.0 if math.isnan(kv[1]) else kv[1],
                default=(None, math.nan),
            )
            ev["top_feature"], ev["top_feature_auc"] = top
            rows.append(
                {
                    "family": cell.family,
                    "variant": cell.variant,
                    "kind": cell.kind,
                    "seed": seed,
                    "n_reviews": reviews.height,
                    **ev,
                    "seconds": secs,
                }
            )
            if log:
                log(
                    f"{cell.name:<26} seed {seed:<5} AUC {_fmt(ev['roc_auc'])} AP {_fmt(ev['average_precision'])} "
                    f"P {_fmt(ev['precision'])} R {_fmt(ev['recall'])} "
                    f"traps {_fmt_pct(ev['trap_flag_rate'])} {secs:5.1f} s"
                )
    return pl.DataFrame(rows, schema=ROW_SCHEMA) if rows else pl.DataFrame(schema=ROW_SCHEMA)


def _fmt(x) -> str:
    return "  –  " if x is None or math.isnan(x) else f"{x:.3f}"


def _fmt_pct(x) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.2f}%"


def summarise(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per cell (in :data:`CELLS` order): means over seeds, the worst seed, and the targets met.

    NaN figures (e.g. precision when nothing was flagged) count as 0 for
    precision and are left out of the other means.
    """
    order = {c.name: i for i, c in enumerate(CELLS)}
    figs = [
        "tell_auc",
        "top_feature_auc",
        "roc_auc",
        "average_precision",
        "precision",
        "recall",
        "target_flag_rate",
        "trap_flag_rate",
        "honest_flag_rate",
    ]
    df = rows.with_columns(
        pl.col("precision").fill_nan(0.0),
        *[pl.col(c).fill_nan(None) for c in figs if c != "precision"],
    )
    out = (
        df.group_by("family", "variant", "kind")
        .agg(
            pl.len().alias("seeds"),
            pl.col("n_target").mean(),
            *[pl.col(c).mean() for c in figs],
            pl.col("roc_auc").min().alias("min_roc_auc"),
            pl.col("precision").min().alias("min_precision"),
            pl.col("recall").min().alias("min_recall"),
            pl.col("target_flag_rate").max().alias("max_target_flag_rate"),
            pl.col("trap_flag_rate").max().alias("max_trap_flag_rate"),
            pl.col("top_feature").drop_nulls().mode().sort().first(),
            pl.col("seconds").median(),
        )
        .with_columns(
            pl.concat_str(["family", pl.lit("/"), "variant"])
            .replace_strict(order, default=len(order), return_dtype=pl.Int64)
            .alias("_order")
        )
        .sort("_order")
        .drop("_order")
    )
    t = TARGETS
    attack_ok = (
        (pl.col("roc_auc") >= t["roc_auc"])
        & (pl.col("precision") >= t["precision"])
        & (pl.col("recall") >= t["recall"])
    )
    honest_ok = pl.col("target_flag_rate") <= t["trap_flag_rate"]
    return out.with_columns(
        pl.when(pl.col("kind") == "honest")
        .then(honest_ok)
        .otherwise(attack_ok)
        .fill_null(False)
        .alias("meets_target")
    )


def worst_cells(summary: pl.DataFrame, k: int = 8) -> pl.DataFrame:
    """The ``k`` cells furthest from their targets (attack and signal: lowest recall x precision)."""
    attack = summary.filter(pl.col("kind") != "honest").with_columns(
        (pl.col("recall").fill_null(0) * pl.col("precision").fill_null(0)).alias("_s")
    )
    return attack.sort("_s").head(k).drop("_s")


def environment_note() -> dict:
    """What the matrix's texts came from (the optional corpus or the built-in texts)."""
    from benchmarks import texts

    return {"real_text_source": texts.corpus_source()}


def cell_parameters(seeds: Sequence[int], n_reviews: int, cells: Sequence[Cell]) -> dict:
    """The drawn generator configuration of every cell and seed (JSON-ready), for the record."""
    out: dict = {}
    for cell in cells:
        for seed in seeds:
            cfg = cell_config(cell.family, cell.variant, seed, n_reviews)
            d = dataclasses.asdict(cfg)
            d["start"] = cfg.start.isoformat()
            if cell.variant == "mixed":
                d["evasions"] = list(mixed_evasions(cell.family, seed))
            out[f"{cell.name}@{seed}"] = d
    return out


def _seed_kind(seeds: Sequence[int]) -> str:
    dev = [s in DEV_SEEDS for s in seeds]
    return "development" if all(dev) else "reporting" if not any(dev) else "mixed"


def run_matrix_suite(
    out_dir: str | Path,
    *,
    seeds: Sequence[int] | str | None = None,
    n_reviews: int | None = None,
    cells: Iterable | str | None = None,
    quick: bool = False,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the matrix, write ``matrix.json`` and ``matrix.md`` into ``out_dir``, return the JSON content."""
    from benchmarks import report
    from benchmarks.runner import environment, json_ready
    from detector.atomic import write_json, write_text

    seed_list = resolve_seeds(seeds if seeds is not None else (("report:1") if quick else None))
    chosen = parse_cells(cells) if cells is not None else (QUICK_CELLS if quick else CELLS)
    n = int(n_reviews or (QUICK_REVIEWS if quick else DEFAULT_REVIEWS))
    warnings = [
        f"seed {s} is a development seed (0-9); reported figures should use reporting seeds (1001+)"
        for s in seed_list
        if s in DEV_SEEDS
    ]
    env = environment(command)  # at the start: the commit and load the run began with
    note = environment_note()
    log(
        f"matrix: {len(chosen)} cells x {len(seed_list)} seeds at {n:,} reviews; real text: {note['real_text_source']}"
    )
    t0 = time.perf_counter()
    rows = run_matrix(seed_list, n, chosen, log=log)
    summary = summarise(rows)
    result = {
        "suite": "matrix",
        "quick": quick,
        **env,
        "seeds": list(seed_list),
        "seed_kind": _seed_kind(seed_list),
        "n_reviews": n,
        "model_seed": 0,
        "method": "review_detector",
        "cells": [c.name for c in chosen],
        "targets": TARGETS,
        "signal_feature": SIGNAL_FEATURE,
        "notes": note,
        "warnings": warnings,
        "summary": summary.to_dicts(),
        "rows": rows.to_dicts(),
        "parameters": cell_parameters(seed_list, n, chosen),
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = json_ready(result)
    md = report.render_matrix(
        result
    )  # before writing anything: a failed render leaves no half output
    write_json(result, out / "matrix.json")
    write_text(md, out / "matrix.md")
    log(f"wrote {out / 'matrix.json'} and {out / 'matrix.md'}")
    return result
