"""The packet model: which cases a shop files, their evidence, impact and integrity.

:func:`build_packet` turns a verified scan (:class:`ScanBundle`) into a
:class:`Packet` whose ``data`` is exactly ``packet.json`` (already redacted
when asked) and whose ``views`` hold the chart geometry the HTML draws. The
renderers (HTML, cards, overview) only read a :class:`Packet`, so everything
merchant-facing comes from the same, redacted numbers.

The parts, each in its module: which cases are filed and why
(:mod:`~detector.evidence.selection`), the facts of each case and cited review
(:mod:`~detector.evidence.case_facts`), the reasons each cited review is shown
with (:mod:`~detector.evidence.link_reasons`), the case's sentences
(:mod:`~detector.evidence.narrative`), the impact on the shop
(:mod:`~detector.evidence.impact`), the chart geometry
(:mod:`~detector.evidence.views`) and the integrity record
(:mod:`~detector.evidence.integrity`).

``packet.json`` (``schema`` = :data:`SCHEMA`, ``schema_version`` = 1)::

    schema, schema_version, generated_at, timezone (IANA; every time below is
        ISO-8601 with its offset in this zone), shop_id, lang,
    selection ("attacks" | "all"), redacted (bool), summary (one sentence,
        at most platform.summary_max_chars),
    platform {key, max_images, max_image_bytes, summary_max_chars,
        appeal_window_days, one_appeal_per_review, editable},
    impact {n_reviews, n_cited, rating_before, rating_after,
        positive_rate_before, positive_rate_after,
        dsr {dsr_description?|dsr_service?|dsr_logistics?:
             {before, after, n_before, n_after}}},  # a dimension only when the input has it
    n_flagged_at_shop, n_flagged_unlinked,
    cases [{case_id, kind, kind_label, shop_ids, product_ids, start, end,
        n_reviews, n_users, n_cited, n_negative_at_shop, n_positive_at_shop,
        review_ids (cited, at this shop), related_review_ids (other shops),
        explanation, appeal_text, card (file or null),
        evidence {links [{type, label, n}], edges [{a, b, type, key}],
            shared_identities [{type: ip|net|device, value, n_accounts,
                accounts, review_ids, shop_ids, first, last}],
            text_clusters [{cluster, shop_id, n_reviews, n_accounts,
                reference {review_id, text},
                matches [{review_id, text, similarity, spans, reference_spans}],
                n_matches_omitted}],            # spans: [start, end) offsets
            bursts [{product_id, polarity, start, end, duration_s, n_case,
                n_window, baseline_per_day, expected, p_value}],
            ring {ring_ids, n_accounts, accounts, n_products,
                  links [{a, b, products}]} | null,
            reviewers [{user_id, n_reviews, n_negative, negative_shops, first,
                last, median_minutes_after_delivery}]},
        reviews [{review_id, order_id, created_at, rating, product_id, user_id, ip,
            device_id, text, score, reasons [{feature, text, facts}] (its own: the
            scan's claims; else its links' {feature: null, link, text, facts}, see
            detector.evidence.link_reasons; never empty), appeal_by, appeal_past}],
        related_reviews [{review_id, shop_id, created_at, rating, product_id,
            user_id, text}]}],
    files {html, json, cards [{file, case_id, bytes, scale}], overview,
        appeals_csv, description},
    warnings [str],
    integrity {engine {name, version, scan_version}, inputs [{path, sha256}],
        scan_outputs [{name, sha256}], scan {parameters, threshold, load,
        cases (edge rules)}, packet_parameters {shop, lang, platform, redact,
        all}, rows {rule, columns, sha256 {review_id: hex}}, reproduce [cmd]}

With ``redacted``, user and device ids are pseudonyms (``user-3f2a1c``) and
IPs are masked (``203.0.113.x``) everywhere above; row hashes are always of
the original rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from detector.clock import generation_time
from detector.errors import InputError
from detector.evidence import case_facts as facts
from detector.evidence import i18n, narrative, views
from detector.evidence.i18n import KIND, LANGS
from detector.evidence.impact import compute_impact
from detector.evidence.integrity import integrity, row_sha256
from detector.evidence.link_reasons import delay_reasons, link_reasons
from detector.evidence.platforms import PLATFORMS, Platform
from detector.evidence.safety import Redactor
from detector.evidence.scanload import ScanBundle
from detector.evidence.selection import NoCasesError, no_cases, select_cases, shop_reviews
from detector.input.schema import CONTRACT
from detector.wording import iso, reason_texts, scan_zone

__all__ = ["SCHEMA", "SCHEMA_VERSION", "NoCasesError", "Packet", "PacketOptions", "build_packet"]

SCHEMA = "review-detector/evidence-packet"
SCHEMA_VERSION = 1


@dataclass
class PacketOptions:
    shop: str
    lang: str = "zh"
    platform: str = "generic"
    redact: bool = False
    include_all: bool = False

    def validate(self) -> None:
        if self.lang not in LANGS:
            raise InputError(f"unknown language {self.lang!r}; choose from {list(LANGS)}")
        if self.platform not in PLATFORMS:
            raise InputError(f"unknown platform {self.platform!r}; choose from {list(PLATFORMS)}")

    def parameters(self) -> dict:
        """The options as ``integrity.packet_parameters`` records them."""
        record = dataclasses.asdict(self)
        record["all"] = record.pop("include_all")
        return record


@dataclass
class Packet:
    """``data`` is ``packet.json``; ``views`` the chart geometry per case id."""

    data: dict
    views: dict[str, dict]
    timeline: pl.DataFrame  # the shop's reviews: created_at, rating, cited
    options: PacketOptions
    profile: Platform
    warnings: list[str] = field(default_factory=list)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # times are shown in it


@dataclass
class _Scope:
    """What every case of one packet is built against."""

    bundle: ScanBundle
    options: PacketOptions
    profile: Platform
    shop_k: pl.DataFrame  # the shop's reviews with row keys
    members: pl.DataFrame  # every selected case's reviews, with scores and row keys
    claims: dict[str, list[dict]]  # review id -> its own reasons, in words
    red: Redactor
    zone: ZoneInfo
    now: datetime
    scan_span: tuple[int, int]  # first and last review of the scan (epoch s)
    columns: list[str]  # the contract columns the row hashes cover
    delay: pl.DataFrame  # members of the scan's delay_burst groups, with their numbers


@dataclass
class _Built:
    """One case of the packet and what it adds to the packet's totals."""

    case: dict
    view: dict
    row_hashes: dict[str, str]
    past: list[str]


def _scope(bundle: ScanBundle, options: PacketOptions, selected, shop_all, scores) -> _Scope:
    salt = hashlib.sha256("".join(i["sha256"] for i in bundle.inputs).encode()).hexdigest()
    red = Redactor(options.redact, salt=salt)
    zone = scan_zone(bundle.summary)
    reviews = bundle.reviews
    member_ids = selected.select(pl.col("review_ids").explode()).to_series()
    claims = reason_texts(
        reviews,
        bundle.features,
        scores.filter(pl.col("review_id").is_in(member_ids.implode())),
        options.lang,
        zone,
        redact=lambda k, v: red.edge_key(k, v) if k in ("ip", "net", "device", "user") else v,
    )
    members = reviews.filter(pl.col("review_id").is_in(member_ids.unique().implode()))
    lo, hi = reviews.select(
        pl.col("created_at").min().dt.epoch("s").alias("lo"),
        pl.col("created_at").max().dt.epoch("s").alias("hi"),
    ).row(0)
    return _Scope(
        bundle,
        options,
        PLATFORMS[options.platform],
        facts.with_keys(shop_all),
        facts.with_keys(members.join(scores, on="review_id", how="left")),
        claims,
        red,
        zone,
        generation_time(),
        (int(lo), int(hi)),
        [c for c in CONTRACT if c in reviews.columns],
        facts.delay_groups(reviews),
    )


def _evidence(c: dict, members: pl.DataFrame, at_shop: pl.DataFrame, sc: _Scope) -> dict:
    """The case's ``evidence`` object (see the module docstring)."""
    edges = c["edges"] or []
    lo, hi = sc.scan_span
    users = facts.accounts_by_activity(members)
    show_reviewers = c["kind"] in ("pro_negative", "ring") or c["n_users"] <= 3
    return {
        "links": facts.links(edges, sc.options.lang),
        "edges": [
            {
                "a": e["a"],
                "b": e["b"],
                "type": e["type"],
                "key": sc.red.edge_key(e["type"], e["key"]),
            }
            for e in edges
        ],
        "shared_identities": facts.identities(members, sc.red, sc.zone),
        "text_clusters": facts.text_clusters(members, edges, sc.options.shop),
        "bursts": facts.bursts(at_shop, edges, sc.shop_k, hi - lo, sc.zone),
        "ring": facts.ring(members, edges, sc.red),
        "reviewers": facts.reviewers(
            users[: facts.MAX_REVIEWERS], sc.bundle.reviews, sc.red, sc.zone
        )
        if show_reviewers
        else [],
    }


def _reasons(
    case_id: str, evidence: dict, at_shop: pl.DataFrame, members: pl.DataFrame, sc: _Scope
) -> dict:
    """Per review at the shop: its own reasons, else those its links in the case give.

    A review of a ``delay_burst`` group also states the group's numbers: its
    own delay alone does not say why it is suspicious.
    """
    ids = at_shop["review_id"].to_list()
    needy = [rid for rid in ids if not sc.claims.get(rid)]
    case = {"case_id": case_id, "evidence": evidence}
    linked = link_reasons(case, at_shop, members, needy, sc.options.lang, sc.zone)
    delay = delay_reasons(sc.delay, ids, case_id, sc.options.lang, sc.zone)
    return {
        rid: (sc.claims.get(rid) or linked.get(rid, [])) + ([delay[rid]] if rid in delay else [])
        for rid in ids
    }


def _cited_rows(cited: pl.DataFrame, reasons: dict, sc: _Scope, built: _Built) -> list[dict]:
    rows = []
    for r in cited.iter_rows(named=True):
        built.row_hashes[r["review_id"]] = row_sha256(r, sc.columns)
        deadline = facts.appeal_deadline(r["created_at"], sc.profile.appeal_window_days)
        row = facts.cited_row(r, sc.red, sc.zone, deadline, sc.now)
        row["reasons"] = reasons[r["review_id"]]
        if row["appeal_past"]:
            built.past.append(r["review_id"])
        rows.append(row)
    return rows


def _related_rows(elsewhere: pl.DataFrame, sc: _Scope, built: _Built) -> list[dict]:
    rows = []
    for r in elsewhere.head(facts.MAX_RELATED).iter_rows(named=True):
        built.row_hashes[r["review_id"]] = row_sha256(r, sc.columns)
        rows.append(facts.related_row(r, sc.red, sc.zone))
    return rows


def _counts_at_shop(cited: pl.DataFrame) -> dict:
    return {
        "n_cited": cited.height,
        "n_negative_at_shop": int((cited["rating"] <= 2).sum()),
        "n_positive_at_shop": int((cited["rating"] >= 4).sum()),
    }


def _build_case(c: dict, sc: _Scope) -> _Built | None:
    """One selected case: its ``packet.json`` entry and chart geometry.

    Its reviews at the shop are cited when they have a reason in words
    (their own, or their links', see :mod:`~detector.evidence.link_reasons`);
    ``None`` when none has.
    """
    lang, shop = sc.options.lang, sc.options.shop
    members = sc.members.filter(pl.col("review_id").is_in(pl.Series(c["review_ids"]).implode()))
    members = members.sort("_t", "review_id")
    at_shop = members.filter(pl.col("shop_id") == shop)
    elsewhere = members.filter(pl.col("shop_id") != shop)
    built = _Built({}, {}, {}, [])
    evidence = _evidence(c, members, at_shop, sc)
    reasons = _reasons(c["case_id"], evidence, at_shop, members, sc)
    cited = at_shop.filter(pl.col("review_id").is_in([r for r, x in reasons.items() if x]))
    if cited.height == 0:
        return None
    case = {
        "case_id": c["case_id"],
        "kind": c["kind"],
        "kind_label": KIND[c["kind"]][lang],
        "shop_ids": c["shop_ids"],
        "product_ids": c["product_ids"],
        "start": iso(c["start"], sc.zone),
        "end": iso(c["end"], sc.zone),
        "n_reviews": int(c["n_reviews"]),
        "n_users": int(c["n_users"]),
        **_counts_at_shop(cited),
        "review_ids": sorted(cited["review_id"].to_list()),
        "related_review_ids": sorted(elsewhere["review_id"].to_list()),
        "evidence": evidence,
        "reviews": _cited_rows(cited, reasons, sc, built),
        "related_reviews": _related_rows(elsewhere, sc, built),
    }
    case["explanation"] = narrative.explanation(case, lang)
    case["appeal_text"] = narrative.appeal_text(case, lang, sc.profile.summary_max_chars)
    built.case = case
    built.view = _views(c, case, cited, members, sc)
    return built


def _views(c: dict, case: dict, cited: pl.DataFrame, members: pl.DataFrame, sc: _Scope) -> dict:
    ring = case["evidence"]["ring"]
    lang, shop = sc.options.lang, sc.options.shop
    users = facts.accounts_by_activity(members)
    return {
        "timeline": views.timeline_view(
            cited, sc.shop_k, case["evidence"]["bursts"], sc.scan_span, lang, sc.zone
        ),
        "ring": views.ring_view(ring) if ring and ring["accounts"] else None,
        "strip": views.strip_view(users, sc.bundle.reviews, shop, sc.red, sc.zone)
        if c["kind"] == "pro_negative"
        else None,
    }


def _flagged_at_shop(
    shop_all: pl.DataFrame, scores: pl.DataFrame, cited: set[str]
) -> tuple[int, int]:
    """The shop's flagged reviews: all of them, and those no cited case holds."""
    flagged = shop_all.join(scores.filter(pl.col("flagged")), on="review_id", how="semi")
    ids = pl.Series(sorted(cited), dtype=pl.String).implode()
    return flagged.height, flagged.filter(~pl.col("review_id").is_in(ids)).height


def _packet_data(sc: _Scope, built: list[_Built], shop_all, scores) -> dict:
    """``packet.json`` (its ``files`` filled in by the writer)."""
    lang, shop, profile = sc.options.lang, sc.options.shop, sc.profile
    cases = [b.case for b in built]
    cited = {rid for c in cases for rid in c["review_ids"]}
    impact = compute_impact(shop_all, cited)
    kinds = sorted({c["kind"] for c in cases}, key=lambda k: list(KIND).index(k))
    attacks = not sc.options.include_all
    summary = i18n.fit(
        i18n.summary_candidates(lang, len(cited), len(cases), kinds, shop, impact, attacks),
        profile.summary_max_chars,
    )
    n_flagged, unlinked = _flagged_at_shop(shop_all, scores, cited)
    past = [rid for b in built for rid in b.past]
    warnings: list[str] = []
    if past and profile.appeal_window_days:
        warnings.append(
            i18n.t(
                "appeal_past",
                lang,
                n=len(past),
                days=profile.appeal_window_days,
                platform=profile.key,
            )
        )
    hashes = {k: v for b in built for k, v in b.row_hashes.items()}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(sc.now, sc.zone),
        "timezone": str(sc.zone.key),
        "shop_id": shop,
        "lang": lang,
        "platform": profile.to_json(),
        "selection": "all" if sc.options.include_all else "attacks",
        "redacted": sc.options.redact,
        "summary": summary,
        "impact": impact,
        "n_flagged_at_shop": n_flagged,
        "n_flagged_unlinked": unlinked,
        "cases": cases,
        "files": {},
        "warnings": warnings,
        "integrity": integrity(sc.bundle, sc.options.parameters(), sc.columns, hashes),
    }


def build_packet(bundle: ScanBundle, options: PacketOptions) -> Packet:
    """The packet for ``options.shop``; :class:`NoCasesError` when there is nothing to file."""
    options.validate()
    shop_all = shop_reviews(bundle.reviews, options.shop)
    scores = bundle.scores.select("review_id", "score", "flagged", "reasons", "case_id")
    chosen = select_cases(bundle, options.shop, options.include_all)
    selected = chosen.filter(pl.col("_selected"))
    if selected.height == 0:
        n_flagged = shop_all.join(scores.filter(pl.col("flagged")), on="review_id", how="semi")
        raise no_cases(options.shop, n_flagged.height, shop_all.height, chosen.height)
    sc = _scope(bundle, options, selected, shop_all, scores)
    built = [b for c in selected.iter_rows(named=True) if (b := _build_case(c, sc)) is not None]
    if not built:  # every review at the shop lacks a reason that holds of it
        n_flagged = shop_all.join(scores.filter(pl.col("flagged")), on="review_id", how="semi")
        raise no_cases(options.shop, n_flagged.height, shop_all.height, chosen.height)
    data = _packet_data(sc, built, shop_all, scores)
    cited = pl.Series(sorted({r for b in built for r in b.case["review_ids"]}), dtype=pl.String)
    timeline = shop_all.select(
        "created_at", "rating", pl.col("review_id").is_in(cited.implode()).alias("cited")
    ).sort("created_at")
    views_by_case = {b.case["case_id"]: b.view for b in built}
    return Packet(data, views_by_case, timeline, options, sc.profile, data["warnings"], sc.zone)
