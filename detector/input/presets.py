"""Seller-centre export presets: each platform's usual headers mapped onto the contract.

The headers are the typical ones of the platforms' review and order exports as
merchant-help material describes them (``/work/shared/notes/exports.md``);
they vary by platform version and by the view a merchant exports from, so a
preset lists synonyms and matches headers tolerantly (:func:`header_key`:
full-width characters folded, white space dropped, a bracketed note such as
``（子订单）`` ignored). ``--columns`` overrides any of them.

This module holds data and pure matching only; the loader
(:mod:`detector.input.headers`, :mod:`detector.input.load`) applies it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "CHINESE_TIMEZONE",
    "ORDER_HEADERS",
    "PRESETS",
    "RATING_WORDS",
    "Preset",
    "header_key",
    "match_headers",
]

CHINESE_TIMEZONE = "Asia/Shanghai"

#: Rating words as exports write them, onto 1-5 stars. Taobao C shops show
#: 好评 / 中评 / 差评: mapped to 5 / 3 / 1, so 好评率 (4-5 stars over all) and
#: 差评 counts are what the platform shows; mean ratings of such a file are in
#: those three steps only.
RATING_WORDS: dict[str, int] = {
    "五星": 5,
    "四星": 4,
    "三星": 3,
    "二星": 2,
    "两星": 2,
    "一星": 1,
    "好评": 5,
    "中评": 3,
    "差评": 1,
    "非常好": 5,
    "好": 4,
    "一般": 3,
    "差": 2,
    "非常差": 1,
}

#: Common headers of the review exports, any platform (used by every preset after its own).
_COMMON: dict[str, tuple[str, ...]] = {
    "created_at": ("评价时间", "评论时间", "初评时间", "评价日期"),
    "text": ("评价内容", "评论内容", "初评内容", "评价"),
    "user_id": ("买家昵称", "用户昵称", "买家", "会员名", "买家会员名", "用户名", "昵称"),
    "product_id": (
        "商品ID",
        "商品编号",
        "宝贝ID",
        "商品id",
        "SKU",
        "SKU编号",
        "商品名称",
        "宝贝名称",
    ),
    "order_id": ("订单编号", "订单号", "子订单编号", "子订单号", "订单ID"),
    "shop_id": ("店铺名称", "店铺", "店铺ID"),
    "ip": ("IP地址", "IP"),
    "ip_region": ("IP属地", "IP归属地", "属地", "评价属地"),
    "delivered_at": ("确认收货时间", "签收时间", "收货时间"),
    "review_id": ("评价ID", "评价编号", "评论ID"),
}

#: Headers of the order export (all platforms), onto the columns joined into the reviews.
ORDER_HEADERS: dict[str, tuple[str, ...]] = {
    "order_id": ("订单编号", "订单号", "主订单编号", "子订单编号", "订单ID"),
    "paid_at": ("付款时间", "支付时间", "订单付款时间"),
    "shipped_at": ("发货时间", "订单发货时间"),
    "delivered_at": ("确认收货时间", "签收时间", "收货时间", "交易完成时间", "完成时间"),
}


@dataclass(frozen=True)
class Preset:
    """One platform's review export.

    Attributes
    ----------
    name : str
    headers : dict
        Contract column -> header synonyms, most specific first.
    masked_nicknames : bool
        The export's buyer nicknames are masked (``梁***k``): never accounts.
    timezone : str
        Zone of the export's naive times.
    """

    name: str
    headers: dict[str, tuple[str, ...]]
    masked_nicknames: bool = True
    timezone: str = CHINESE_TIMEZONE


def _preset(name: str, own: dict[str, tuple[str, ...]]) -> Preset:
    merged = {k: (*own.get(k, ()), *v) for k, v in _COMMON.items()}
    merged.update({k: v for k, v in own.items() if k not in merged})
    return Preset(name=name, headers=merged)


PRESETS: dict[str, Preset] = {
    "taobao": _preset("taobao", {"rating": ("评价等级", "评价结果", "评分", "星级")}),
    "tmall": _preset("tmall", {"rating": ("评分", "评价星级", "星级", "评价等级")}),
    "jd": _preset(
        "jd",
        {"rating": ("评分", "评价星级", "星级"), "product_id": ("商品编号", "SKU", "商品ID")},
    ),
    "pdd": _preset(
        "pdd",
        {
            "rating": ("综合评分", "商品评分", "评分", "描述评分"),
            "dsr_description": ("描述评分", "描述相符", "描述"),
            "dsr_logistics": ("物流评分", "物流服务", "物流"),
            "dsr_service": ("服务评分", "服务态度", "服务"),
        },
    ),
    "douyin": _preset(
        "douyin",
        {
            "rating": ("商品评分", "评分", "商品体验"),
            "dsr_logistics": ("物流评分", "物流体验"),
            "dsr_service": ("服务评分", "服务体验"),
        },
    ),
}

_BRACKETED = re.compile(r"[(\[{【].*?[)\]}】]")


def header_key(header: str) -> str:
    """A header as matched: NFKC-folded (full-width brackets and letters), no white space, lower case."""
    text = unicodedata.normalize("NFKC", header).replace("\ufeff", "")
    return re.sub(r"\s+", "", text).lower()


def _loose_key(header: str) -> str:
    return _BRACKETED.sub("", header_key(header))


def match_headers(
    headers: list[str], synonyms: dict[str, tuple[str, ...]], taken: set[str] | None = None
) -> dict[str, str]:
    """``{file header: contract column}`` for the headers the synonyms name.

    Columns are matched in ``synonyms`` order, each synonym first exactly (after
    :func:`header_key`) and then ignoring bracketed notes (``订单编号（子订单）``);
    a header is used once, and headers in ``taken`` (mapped by hand) not at all.
    """
    taken = set(taken or ())
    exact = {}
    loose = {}
    for h in headers:
        exact.setdefault(header_key(h), h)
        loose.setdefault(_loose_key(h), h)
    out: dict[str, str] = {}
    for column, names in synonyms.items():
        for name in names:
            key = header_key(name)
            hit = exact.get(key)
            if hit is None or hit in taken:
                hit = loose.get(key)
            if hit is not None and hit not in taken:
                out[hit] = column
                taken.add(hit)
                break
    return out
