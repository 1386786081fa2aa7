"""Prompt reviews in concert: a product whose reviews suddenly nearly all come minutes after receipt.

Many honest buyers review the moment the app prompts them after they confirm
receipt, so a short delay is weak evidence on its own (``review_delay_minutes``
measures it against the whole market's tail). A campaign's workers do it every
time, because they confirm receipt of an empty parcel and review at once, and
they do it together: of a product's same-polarity reviews over a span of days,
far more come minutes after receipt than the shop's and the market's share of
prompt reviews says (:func:`features.windows.trait_surprise`, the trait being
"posted within :data:`PROMPT_MINUTES` of receipt").

Honest behaviour that also does this, and why it is not surprising here: a shop
that asks every buyer to review on delivery sets its own share; a flash sale
brings prompt and slow reviewers in proportion; a prompt reviewer's habit is
spread over months and products. Only the prompt reviews themselves carry the
value, and only where they make most of the window (:data:`PROMPT_MIN_SHARE`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import by_rid, by_shop_shard, dense_codes, group_hash
from features.params import DAY
from features.registry import REGISTRY, Claim, Feature
from features.windows import trait_surprise

#: A review posted at most this many minutes after receipt (or before it) is prompt.
PROMPT_MINUTES = 30.0
#: Half-width of the window: campaigns that mimic honest pacing spread over weeks.
PROMPT_WINDOW_S = 7 * DAY
#: Fewer other prompt reviews in the window than this is never surprising.
PROMPT_MIN_OTHERS = 4
#: ... nor a smaller share of the window's other reviews.
PROMPT_MIN_SHARE = 0.5
#: Pseudo-reviews at the market's share that a shop's own share is shrunk with.
PROMPT_SHOP_PSEUDO = 50.0

PROMPT = (
    Feature(
        "prompt_burst",
        "history",
        1,
        "part of a run of reviews on the product nearly all posted minutes after receipt, far "
        "beyond the shop's and the market's usual share of such prompt reviews",
        "属于该商品一段时间内几乎全部在确认收货后几分钟内发布的评价，远超本店及全平台此类评价的通常比例",
        claim=Claim(
            4.0,
            "{k} of the {n} {stars} reviews of product {product} within {d} days of this one were "
            "posted within {minutes} minutes of receipt ({start} to {end}), against {m_k} of the "
            "shop's {m} other reviews",
            "该评价前后{d}天内，商品{product}的{n}条{stars}评价中有{k}条在确认收货后{minutes}分钟内"
            "发布（{start}至{end}），而本店其他{m}条评价中只有{m_k}条",
        ),
        alone=True,
    ),
)


def is_prompt(delay_minutes: pl.Expr) -> pl.Expr:
    """Whether a review came within :data:`PROMPT_MINUTES` of receipt (null: delay unknown)."""
    return delay_minutes <= PROMPT_MINUTES


@REGISTRY.table("prompt_share", requires=("delivered_at", "created_at"), cost=0.05)
def prompt_share(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """The market's share of prompt reviews among those whose delay is known."""
    return lf.select(is_prompt(pl.col("_delay_min")).mean().fill_null(0.0).alias("share")).collect()


@REGISTRY.table(
    "prompt_bursts",
    requires=("shop_id", "product_id", "rating", "created_at", "delivered_at"),
    depends=("prompt_share",),
    cost=0.3,
    scope="shop",
)
def prompt_bursts(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    df = lf.select(
        "_rid", "shop_id", "product_id", "_pol", "_t", is_prompt(pl.col("_delay_min")).alias("_p")
    ).collect()
    t = df["_t"].to_numpy()
    known = df["_p"].is_not_null().to_numpy()
    prompt = df["_p"].fill_null(False).to_numpy()
    market = float(tables["prompt_share"]["share"][0])
    prod_h = group_hash(df, "product_id", "_pol")
    shop_h = group_hash(df, "shop_id")

    def shard(rows: np.ndarray) -> dict[str, np.ndarray]:
        surprise = trait_surprise(
            dense_codes(prod_h[rows]), dense_codes(shop_h[rows]), prompt[rows], t[rows],
            known[rows], market, PROMPT_WINDOW_S,
            PROMPT_SHOP_PSEUDO, PROMPT_MIN_OTHERS, PROMPT_MIN_SHARE,
        )  # fmt: skip
        return {"prompt_burst": surprise}

    return by_rid(df, **by_shop_shard(df, shard))


@REGISTRY.step(
    "prompt",
    requires=("shop_id", "product_id", "rating", "created_at", "delivered_at"),
    features=PROMPT,
    tables=("prompt_bursts",),
)
def prompt(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.join(tables["prompt_bursts"].lazy(), on="_rid", how="left").with_columns(
        pl.col("prompt_burst").fill_null(0.0)
    )
