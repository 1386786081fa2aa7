"""Why a cited review is in its case, when the scan gave it no reason of its own.

A review attached to a case (:func:`detector.cases.attach_unflagged`) is
not flagged, so the scan's ``reasons`` say nothing about it; a flagged
review may also have no reason whose claim the data supports. Such a review
is cited only with a statement that holds *of that review*, from the links
that put it in the case, each with its numbers (``facts``), checkable
against the input and the case's review ids:

``text``
    its text is ``similarity`` alike (``difflib.SequenceMatcher.ratio``) to
    review ``ref`` of the case's text cluster, one template of ``n`` reviews
    (at least :data:`TEXT_MIN_SIMILARITY`);
``burst``
    it is one of the ``n`` reviews of its product and polarity at the shop
    between ``start`` and ``end``, a burst whose usual rate is ``per_day``
    (the burst the packet shows, see :func:`case_facts.bursts`);
``near``
    ``n`` other reviews of the case at the shop, of its polarity (and of its
    product when ``scope`` is ``product``: a ``burst`` link whose burst the
    packet does not show), came within ``window`` seconds of it;
``ip`` / ``net`` / ``device`` / ``user``
    ``n`` other reviews of the case share its IP address, network, device or
    account;
``delay_burst``
    it is one of the ``k`` reviews of ``product`` written at most ``minutes``
    after receipt between ``start`` and ``end`` (of the ``n`` with a receipt
    time), where ``share`` (``ref_k`` of ``ref_n``) of the shop's other
    reviews or of the market's (``ref``) are (:func:`case_facts.delay_groups`);
    shown for every cited review of such a group, beside its own reasons.

A cited review none of whose links gives such a statement is not cited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

from detector.evidence.i18n import POLARITY
from detector.wording import duration, fmt_time, human, iso, parse_iso, pct
from features.params import BURST_WINDOW_S
from features.prompt import PROMPT_MINUTES

__all__ = ["ORDER", "TEMPLATES", "TEXT_MIN_SIMILARITY", "delay_reasons", "link_reasons"]

#: A text link is a reason only when the texts are at least this alike.
TEXT_MIN_SIMILARITY = 0.5
#: Links worded, in the order they are shown (``ring`` has no per-review statement).
ORDER = ("text", "burst", "window", "ip", "net", "device", "user")
_SHARED = {"ip": "_ip", "net": "_net", "device": "device_id", "user": "user_id"}

TEMPLATES = {
    "text": {
        "en": "Its text is {similarity} alike to review {ref} of case {case}, one template "
        "used by {n} reviews",
        "zh": "文字与案件{case}中评价{ref}的相似度为{similarity}，同一模板共{n}条评价",
    },
    "burst": {
        "en": "One of {n} {stars} reviews of this product between {start} and {end} "
        "(case {case}), against {per_day} a day usually",
        "zh": "本商品在{start}至{end}间共有{n}条{stars}评价（案件{case}），平时每天约{per_day}条",
    },
    "near_product": {
        "en": "{n} other {stars} review(s) of case {case} on this product within {window} of it",
        "zh": "案件{case}另有{n}条{stars}评价在其前后{window}内发布于同一商品",
    },
    "near_shop": {
        "en": "{n} other {stars} review(s) of case {case} at this shop within {window} of it",
        "zh": "案件{case}另有{n}条{stars}评价在其前后{window}内发布于本店",
    },
    "ip": {
        "en": "Same IP address as {n} other review(s) of case {case}",
        "zh": "与案件{case}中另外{n}条评价使用同一IP地址",
    },
    "net": {
        "en": "Same network as {n} other review(s) of case {case}",
        "zh": "与案件{case}中另外{n}条评价来自同一网段",
    },
    "device": {
        "en": "Same device as {n} other review(s) of case {case}",
        "zh": "与案件{case}中另外{n}条评价使用同一设备",
    },
    "user": {
        "en": "The same account wrote {n} other review(s) of case {case}",
        "zh": "同一账号在案件{case}中另有{n}条评价",
    },
    "delay_burst": {
        "en": "One of {k} reviews of product {product} written within {minutes} minutes of "
        "receipt between {start} and {end} (of {n} reviews of it in that window with a "
        "receipt time); usually {share} of {ref} are written that fast",
        "zh": "商品{product}在{start}至{end}间有{k}条评价在确认收货后{minutes}分钟内写成，"
        "本评价是其中之一（该期间共{n}条有收货时间的评价）；{ref}通常只有{share}这么快",
    },
}
#: Whose share a ``delay_burst`` reason is stated against.
_DELAY_REF = {
    "shop": {"en": "this shop's other reviews", "zh": "本店其他评价"},
    "market": {"en": "the market's reviews", "zh": "全平台评价"},
}


def _reason(link: str, template: str, facts: dict, shown: dict, lang: str) -> dict:
    return {
        "feature": None,
        "link": link,
        "text": TEMPLATES[template][lang].format(**(facts | shown)),
        "facts": facts,
    }


def delay_reasons(
    groups: pl.DataFrame, ids: list[str], case_id: str, lang: str, zone: ZoneInfo
) -> dict[str, dict]:
    """Per review id of ``ids`` in a ``delay_burst`` group (``groups``: its numbers), its reason."""
    rows = groups.filter(pl.col("review_id").is_in(pl.Series(ids, dtype=pl.String).implode()))
    out = {}
    for g in rows.iter_rows(named=True):
        start, end = (datetime.fromtimestamp(g[k], UTC) for k in ("t0", "t1"))
        share = g["ref_k"] / g["ref_n"]
        facts = {"case": case_id, "product": g["product_id"], "k": g["k"], "n": g["n"]}
        facts |= {"start": iso(start, zone), "end": iso(end, zone), "minutes": PROMPT_MINUTES}
        facts |= {"ref": g["ref"], "ref_k": g["ref_k"], "ref_n": g["ref_n"], "share": share}
        shown = {
            "start": fmt_time(start, zone),
            "end": fmt_time(end, zone),
            "minutes": human(PROMPT_MINUTES),
            "share": pct(share),
            "ref": _DELAY_REF[g["ref"]][lang],
        }
        out[g["review_id"]] = _reason("delay_burst", "delay_burst", facts, shown, lang)
    return out


def _text(rid: str, case: dict, lang: str) -> dict | None:
    """The ``text`` reason of ``rid`` from the case's text clusters."""
    for cl in case["evidence"]["text_clusters"]:
        ref = cl["reference"]
        if ref["review_id"] == rid and cl["matches"]:
            best = max(cl["matches"], key=lambda m: (m["similarity"], m["review_id"]))
            other, sim = best["review_id"], best["similarity"]
        else:
            mine = [m for m in cl["matches"] if m["review_id"] == rid]
            if not mine:
                continue
            other, sim = ref["review_id"], mine[0]["similarity"]
        if sim < TEXT_MIN_SIMILARITY:
            return None
        facts = {"case": case["case_id"], "ref": other, "similarity": sim, "n": cl["n_reviews"]}
        return _reason("text", "text", facts, {"similarity": pct(sim)}, lang)
    return None


def _burst(r: dict, case: dict, lang: str, zone: ZoneInfo) -> dict | None:
    """The ``burst`` reason: the packet's burst of its product and polarity that holds it."""
    t = parse_iso(r["created_at"])
    for b in case["evidence"]["bursts"]:
        inside = parse_iso(b["start"]) <= t <= parse_iso(b["end"])
        if b["product_id"] == r["product_id"] and b["polarity"] == r["_pol"] and inside:
            facts = {
                "case": case["case_id"],
                "n": b["n_window"],
                "start": b["start"],
                "end": b["end"],
                "per_day": b["baseline_per_day"],
            }
            shown = {
                "start": fmt_time(parse_iso(b["start"]), zone),
                "end": fmt_time(parse_iso(b["end"]), zone),
                "per_day": human(b["baseline_per_day"]),
                "stars": POLARITY[r["_pol"]][lang],
            }
            return _reason("burst", "burst", facts, shown, lang)
    return None


def _counts(targets: pl.DataFrame, members: pl.DataFrame, link: str) -> dict[str, int]:
    """Per target review, the other case reviews that the ``link`` statement counts."""
    m = members.select(
        pl.col("review_id").alias("_other"), "shop_id", "product_id", "_pol", "_t",
        *(c for c in ("_ip", "_net", "device_id", "user_id") if c in members.columns),
    )  # fmt: skip
    if link in _SHARED:
        col = _SHARED[link]
        if col not in members.columns:
            return {}
        pairs = (
            targets.select("review_id", col).drop_nulls(col).join(m.select("_other", col), on=col)
        )
    else:  # near: the same shop and polarity (and product for a burst link), within the window
        on = ["shop_id", "_pol"] + (["product_id"] if link == "burst" else [])
        pairs = (
            targets.select("review_id", "_t", *on)
            .join(m.select("_other", *on, pl.col("_t").alias("_t_o")), on=on)
            .filter((pl.col("_t") - pl.col("_t_o")).abs() <= BURST_WINDOW_S)
        )
    counted = pairs.filter(pl.col("review_id") != pl.col("_other")).group_by("review_id").len()
    return dict(counted.iter_rows())


def _count_reason(link: str, n: int, pol: int, case_id: str, lang: str) -> dict:
    facts = {"case": case_id, "n": n}
    if link in _SHARED:
        return _reason(link, link, facts, {}, lang)
    facts["window"] = BURST_WINDOW_S
    facts["scope"] = "product" if link == "burst" else "shop"
    shown = {"stars": POLARITY[pol][lang], "window": duration(BURST_WINDOW_S, lang)}
    return _reason("near", f"near_{facts['scope']}", facts, shown, lang)


def link_reasons(
    case: dict, at_shop: pl.DataFrame, members: pl.DataFrame, needy: list[str], lang: str,
    zone: ZoneInfo,
) -> dict[str, list[dict]]:  # fmt: skip
    """Per review id of ``needy`` (cited, without reasons), the reasons its links in ``case`` give.

    ``case`` is the packet's case entry (its evidence built), ``at_shop`` and
    ``members`` the case's reviews at the shop and everywhere, with row keys.
    """
    if not needy:
        return {}
    targets = at_shop.filter(pl.col("review_id").is_in(pl.Series(needy, dtype=pl.String).implode()))
    types: dict[str, set[str]] = {rid: set() for rid in needy}
    for e in case["evidence"]["edges"]:
        for end in (e["a"], e["b"]):
            if end in types:
                types[end].add(e["type"])
    counts = {k: _counts(targets, members, k) for k in ("burst", "window", *_SHARED)}
    rows = {r["review_id"]: r for r in targets.iter_rows(named=True)}
    out: dict[str, list[dict]] = {}
    for rid in needy:
        row = {**rows[rid], "created_at": iso(rows[rid]["created_at"], zone)}
        out[rid] = _for_review(row, types[rid], case, counts, lang, zone)
    return out


def _for_review(
    r: dict, types: set[str], case: dict, counts: dict, lang: str, zone: ZoneInfo
) -> list[dict]:
    """The statements ``r``'s links give (one per link type, in :data:`ORDER`)."""
    out = []
    rid, cid = r["review_id"], case["case_id"]
    for link in ORDER:
        if link not in types:
            continue
        if link == "text":
            reason = _text(rid, case, lang)
        elif link == "burst":
            reason = _burst(r, case, lang, zone)
        else:
            reason = None
        if reason is None and link != "text":
            n = counts[link].get(rid, 0)
            reason = _count_reason(link, n, r["_pol"], cid, lang) if n else None
        if reason is not None and all(x["text"] != reason["text"] for x in out):
            out.append(reason)
    if any(x["link"] == "burst" for x in out):  # the burst says more than the near count
        out = [x for x in out if x["link"] != "near"]
    return out
