"""Seller-centre export files as merchants download them, with planted fraud and honest crowds.

:func:`build_export` makes one shop's review export and its order export for a
platform preset (``taobao``, ``tmall``, ``jd``, ``pdd``, ``douyin``), shaped as
``/work/shared/notes/exports.md`` describes real ones: Chinese headers, naive
Beijing times in the platform's format, 19-digit order ids as text, masked
nicknames that collide (``梁***k``), no review id, no shop column, no IP (an
optional IP属地 province column), DSR scores only where the platform exports
them (Pinduoduo, Douyin), Taobao's 好评 / 中评 / 差评 words.
:func:`write_export` writes them as CSV (UTF-8 with BOM), .xlsx or .xls.

Planted in it, every parameter drawn from the seed:

``smear``
    A competitor's burst of 1-2 star reviews on one or two products within
    hours: orders placed close together, receipt confirmed within a day of
    shipping and the review minutes after receipt, texts paraphrasing one or
    two templates, buyers often from one province.
``defect``
    A genuine defect batch: many honest, varied complaints about one product
    within a few days, written days after receipt (honest; not a case).
``flash``
    A flash sale: a burst of honest, varied 4-5 star reviews of one product
    whose orders were placed in a few hours (honest; not a case).
``honest``
    Background reviews and repeat buyers (the same masked nickname on several
    orders) with varied texts and platform default texts.

Ground truth (``truth``) is keyed by order id: ``order_id``, ``is_fake``
(smear only), ``kind``, ``product_id`` and ``buyer`` (who is behind the nickname).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.regions import PROVINCES, province_weights
from benchmarks.texts import CATEGORIES, default_texts, honest_texts, template_texts

__all__ = ["PLATFORMS", "Export", "build_export", "write_export"]

PLATFORMS: tuple[str, ...] = ("taobao", "tmall", "jd", "pdd", "douyin")

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁")
_LATIN = list("abcdefghijklmnopqrstuvwxyz")
_LAST = [*list("0123456789"), *list("kxyzams"), *list("子宝猫鱼")]
_PROVINCES = [
    "广东", "浙江", "江苏", "山东", "河南", "四川", "湖北", "湖南", "河北", "福建",
    "上海", "北京", "安徽", "辽宁", "陕西", "江西", "重庆", "广西", "云南", "天津",
]  # fmt: skip
_PRODUCT_WORDS = {
    "clothing": ["纯棉T恤", "牛仔裤", "连衣裙", "卫衣", "羽绒服", "衬衫", "运动裤", "针织开衫"],
    "electronics": ["蓝牙耳机", "充电宝", "数据线", "智能手表", "机械键盘", "无线鼠标", "音箱"],
    "food": ["坚果礼盒", "牛肉干", "手工饼干", "茶叶", "蜂蜜", "螺蛳粉", "辣条", "咖啡豆"],
    "beauty": ["面膜", "口红", "防晒霜", "洗面奶", "精华液", "眼霜", "粉底液", "卸妆水"],
    "home": ["四件套", "收纳盒", "保温杯", "拖把", "抱枕", "毛巾", "晾衣架", "香薰"],
    "baby": ["纸尿裤", "奶瓶", "婴儿湿巾", "儿童餐椅", "爬行垫", "安抚奶嘴", "宝宝袜"],
    "sports": ["瑜伽垫", "跳绳", "哑铃", "跑步鞋", "运动水壶", "护膝", "健身手套"],
    "books": ["绘本套装", "练字帖", "小说", "英语词典", "习题册", "漫画", "笔记本"],
}
_DEFECTS = [
    "用了两天就坏了", "收到就是坏的", "第二天就出问题了", "这批质量有问题", "有明显瑕疵",
    "包装破损里面也坏了", "和上次买的不一样，这批做工差", "开胶了", "有裂缝", "漏了",
]  # fmt: skip

#: Review-export headers per platform (contract meaning -> header as the export writes it).
_REVIEW_HEADERS: dict[str, dict[str, str]] = {
    "taobao": {
        "created_at": "评价时间", "text": "评价内容", "rating": "评价等级", "user": "买家昵称",
        "product_name": "宝贝名称", "product_id": "商品ID", "order_id": "订单编号",
        "follow_at": "追评时间", "follow": "追评内容", "images": "图片", "reply": "商家回复",
    },
    "tmall": {
        "created_at": "评价时间", "text": "评价内容", "rating": "评分", "user": "买家昵称",
        "product_name": "宝贝名称", "product_id": "商品ID", "order_id": "订单编号（子订单）",
        "follow_at": "追评时间", "follow": "追评内容", "images": "图片", "reply": "商家回复",
    },
    "jd": {
        "created_at": "评价时间", "order_id": "订单号", "product_id": "商品编号 (SKU)",
        "product_name": "商品名称", "rating": "评分", "text": "评价内容", "user": "用户昵称",
        "images": "晒单图片", "follow": "追评",
    },
    "pdd": {
        "created_at": "评价时间", "order_id": "订单编号", "product_id": "商品ID",
        "text": "评价内容", "rating": "综合评分", "dsr_description": "描述评分",
        "dsr_logistics": "物流评分", "dsr_service": "服务评分", "user": "用户昵称",
    },
    "douyin": {
        "created_at": "评价时间", "order_id": "订单编号", "product_id": "商品ID",
        "product_name": "商品名称", "text": "评价内容", "rating": "商品评分",
        "dsr_logistics": "物流评分", "dsr_service": "服务评分", "user": "用户昵称",
    },
}  # fmt: skip
_ORDER_HEADERS = {
    "order_id": "订单编号", "ordered_at": "下单时间", "paid_at": "付款时间",
    "shipped_at": "发货时间", "product_id": "商品ID", "quantity": "数量", "amount": "金额",
    "province": "收货省份", "after_sale": "售后状态",
}  # fmt: skip
_RECEIPT_HEADER = {"taobao": "确认收货时间", "tmall": "确认收货时间", "jd": "签收时间"}
#: strftime of each platform's export times (naive Beijing time).
_TIME_FORMAT = {
    "taobao": "%Y-%m-%d %H:%M:%S",
    "tmall": "%Y-%m-%d %H:%M:%S",
    "jd": "%Y-%m-%d %H:%M:%S",
    "pdd": "%Y/%m/%d %H:%M",
    "douyin": "%Y/%m/%d %H:%M:%S",
}
_STREAMS = {"params": 1, "honest": 2, "smear": 3, "defect": 4, "flash": 5, "texts": 6, "ids": 7}
_STREAMS["regions"] = 8


@dataclass
class Export:
    """One shop's export files, as frames, and what was planted in them."""

    platform: str
    reviews: pl.DataFrame  # the review export: Chinese headers, every value as text
    orders: pl.DataFrame  # the order export
    truth: pl.DataFrame  # order_id, is_fake, kind, product_id, buyer (the person behind a nickname)
    params: dict = field(default_factory=dict)  # the drawn parameters
    headers: dict[str, str] = field(default_factory=dict)  # meaning -> review-export header


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _STREAMS[name]]))


def _nicknames(rng: np.random.Generator, n: int) -> np.ndarray:
    """Masked nicknames from small pools of first and last characters: they collide."""
    first = np.where(
        rng.random(n) < 0.6,
        np.array(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)],
        np.array(_LATIN)[rng.integers(0, len(_LATIN), n)],
    )
    last = np.array(_LAST)[rng.integers(0, len(_LAST), n)]
    return np.char.add(np.char.add(first.astype(str), "***"), last.astype(str))


def _order_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique 19-digit order ids (more digits than a float holds)."""
    hi = rng.integers(10**8, 10**9, n * 2, dtype=np.int64)
    lo = rng.integers(0, 10**10, n * 2, dtype=np.int64)
    ids = np.unique(np.char.add(hi.astype(str), np.char.zfill(lo.astype(str), 10)))
    return rng.permutation(ids)[:n]


def _params(seed: int, n: int) -> dict:
    r = _rng(seed, "params")
    return {
        "category": CATEGORIES[int(r.integers(0, len(CATEGORIES)))],
        "days": int(r.integers(60, 121)),
        "products": int(r.integers(6, 16)),
        "smear_size": int(r.integers(20, 45)),
        "smear_products": int(r.integers(1, 3)),
        "smear_hours": float(r.uniform(2.0, 30.0)),
        "smear_templates": int(r.integers(1, 3)),
        "smear_paraphrase": float(r.uniform(0.1, 0.5)),
        "smear_delay_min": float(r.uniform(4.0, 60.0)),
        "smear_one_province": float(r.uniform(0.5, 0.9)),
        "smear_two_star": float(r.uniform(0.0, 0.25)),
        "defect_size": int(r.integers(max(12, n // 100), max(13, n // 40))),
        "defect_days": float(r.uniform(2.0, 5.0)),
        "flash_size": int(r.integers(max(25, n // 60), max(26, n // 25))),
        "flash_order_hours": float(r.uniform(1.0, 6.0)),
        "repeat_buyers": int(r.integers(max(5, n // 100), max(6, n // 30))),
        "default_text_share": float(r.uniform(0.03, 0.12)),
        "ip_region": bool(r.random() < 0.5),
    }


def _stars(rng: np.random.Generator, n: int, good: float) -> np.ndarray:
    """Honest star ratings: mostly 5, with a tail (``good`` = share of 4-5)."""
    p = np.array([0.04, 0.03, 0.05, 0.18, 0.70])
    p[3:] *= good / p[3:].sum()
    p[:3] *= (1 - good) / p[:3].sum()
    return rng.choice(np.arange(1, 6), n, p=p / p.sum())


def _frame(kind, rating, product, ordered, delay_ship_h, delay_recv_h, delay_review_h, buyer):
    """Rows of one group: times in hours after the period's start (Beijing naive)."""
    ordered = np.asarray(ordered, dtype=float)
    paid = ordered + np.abs(np.asarray(delay_ship_h[0], dtype=float))
    shipped = paid + np.asarray(delay_ship_h[1], dtype=float)
    received = shipped + np.asarray(delay_recv_h, dtype=float)
    reviewed = received + np.asarray(delay_review_h, dtype=float)
    n = len(ordered)
    return pl.DataFrame(
        {
            "kind": [kind] * n,
            "rating": np.asarray(rating, dtype=np.int64),
            "product": np.asarray(product, dtype=np.int64),
            "ordered": ordered,
            "paid": paid,
            "shipped": shipped,
            "received": received,
            "reviewed": reviewed,
            "buyer": np.asarray(buyer, dtype=np.int64),
        }
    )


def _honest(rng, n, p: dict, n_products: int, hours: float) -> pl.DataFrame:
    """Background reviews, and repeat buyers who come back for another order."""
    buyer = np.arange(n)
    rep = rng.choice(n, min(p["repeat_buyers"] * 2, n), replace=False)
    buyer[rep[1::2]] = buyer[rep[::2]]  # second orders of repeat buyers
    popularity = rng.dirichlet(np.ones(n_products) * 0.8)
    return _frame(
        "honest",
        _stars(rng, n, good=0.88),
        rng.choice(n_products, n, p=popularity),
        rng.uniform(0, hours - 24 * 12, n),
        (rng.exponential(0.2, n), rng.exponential(20, n) + 2),
        rng.gamma(2.0, 24.0, n) + 12,
        rng.lognormal(np.log(60.0), 1.1, n).clip(0.2, 24 * 14),
        buyer,
    )


def _smear(rng, p: dict, n_products: int, hours: float, first_buyer: int) -> pl.DataFrame:
    k = p["smear_size"]
    start = rng.uniform(hours * 0.3, hours * 0.8)
    # orders placed together a few days before; receipt confirmed as soon as they arrive
    ordered = start - rng.uniform(36, 96) + rng.uniform(0, 6, k)
    products = rng.choice(n_products, p["smear_products"], replace=False)
    frame = _frame(
        "smear",
        np.where(rng.random(k) < p["smear_two_star"], 2, 1),
        rng.choice(products, k),
        ordered,
        (rng.exponential(0.05, k), rng.uniform(2, 12, k)),
        rng.uniform(10, 30, k),
        rng.exponential(p["smear_delay_min"], k) / 60.0 + 1 / 60,
        first_buyer + np.arange(k),
    )
    # the review burst itself lies in the window, whatever the delivery said
    window = start + np.sort(rng.uniform(0, p["smear_hours"], k))
    shift = window - frame["reviewed"].to_numpy()
    return frame.with_columns(
        *[(pl.col(c) + pl.Series(shift)) for c in ("ordered", "paid", "shipped", "received")],
        pl.Series("reviewed", window),
    )


def _defect(rng, p: dict, product: int, hours: float, first_buyer: int) -> pl.DataFrame:
    k = p["defect_size"]
    start = rng.uniform(hours * 0.2, hours * 0.85)
    received = start + rng.uniform(0, p["defect_days"] * 24, k)
    frame = _frame(
        "defect",
        rng.choice([1, 1, 2, 2, 3], k),
        np.full(k, product),
        received - rng.uniform(30, 120, k),
        (rng.exponential(0.3, k), rng.uniform(4, 30, k)),
        rng.uniform(10, 50, k),
        rng.lognormal(np.log(20.0), 0.8, k).clip(1, 24 * 6),
        first_buyer + np.arange(k),
    )
    fix = pl.Series(received) - frame["received"]
    cols = ("ordered", "paid", "shipped", "received", "reviewed")
    return frame.with_columns([(pl.col(c) + fix) for c in cols])


def _flash(rng, p: dict, product: int, hours: float, first_buyer: int) -> pl.DataFrame:
    k = p["flash_size"]
    sale = rng.uniform(hours * 0.2, hours * 0.8)
    return _frame(
        "flash",
        rng.choice([4, 5, 5, 5, 5], k),
        np.full(k, product),
        sale + rng.uniform(0, p["flash_order_hours"], k),
        (rng.exponential(0.05, k), rng.uniform(6, 30, k)),
        rng.gamma(2.0, 14.0, k) + 10,
        rng.lognormal(np.log(30.0), 1.0, k).clip(0.3, 24 * 7),
        first_buyer + np.arange(k),
    )


def _texts(seed: int, rows: pl.DataFrame, p: dict) -> pl.Series:
    rng = _rng(seed, "texts")
    n = rows.height
    kind = rows["kind"].to_numpy()
    rating = rows["rating"].to_numpy()
    cat = np.full(n, CATEGORIES.index(p["category"]))
    text = honest_texts(rng, rating, cat, rng.random(n) < 0.03).to_numpy().astype(object)
    defaults = default_texts(rng, rating).to_numpy()
    use_default = (kind == "honest") & (rng.random(n) < p["default_text_share"])
    text[use_default] = defaults[use_default]
    smear = np.flatnonzero(kind == "smear")
    campaign = rng.integers(0, p["smear_templates"], smear.size)
    para = np.full(p["smear_templates"], p["smear_paraphrase"])
    text[smear] = template_texts(rng, "smear", campaign, para).to_numpy()
    defect = np.flatnonzero((kind == "defect") & (rng.random(n) < 0.6))
    mention = np.array(_DEFECTS)[rng.integers(0, len(_DEFECTS), defect.size)]
    text[defect] = [f"{m}，{t}" for m, t in zip(mention, text[defect], strict=True)]
    return pl.Series("text", text, dtype=pl.String)


def _when(hours: pl.Expr, start: datetime, fmt: str) -> pl.Expr:
    t = pl.lit(start) + pl.duration(microseconds=(hours * 3.6e9).round(0).cast(pl.Int64))
    return t.dt.strftime(fmt)


def _rating_cell(platform: str, rating: pl.Expr) -> pl.Expr:
    if platform == "taobao":  # C shops show words
        return (
            pl.when(rating >= 4)
            .then(pl.lit("好评"))
            .when(rating == 3)
            .then(pl.lit("中评"))
            .otherwise(pl.lit("差评"))
        )
    return rating.cast(pl.String)


def _dsr(rng: np.random.Generator, rating: np.ndarray) -> np.ndarray:
    """A DSR dimension an honest buyer gives: near the rating, mostly high."""
    base = np.where(rating >= 4, 5, rating + rng.integers(0, 2, len(rating)))
    return np.clip(base - (rng.random(len(rating)) < 0.15), 1, 5)


def _planted_rows(seed: int, p: dict) -> pl.DataFrame:
    """Every review with its kind, rating, product, order times (hours) and text."""
    hours = p["days"] * 24.0
    n_prod = p["products"]
    r_honest, r_smear = _rng(seed, "honest"), _rng(seed, "smear")
    r_defect, r_flash = _rng(seed, "defect"), _rng(seed, "flash")
    n_bg = max(p["n"] - p["smear_size"] - p["defect_size"] - p["flash_size"], 50)
    defect_product, flash_product = (int(x) for x in r_defect.choice(n_prod, 2, replace=False))
    groups = [_honest(r_honest, n_bg, p, n_prod, hours)]
    groups.append(_smear(r_smear, p, n_prod, hours, n_bg))
    groups.append(_defect(r_defect, p, defect_product, hours, n_bg + 10_000))
    groups.append(_flash(r_flash, p, flash_product, hours, n_bg + 20_000))
    rows = pl.concat(groups).sort("reviewed", "buyer")
    return rows.with_columns(_texts(seed, rows, p))


def _with_identities(rows: pl.DataFrame, ids: np.random.Generator, p: dict) -> pl.DataFrame:
    """Order ids, masked nicknames, provinces (a smear's often one) and product ids and names."""
    n_rows, n_prod = rows.height, p["products"]
    nick_of_buyer = _nicknames(ids, int(rows["buyer"].max()) + 1)
    rows = rows.with_columns(
        pl.Series("order_id", _order_ids(ids, n_rows)),
        pl.Series("user", nick_of_buyer[rows["buyer"].to_numpy()]),
    )
    ids.integers(0, len(_PROVINCES), n_rows)  # drawn before, kept so later ids stay the same
    # IP属地 by population share (own stream); the smear's mostly one province
    w = province_weights(p["regions"])
    province = np.array(PROVINCES)[p["regions"].choice(len(PROVINCES), n_rows, p=w)]
    home = _PROVINCES[int(ids.integers(0, len(_PROVINCES)))]
    same = (rows["kind"] == "smear").to_numpy() & (ids.random(n_rows) < p["smear_one_province"])
    province[same] = home
    item_ids = (6 * 10**11 + ids.choice(10**11, n_prod, replace=False)).astype(str)
    words = _PRODUCT_WORDS[p["category"]]
    names = [f"{words[i % len(words)]} {2025 - i // len(words)}新款" for i in range(n_prod)]
    return rows.with_columns(
        pl.Series("province", province),
        pl.Series("product_id", item_ids[rows["product"].to_numpy()]),
        pl.Series("product_name", np.array(names)[rows["product"].to_numpy()]),
    )


def _review_export(platform, rows, ids, p: dict, start: datetime) -> pl.DataFrame:
    """The review export as the platform writes it (headers, time format, rating cells)."""
    fmt = _TIME_FORMAT[platform]
    rating = rows["rating"].to_numpy()
    none = pl.lit(None, pl.String)
    cells: dict[str, pl.Expr] = {
        "created_at": _when(pl.col("reviewed"), start, fmt),
        "text": pl.col("text"),
        "rating": _rating_cell(platform, pl.col("rating")),
        "user": pl.col("user"),
        "product_name": pl.col("product_name"),
        "product_id": pl.col("product_id"),
        "order_id": pl.col("order_id"),
        **{k: none for k in ("follow_at", "follow", "images", "reply")},
    }
    for c in ("dsr_description", "dsr_logistics", "dsr_service"):
        smear = (rows["kind"] == "smear").to_numpy()
        cells[c] = pl.Series(np.where(smear, 1, _dsr(ids, rating))).cast(pl.String)
    reviews = rows.select(cells[k].alias(h) for k, h in _REVIEW_HEADERS[platform].items())
    if p["ip_region"]:
        reviews = reviews.with_columns(rows["province"].alias("IP属地"))
    return reviews


def _order_export(platform, rows, ids, start: datetime) -> pl.DataFrame:
    """The order export: order, payment, shipping and receipt times, amount, after-sale state."""
    ohead = {**_ORDER_HEADERS, "received": _RECEIPT_HEADER.get(platform, "签收时间")}
    n_rows = rows.height
    after = np.where(
        (rows["kind"] == "defect").to_numpy() & (ids.random(n_rows) < 0.4), "退款成功", ""
    )
    fmt = "%Y-%m-%d %H:%M:%S"
    amount = pl.Series(np.round(ids.uniform(19, 399, n_rows), 2)).cast(pl.String)
    return rows.select(
        pl.col("order_id").alias(ohead["order_id"]),
        _when(pl.col("ordered"), start, fmt).alias(ohead["ordered_at"]),
        _when(pl.col("paid"), start, fmt).alias(ohead["paid_at"]),
        _when(pl.col("shipped"), start, fmt).alias(ohead["shipped_at"]),
        _when(pl.col("received"), start, fmt).alias(ohead["received"]),
        pl.col("product_id").alias(ohead["product_id"]),
        pl.lit("1").alias(ohead["quantity"]),
        amount.alias(ohead["amount"]),
        pl.col("province").alias(ohead["province"]),
        pl.Series(after).alias(ohead["after_sale"]),
    ).sort(ohead["ordered_at"])


def build_export(
    platform: str, seed: int = 0, n: int = 2000, ip_region: bool | None = None
) -> Export:
    """One shop's review export and order export for ``platform``, about ``n`` reviews.

    Every planted parameter is drawn from ``seed`` (see the module docstring);
    rows are in review-time order, as exports list them (newest last).
    ``ip_region`` forces the IP属地 column on or off (None: drawn from the seed).
    """
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; choose from {PLATFORMS}")
    p = _params(seed, n)
    if ip_region is not None:
        p["ip_region"] = bool(ip_region)
    rows = _planted_rows(seed, {**p, "n": n})
    ids = _rng(seed, "ids")
    rows = _with_identities(rows, ids, {**p, "regions": _rng(seed, "regions")})
    start = datetime(2025, 3, 1) + timedelta(days=int(ids.integers(0, 200)))
    reviews = _review_export(platform, rows, ids, p, start)
    orders = _order_export(platform, rows, ids, start)
    truth = rows.select(
        "order_id", (pl.col("kind") == "smear").alias("is_fake"), "kind", "product_id", "buyer"
    )
    return Export(platform, reviews, orders, truth, p, dict(_REVIEW_HEADERS[platform]))


def write_export(
    export: Export,
    root: str | Path,
    fmt: str = "csv",
    title_row: bool = False,
    rounded_ids: bool = False,
) -> dict[str, Path]:
    """Write the review and order exports under ``root`` as ``fmt`` (``csv``: UTF-8 with a
    BOM, ``xlsx``, or the older ``xls`` some seller centres still offer); returns ``{"reviews": path, "orders": path}``.

    ``title_row`` puts a title line above the headers, as some seller centres do;
    ``rounded_ids`` stores the order ids of the .xlsx review export as numbers (the
    careless export that rounds them to ``4.01E+18``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    title = f"{export.platform} 评价管理 导出"
    out = {}
    for name, frame in (("reviews", export.reviews), ("orders", export.orders)):
        path = root / f"{export.platform}-{name}.{fmt}"
        if fmt == "csv":
            body = frame.write_csv()
            lead = f"{title}{',' * (frame.width - 1)}\n" if title_row else ""
            path.write_bytes(b"\xef\xbb\xbf" + (lead + body).encode("utf-8"))
        elif fmt == "xlsx":
            _write_xlsx(
                frame, path, title if title_row else None, rounded_ids and name == "reviews"
            )
        elif fmt == "xls":
            _write_xls(frame, path, title if title_row else None)
        else:
            raise ValueError(f"unknown format {fmt!r}; csv, xlsx or xls")
        out[name] = path
    return out


def _write_xlsx(frame: pl.DataFrame, path: Path, title: str | None, rounded: bool) -> None:
    """Every cell as text (ids keep their digits), but the order ids as numbers when ``rounded``."""
    import xlsxwriter

    id_header = next((h for h in frame.columns if h.startswith(("订单编号", "订单号"))), None)
    numeric = frame.columns.index(id_header) if rounded and id_header is not None else -1
    with xlsxwriter.Workbook(path, {"constant_memory": True}) as wb:
        ws = wb.add_worksheet("Sheet1")
        row = 0
        if title:
            ws.write_string(0, 0, title)
            row = 1
        ws.write_row(row, 0, frame.columns)
        for values in frame.iter_rows():
            row += 1
            for j, v in enumerate(values):
                if v is None or v == "":
                    continue
                if j == numeric:
                    ws.write_number(row, j, float(v))
                else:
                    ws.write_string(row, j, v)


def _write_xls(frame: pl.DataFrame, path: Path, title: str | None) -> None:
    """An Excel 97-2003 workbook (BIFF8, written by xlwt), every cell as text."""
    import xlwt

    if frame.height + 2 > 65536:  # the .xls format's row limit
        raise ValueError(f"{frame.height} rows do not fit an .xls sheet (65,536 rows at most)")
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    row = 0
    if title:
        ws.write(0, 0, title)
        row = 1
    for j, name in enumerate(frame.columns):
        ws.write(row, j, name)
    for values in frame.iter_rows():
        row += 1
        for j, v in enumerate(values):
            if v is not None and v != "":
                ws.write(row, j, v)
    wb.save(str(path))
