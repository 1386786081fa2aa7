"""Identity overlap: reviewers sharing an address, a network or a device.

A carrier-NAT or campus address is shared by thousands of genuine buyers, but
steadily, over months and across shops: against the address's own rate a
normal day there is not surprising. Five new accounts on one /24 reviewing
the same shop within a day are. So every count here is of *distinct other
reviewers* inside a window, scored against the group's own baseline.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import by_rid, by_shop_shard, dense_codes, group_hash
from features.params import (
    BASELINE_FLOOR_S,
    DEVICE_PRODUCT_BUCKET_S,
    DEVICE_PRODUCT_SHARE,
    IDENTITY_WINDOW_S,
    SHARE_PRIOR,
)
from features.registry import REGISTRY, Claim, Feature
from features.windows import burst_surprise, first_in_window, poisson_surprise, window_sums

F = Feature
C = Claim
IP = (
    F(
        "ip_shop_burst",
        "identity",
        1,
        "other reviewers on the same IP address reviewed this shop within a day, unusually for that address",
        "同一IP地址的其他账号在一天内集中评价本店，与该地址平时情况不符",
        claim=C(
            2.0,
            "{k} other account(s) on IP {ip} reviewed this shop within {h} h of this review",
            "同一IP {ip}的另外{k}个账号在本评价前后{h}小时内评价了本店",
        ),
        alone=True,
    ),
    F(
        "net_shop_burst",
        "identity",
        1,
        "other reviewers from the same network (/24 or /64) reviewed this shop within a day, unusually for that network",
        "同一网段（/24或/64）的其他账号在一天内集中评价本店，与该网段平时情况不符",
        claim=C(
            2.0,
            "{k} other account(s) on network {net} reviewed this shop within {h} h of this review",
            "同一网段 {net}的另外{k}个账号在本评价前后{h}小时内评价了本店",
        ),
        alone=True,
    ),
    F(
        "net_product_burst",
        "identity",
        1,
        "other reviewers from the same network reviewed this very product within a day",
        "同一网段的其他账号在一天内评价了同一商品",
        claim=C(
            2.0,
            "{k} other account(s) on network {net} reviewed product {product} within {h} h of this review",
            "同一网段 {net} 的另外{k}个账号在本评价前后{h}小时内评价了商品{product}",
        ),
        alone=True,
    ),
)
DEVICE = (
    F(
        "device_users",
        "identity",
        1,
        "the device was used by several different reviewer accounts",
        "同一设备登录过多个评价账号",
        neutral=1.0,
        claim=C(
            2.0,
            "device {device} was used by {n} accounts",
            "设备{device}被{n}个账号使用",
        ),
    ),
    F(
        "device_product_users",
        "identity",
        1,
        "other accounts on the same device reviewed this very product within days",
        "同一设备上的其他账号在数日内也评价了本商品",
        claim=C(
            2.0,
            "{k} other account(s) on this device reviewed this product within 14 days of this review",
            "同一设备上的另外{k}个账号在本评价前后14天内也评价了本商品",
        ),
        alone=True,
    ),
)


def _identity_burst(
    key: np.ndarray, context: np.ndarray, valid: np.ndarray, users: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Surprise of distinct other users per group (hashed ``key``); 0 without an identity.

    Two nulls, and the group must surprise both (the smaller surprise is
    kept): the group's own rate outside the window (:func:`burst_surprise`),
    and the crowd at its ``context`` (the shop, or the product) at that
    moment times the group's long-run share of that context's reviewers. A
    carrier-NAT or campus address holds a steady share of a shop's buyers, so
    a flash sale that brings ten times the buyers brings ten times as many
    from it, and is no burst of the address; five new accounts on one /24
    that is rarely seen at the shop are. The share is smoothed as if the
    context had ``SHARE_PRIOR`` more reviewers, so a new shop's first crowd
    does not set its own norm.
    """
    out = np.zeros(key.size)
    if not valid.any():
        return out
    g, c, u, tv = dense_codes(key[valid]), dense_codes(context[valid]), users[valid], t[valid]
    first = first_in_window(g, u, tv, IDENTITY_WINDOW_S)
    own = burst_surprise(g, tv, IDENTITY_WINDOW_S, BASELINE_FLOOR_S, first)
    crowd_first = first_in_window(c, u, tv, IDENTITY_WINDOW_S).astype(np.float64)
    near_g = window_sums(g, tv, first.astype(np.float64), IDENTITY_WINDOW_S)
    near_c = window_sums(c, tv, crowd_first, IDENTITY_WINDOW_S)
    rest_g = np.maximum(np.bincount(g, weights=first.astype(np.float64))[g] - near_g, 0.0)
    rest_c = np.maximum(np.bincount(c, weights=crowd_first)[c] - near_c, 0.0)
    share = (rest_g + 1.0) / (rest_c + SHARE_PRIOR)
    crowd = poisson_surprise(np.maximum(near_g - 1.0, 0.0), share * np.maximum(near_c - 1.0, 0.0))
    out[valid] = np.minimum(own, crowd)
    return out


@REGISTRY.table(
    "ip_bursts",
    requires=("ip", "user_id", "shop_id", "product_id", "created_at"),
    cost=1.2,
    scope="shop",
)
def ip_bursts(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    df = lf.select("_rid", "user_id", "shop_id", "product_id", "_t", "_ip", "_net").collect()
    t = df["_t"].to_numpy()
    user_h = group_hash(df, "user_id")
    keys = {
        "ip_shop_burst": (group_hash(df, "_ip", "shop_id"), df["_ip"].is_not_null().to_numpy()),
        "net_shop_burst": (group_hash(df, "_net", "shop_id"), df["_net"].is_not_null().to_numpy()),
        "net_product_burst": (
            group_hash(df, "_net", "product_id"),
            df["_net"].is_not_null().to_numpy(),
        ),
    }

    context = {
        "ip_shop_burst": group_hash(df, "shop_id"),
        "net_shop_burst": group_hash(df, "shop_id"),
        "net_product_burst": group_hash(df, "product_id"),
    }

    def shard(rows: np.ndarray) -> dict[str, np.ndarray]:
        users, tt = dense_codes(user_h[rows]), t[rows]
        return {
            name: _identity_burst(h[rows], context[name][rows], valid[rows], users, tt)
            for name, (h, valid) in keys.items()
        }

    return by_rid(df, **by_shop_shard(df, shard))


@REGISTRY.table("device_stats", requires=("device_id", "user_id"))
def device_stats(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    return (
        lf.filter(pl.col("device_id").is_not_null())
        .group_by("device_id")
        .agg(pl.col("user_id").n_unique().cast(pl.Float64).alias("device_users"))
        .collect()
    )


def _device_week(t: pl.Expr) -> pl.Expr:
    """A review's week for :func:`device_products` (``t``: epoch seconds)."""
    return (t // DEVICE_PRODUCT_BUCKET_S).cast(pl.Int64).alias("_dweek")


@REGISTRY.table(
    "device_products", requires=("device_id", "user_id", "product_id"), depends=("device_stats",)
)
def device_products(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Per (device, product, week): the device's other accounts that reviewed the
    product that week or the weeks either side (within 14 days of any review of it).

    One phone behind the thirty accounts that praise one product within days
    is a campaign; a household's two or three accounts are not, nor is one
    phone's accounts reviewing a product months apart, and a value that names
    no phone (a model name, a placeholder shared by thousands of accounts) is
    no identity: only a device most of whose accounts (``DEVICE_PRODUCT_SHARE``)
    reviewed the product counts.
    """
    dev = lf.filter(pl.col("device_id").is_not_null()).select(
        "device_id", "product_id", "user_id", _device_week(pl.col("_t"))
    )
    share = (
        dev.group_by("device_id", "product_id")
        .agg(pl.col("user_id").n_unique().cast(pl.Float64).alias("_k"))
        .join(tables["device_stats"].lazy(), on="device_id")
        .filter(pl.col("_k") >= DEVICE_PRODUCT_SHARE * pl.col("device_users"))
        .select("device_id", "product_id")
    )
    near = pl.concat(
        [dev.with_columns(pl.col("_dweek") + d) for d in (-1, 0, 1)]
    )  # every review counts in its own week and the weeks either side
    return (
        near.join(share, on=["device_id", "product_id"], how="semi")
        .group_by("device_id", "product_id", "_dweek")
        .agg((pl.col("user_id").n_unique() - 1).cast(pl.Float64).alias("device_product_users"))
        .collect()
    )


@REGISTRY.step(
    "ip_overlap",
    requires=("ip", "user_id", "shop_id", "product_id", "created_at"),
    features=IP,
    tables=("ip_bursts",),
)
def ip_overlap(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.join(tables["ip_bursts"].lazy(), on="_rid", how="left")


@REGISTRY.step(
    "device_overlap",
    requires=("device_id", "user_id", "product_id"),
    features=DEVICE,
    tables=("device_stats", "device_products"),
)
def device_overlap(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return (
        lf.with_columns(_device_week(pl.col("_t")))
        .join(tables["device_stats"].lazy(), on="device_id", how="left")
        .join(
            tables["device_products"].lazy(), on=["device_id", "product_id", "_dweek"], how="left"
        )
        .with_columns(
            pl.col("device_users").fill_null(1.0), pl.col("device_product_users").fill_null(0.0)
        )
        .drop("_dweek")
    )
