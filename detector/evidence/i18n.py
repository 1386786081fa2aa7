"""Every merchant-facing string of a packet, in English and Chinese.

Feature explanations are not repeated here: they come from
:data:`features.registry.REGISTRY` (``Feature.en`` / ``Feature.zh``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import features.pipeline  # noqa: F401  (imports every feature module, so all are registered)
from detector import wording
from features.params import (
    BURST_WINDOW_S,
    COREVIEW_WINDOW_S,
    HOUR,
    IDENTITY_WINDOW_S,
    TEXT_WINDOW_S,
)
from features.registry import REGISTRY

LANGS = wording.LANGS

KIND = {
    "smear": {"en": "Smear campaign", "zh": "集中恶意差评"},
    "boost": {"en": "Fake praise (boosting)", "zh": "虚假好评（刷单）"},
    "ring": {"en": "Reviewer ring", "zh": "刷评团伙"},
    "pro_negative": {"en": "Professional negative reviewer", "zh": "职业差评师"},
    "other": {"en": "Other suspicious reviews", "zh": "其他可疑评价"},
}

KIND_DESC = {
    "smear": {
        "en": "1-2★ reviews posted together by linked accounts.",
        "zh": "相互关联的账号集中发布的1–2星评价。",
    },
    "boost": {
        "en": "4-5★ reviews posted together by linked accounts.",
        "zh": "相互关联的账号集中发布的4–5星评价。",
    },
    "ring": {
        "en": "Accounts that review the same products in lockstep, again and again.",
        "zh": "一组账号反复同步评价相同的商品。",
    },
    "pro_negative": {
        "en": "The same account(s) left 1-2★ reviews at many different shops.",
        "zh": "同一（批）账号在多家不同店铺留下1–2星评价。",
    },
    "other": {
        "en": "Flagged reviews linked by shared evidence, without a clear campaign pattern.",
        "zh": "因共同证据相关联、但无明确团伙模式的可疑评价。",
    },
}


def _h(seconds: int) -> int:
    return int(seconds // HOUR)


EDGE = {
    "ip": {
        "en": f"same IP address, same shop, within {_h(IDENTITY_WINDOW_S)} h",
        "zh": f"{_h(IDENTITY_WINDOW_S)}小时内同一IP地址评价同一店铺",
    },
    "net": {
        "en": f"same network (/24 or /64), same shop, within {_h(IDENTITY_WINDOW_S)} h",
        "zh": f"{_h(IDENTITY_WINDOW_S)}小时内同一网段（/24或/64）评价同一店铺",
    },
    "device": {"en": "same device used by different accounts", "zh": "不同账号使用同一设备"},
    "text": {
        "en": f"near-identical text, same shop, within {_h(TEXT_WINDOW_S)} h",
        "zh": f"{_h(TEXT_WINDOW_S)}小时内在同一店铺发布几乎相同的内容",
    },
    "burst": {
        "en": f"same product and polarity in one burst (within {_h(BURST_WINDOW_S)} h), "
        "far above the product's usual rate",
        "zh": f"同一商品同倾向评价集中爆发（{_h(BURST_WINDOW_S)}小时内），远高于该商品平时水平",
    },
    "ring": {
        "en": f"ring accounts reviewing one product within {_h(COREVIEW_WINDOW_S)} h",
        "zh": f"团伙账号在{_h(COREVIEW_WINDOW_S)}小时内评价同一商品",
    },
    "user": {"en": "same reviewer account", "zh": "同一评价账号"},
    "window": {
        "en": "a second template of the campaign, used by several accounts in its burst hours "
        "at the same shop",
        "zh": "同一店铺在集中爆发时段内被多个账号使用的另一条模板内容",
    },
}

IDENTITY = {
    "ip": {"en": "IP address", "zh": "IP地址"},
    "net": {"en": "network", "zh": "网段"},
    "device": {"en": "device", "zh": "设备"},
}

POLARITY = {
    -1: {"en": "1-2★", "zh": "1–2星"},
    0: {"en": "3★", "zh": "3星"},
    1: {"en": "4-5★", "zh": "4–5星"},
}

UI: dict[str, dict[str, str]] = {
    "title": {"en": "Evidence of fake reviews", "zh": "虚假/恶意评价证据材料"},
    "shop": {"en": "Shop", "zh": "店铺"},
    "platform": {"en": "Platform", "zh": "平台"},
    "generated": {"en": "Generated", "zh": "生成时间"},
    "engine": {"en": "Engine", "zh": "检测引擎"},
    "summary": {"en": "Summary", "zh": "摘要"},
    "impact": {"en": "Impact on the shop's scores", "zh": "对店铺评分的影响"},
    "impact_note": {
        "en": "Over all {n} reviews of the shop; “without” leaves out the {c} cited reviews.",
        "zh": "基于本店全部{n}条评价计算；“剔除后”为去掉本材料引用的{c}条评价后的结果。",
    },
    "metric": {"en": "Measure", "zh": "指标"},
    "with": {"en": "With them", "zh": "当前"},
    "without": {"en": "Without them", "zh": "剔除后"},
    "rating": {"en": "Mean rating (★)", "zh": "平均评分（星）"},
    "positive_rate": {"en": "Positive rate (4-5★, 好评率)", "zh": "好评率（4–5星占比）"},
    "dsr_description": {"en": "DSR: item as described", "zh": "DSR 描述相符"},
    "dsr_service": {"en": "DSR: service", "zh": "DSR 服务态度"},
    "dsr_logistics": {"en": "DSR: logistics", "zh": "DSR 物流服务"},
    "how_to_file": {"en": "How to file", "zh": "申诉须知"},
    "overview": {"en": "Shop overview", "zh": "店铺概览"},
    "overview_alt": {
        "en": "Weekly mean rating and positive rate with and without the cited reviews; "
        "bars: cited reviews per week",
        "zh": "每周平均评分与好评率（含/不含引用评价）；柱状为每周被引用评价数",
    },
    "cases": {"en": "Cases", "zh": "案件"},
    "case": {"en": "Case", "zh": "案件"},
    "kind": {"en": "Kind", "zh": "类型"},
    "reviews": {"en": "Reviews", "zh": "评价"},
    "cited": {"en": "cited at this shop", "zh": "本店被引用"},
    "accounts": {"en": "Accounts", "zh": "账号"},
    "products": {"en": "Products", "zh": "商品"},
    "span": {"en": "Time span", "zh": "时间跨度"},
    "shops": {"en": "Shops", "zh": "店铺"},
    "why_linked": {"en": "Why these reviews belong together", "zh": "这些评价为何相互关联"},
    "links": {"en": "links", "zh": "条关联"},
    "timeline": {"en": "Timeline", "zh": "时间线"},
    "timeline_note": {
        "en": "Reviews of {products} at this shop per {bin}; red: cited reviews; "
        "shaded: the burst window; dashed: the usual rate.",
        "zh": "本店{products}每{bin}的评价数；红色为被引用评价，阴影为集中爆发时段，虚线为平时水平。",
    },
    "burst": {"en": "Burst against the baseline", "zh": "集中爆发与平时水平对比"},
    "burst_line": {
        "en": "{n} {pol} reviews of product {product} in {dur} ({start} – {end}); "
        "at its usual rate of {rate}/day about {expected} were expected "
        "(chance of that by accident: {p}).",
        "zh": "商品{product}在{dur}内（{start} – {end}）出现{n}条{pol}评价；"
        "按平时每天{rate}条的水平，预计约{expected}条（偶然出现的概率：{p}）。",
    },
    "texts": {"en": "Near-identical texts", "zh": "几乎相同的评价内容"},
    "texts_note": {
        "en": "Left: the first review using the template; right: the other reviews. "
        "Highlighted: text they share word for word.",
        "zh": "左：最早使用该模板的评价；右：其他评价。高亮部分为逐字相同的内容。",
    },
    "template": {"en": "Template (first seen)", "zh": "模板（最早出现）"},
    "similar": {"en": "Similar review", "zh": "相似评价"},
    "similarity": {"en": "similarity", "zh": "相似度"},
    "more_pairs": {"en": "and {n} more in packet.json", "zh": "另有{n}条见 packet.json"},
    "identities": {"en": "Shared identities", "zh": "共用身份信息"},
    "identity_type": {"en": "Type", "zh": "类型"},
    "value": {"en": "Value", "zh": "值"},
    "first_last": {"en": "First – last", "zh": "首次 – 最后"},
    "ring": {"en": "The ring", "zh": "团伙关系图"},
    "ring_note": {
        "en": "Each line joins two accounts that reviewed the same product within {h} h; "
        "thicker lines: more such products.",
        "zh": "连线表示两个账号在{h}小时内评价了同一商品；线越粗，此类商品越多。",
    },
    "pair": {"en": "Account pair", "zh": "账号对"},
    "co_products": {"en": "Products reviewed together", "zh": "共同评价的商品数"},
    "reviewers": {"en": "Reviewer history (whole scan)", "zh": "评价者历史（全部数据）"},
    "n_reviews": {"en": "reviews", "zh": "评价数"},
    "n_negative": {"en": "1-2★", "zh": "1–2星"},
    "neg_shops": {"en": "shops with 1-2★", "zh": "差评店铺数"},
    "delay": {"en": "median minutes after delivery", "zh": "签收后评价（中位分钟）"},
    "strip_note": {
        "en": "1-2★ reviews of these accounts over time, one row per account; red: at this shop.",
        "zh": "这些账号的1–2星评价时间分布，每行一个账号；红色为本店。",
    },
    "other_shops": {"en": "The same accounts at other shops", "zh": "同一账号在其他店铺的评价"},
    "cited_reviews": {"en": "Cited reviews", "zh": "被引用的评价"},
    "review_id": {"en": "Review", "zh": "评价编号"},
    "time": {"en": "Time", "zh": "时间"},
    "stars": {"en": "★", "zh": "星级"},
    "product": {"en": "Product", "zh": "商品"},
    "account": {"en": "Account", "zh": "账号"},
    "ip": {"en": "IP", "zh": "IP"},
    "text": {"en": "Text", "zh": "内容"},
    "reasons": {"en": "Why flagged", "zh": "判定理由"},
    "score": {"en": "Score", "zh": "可疑分"},
    "row_hash": {"en": "Row SHA-256", "zh": "行SHA-256"},
    "not_shown": {
        "en": "{n} more cited reviews are listed in packet.json.",
        "zh": "另有{n}条被引用评价列于 packet.json。",
    },
    "unlinked": {
        "en": "{n} other flagged reviews of this shop are not cited: they belong to no case "
        "that attacks the shop (a review linked to nothing, one buyer's reviews, or praise). "
        "Use --all to include every case.",
        "zh": "本店另有{n}条可疑评价未被引用：它们不属于针对本店的攻击案件（无关联的单条评价、"
        "同一买家的评价或好评）。使用 --all 可包含全部案件。",
    },
    "integrity": {"en": "Integrity and reproduction", "zh": "完整性与复现"},
    "integrity_note": {
        "en": "Anyone with the input files can re-run the commands below and obtain the same "
        "cases and the same row hashes.",
        "zh": "持有原始数据的任何人都可运行以下命令，得到相同的案件与相同的行哈希。",
    },
    "input_files": {"en": "Input files (SHA-256)", "zh": "输入文件（SHA-256）"},
    "scan_files": {"en": "Scan outputs (SHA-256)", "zh": "检测结果文件（SHA-256）"},
    "parameters": {"en": "Parameters", "zh": "参数"},
    "row_canonical": {"en": "Row hash", "zh": "行哈希算法"},
    "redacted": {
        "en": "IP addresses, device ids and account ids are masked in this packet: accounts and "
        "devices carry stable pseudonyms, and different addresses of one /24 look alike "
        "(203.0.113.x).",
        "zh": "本材料已隐去IP地址、设备号和账号ID：账号与设备以固定化名显示；同一/24网段内的不同地址"
        "显示相同（如203.0.113.x）。",
    },
    "warnings": {"en": "Notes", "zh": "说明"},
    "hours": {"en": "h", "zh": "小时"},
    "bin_hour": {"en": "hour", "zh": "小时"},
    "bin_hours": {"en": "{n} hours", "zh": "{n}小时"},
    "bin_day": {"en": "day", "zh": "天"},
    "bin_days": {"en": "{n} days", "zh": "{n}天"},
    "case_card": {"en": "Evidence card", "zh": "证据卡片"},
    "card_of": {"en": "card {i} of {n}", "zh": "第{i}/{n}张"},
    "text_in_html": {
        "en": "Texts: see packet.html (no CJK font here).",
        "zh": "Texts: see packet.html (no CJK font here).",
    },
    "appeal_deadline": {"en": "Appeal by", "zh": "申诉截止"},
    "appeal_past_short": {"en": "window closed", "zh": "已过申诉期"},
    "appeal_past": {
        "en": "{n} cited review(s) are older than {platform}'s {days}-day appeal window: "
        "their deadline has passed (marked in packet.html and appeals.csv)",
        "zh": "{n}条被引用评价已超过{platform}的{days}天申诉期限，无法再申诉（已在 packet.html 和 "
        "appeals.csv 中标出）",
    },
    "timezone": {"en": "Times in", "zh": "时间时区"},
    "legend_cited": {"en": "cited", "zh": "被引用"},
    "legend_other": {"en": "other reviews", "zh": "其他评价"},
    "legend_burst": {"en": "burst window", "zh": "爆发时段"},
    "legend_baseline": {"en": "usual rate", "zh": "平时水平"},
}


def t(key: str, lang: str, **kw) -> str:
    """The ``lang`` text of ``key`` with ``{placeholders}`` filled."""
    if key not in UI:
        return key.format(**kw) if kw else key
    return wording.say(UI, key, lang, **kw)


def feature_text(name: str, lang: str) -> str:
    """A feature's one-line explanation from the registry (the name if unknown)."""
    describe = getattr(REGISTRY, "describe", REGISTRY.get)  # features and terms
    try:
        f = describe(name)
    except KeyError:
        return name
    return f.zh if lang == "zh" else f.en


def fmt_time(ts: datetime | None, zone: ZoneInfo, seconds: bool = False) -> str:
    """``ts`` in the scan's zone (:func:`detector.wording.fmt_time`)."""
    return wording.fmt_time(ts, zone, seconds)


def tz_label(zone: ZoneInfo) -> str:
    return wording.zone_label(zone)


def fmt_duration(seconds: float, lang: str) -> str:
    return wording.duration(seconds, lang)


fmt_pct = wording.pct
fmt_num = wording.fixed


def fmt_rate(x: float | None) -> str:
    """A rate or an expected count as a person writes it (``0.036``, ``4.2``, ``12``)."""
    return wording.human(x)


def fmt_p(p: float, lang: str = "en") -> str:
    return wording.chance(p, lang)


def summary_candidates(
    lang: str, n_cited: int, n_cases: int, kinds: list[str], shop: str, impact: dict, attacks: bool
) -> list[str]:
    """The summary sentence from the longest to the shortest wording."""
    rb, ra = impact["rating_before"], impact["rating_after"]
    pb, pa = impact["positive_rate_before"], impact["positive_rate_after"]
    kind_names = (
        "、".join(KIND[k]["zh"] for k in kinds)
        if lang == "zh"
        else ", ".join(KIND[k]["en"].lower() for k in kinds)
    )
    if ra is None:  # every review of the shop is cited: none would remain to rate it
        return _all_cited(lang, n_cited, n_cases, kind_names, shop, attacks)
    if lang == "zh":
        what = "针对本店的恶意评价" if attacks else "可疑评价"
        return [
            f"店铺{shop}检测到{n_cases}起{what}案件（{kind_names}），共{n_cited}条；"
            f"剔除后平均评分由{rb:.2f}升至{ra:.2f}，好评率由{fmt_pct(pb)}升至{fmt_pct(pa)}。"
            if attacks
            else f"店铺{shop}检测到{n_cases}起{what}案件（{kind_names}），共{n_cited}条；"
            f"剔除后平均评分{rb:.2f}→{ra:.2f}，好评率{fmt_pct(pb)}→{fmt_pct(pa)}。",
            f"检测到{n_cases}起{what}案件共{n_cited}条（{kind_names}）；"
            f"剔除后评分{rb:.2f}→{ra:.2f}，好评率{fmt_pct(pb)}→{fmt_pct(pa)}。",
            f"{n_cases}起{what}案件共{n_cited}条；剔除后评分{rb:.2f}→{ra:.2f}。",
        ]
    what = "coordinated fake reviews against the shop" if attacks else "flagged reviews"
    return [
        f"Shop {shop}: {n_cited} {what} in {n_cases} case(s) ({kind_names}); without them the "
        f"mean rating would be {ra:.2f} instead of {rb:.2f} and the positive rate "
        f"{fmt_pct(pa)} instead of {fmt_pct(pb)}.",
        f"{n_cited} {what} in {n_cases} case(s); without them: rating {rb:.2f}→{ra:.2f}, "
        f"positive {fmt_pct(pb)}→{fmt_pct(pa)}.",
        f"{n_cited} fake reviews in {n_cases} case(s); rating {rb:.2f}→{ra:.2f} without them.",
    ]


def _all_cited(
    lang: str, n_cited: int, n_cases: int, kind_names: str, shop: str, attacks: bool
) -> list[str]:
    """:func:`summary_candidates` when every review of the shop is cited."""
    if lang == "zh":
        what = "针对本店的恶意评价" if attacks else "可疑评价"
        return [
            f"店铺{shop}的全部{n_cited}条评价均属{n_cases}起{what}案件（{kind_names}）；剔除后没有剩余评价。",
            f"全部{n_cited}条评价均属{n_cases}起{what}案件；剔除后没有剩余评价。",
        ]
    what = "coordinated fake reviews against the shop" if attacks else "flagged reviews"
    return [
        f"Shop {shop}: all {n_cited} of its reviews are {what} in {n_cases} case(s) "
        f"({kind_names}); none would remain without them.",
        f"All {n_cited} reviews are {what} in {n_cases} case(s); none would remain.",
    ]


def fit(candidates: list[str], limit: int | None) -> str:
    """The first candidate within ``limit`` characters (the last one cut, if none fits)."""
    if limit is None:
        return candidates[0]
    for c in candidates:
        if len(c) <= limit:
            return c
    return candidates[-1][: limit - 1] + "…"
