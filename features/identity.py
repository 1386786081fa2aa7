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

from features.frames import by_rid, group_codes
from features.params import BASELINE_FLOOR_S, IDENTITY_WINDOW_S
from features.registry import REGISTRY, Feature
from features.windows import burst_surprise, first_in_window

F = Feature
IP = (
    F(
        "ip_shop_burst",
        "identity",
        1,
        "other reviewers on the same IP address reviewed this shop within a day, unusually for that address",
        "同一IP地址的其他账号在一天内集中评价本店，与该地址平时情况不符",
    ),
    F(
        "net_shop_burst",
        "identity",
        1,
        "other reviewers from the same network (/24 or /64) reviewed this shop within a day, unusually for that network",
        "同一网段（/24或/64）的其他账号在一天内集中评价本店，与该网段平时情况不符",
    ),
    F(
        "net_product_burst",
        "identity",
        1,
        "other reviewers from the same network reviewed this very product within a day",
        "同一网段的其他账号在一天内评价了同一商品",
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
    ),
)


def _identity_burst(df: pl.DataFrame, key: str, scope: str) -> np.ndarray:
    valid = df[key].is_not_null().to_numpy()
    out = np.zeros(df.height)
    if not valid.any():
        return out
    sub = df.filter(pl.Series(valid))
    g = group_codes(sub, key, scope)
    t = sub["_t"].to_numpy()
    users = group_codes(sub, "user_id")
    first = first_in_window(g, users, t, IDENTITY_WINDOW_S)
    out[valid] = burst_surprise(g, t, IDENTITY_WINDOW_S, BASELINE_FLOOR_S, first)
    return out


@REGISTRY.table("ip_bursts", requires=("ip", "user_id", "shop_id", "product_id", "created_at"))
def ip_bursts(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    df = lf.select("_rid", "user_id", "shop_id", "product_id", "_t", "_ip", "_net").collect()
    return by_rid(
        df,
        ip_shop_burst=_identity_burst(df, "_ip", "shop_id"),
        net_shop_burst=_identity_burst(df, "_net", "shop_id"),
        net_product_burst=_identity_burst(df, "_net", "product_id"),
    )


@REGISTRY.table("device_stats", requires=("device_id", "user_id"))
def device_stats(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    return (
        lf.filter(pl.col("device_id").is_not_null())
        .group_by("device_id")
        .agg(pl.col("user_id").n_unique().cast(pl.Float64).alias("device_users"))
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
    "device_overlap", requires=("device_id", "user_id"), features=DEVICE, tables=("device_stats",)
)
def device_overlap(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    return lf.join(tables["device_stats"].lazy(), on="device_id", how="left").with_columns(
        pl.col("device_users").fill_null(1.0)
    )
