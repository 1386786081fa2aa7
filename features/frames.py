"""Small helpers to move between Polars frames and the numpy kernels."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl


def group_codes(df: pl.DataFrame, *cols: str) -> np.ndarray:
    """Dense int64 id for each row's combination of ``cols``.

    Ids come from a 64-bit hash of the values, densified by sorting; a
    ranking of string structs measured 4-8x slower. The kernels only use ids
    to tell groups apart (never their order or value), so results depend
    neither on row order nor on the hash, and ids are never persisted. Two
    distinct keys sharing a 64-bit hash (odds ~n^2 / 2^65) would merge.
    """
    if df.height == 0:
        return np.zeros(0, dtype=np.int64)
    h = df.select(pl.struct(cols).hash(seed=0)).to_series().to_numpy()
    return dense_codes(h)


def dense_codes(values: np.ndarray) -> np.ndarray:
    """Dense int64 ids (0..k-1) of an integer array, by sorting."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(values)
    sv = values[order]
    step = np.empty(sv.size, dtype=np.int64)
    step[0] = 0
    step[1:] = sv[1:] != sv[:-1]
    out = np.empty(values.size, dtype=np.int64)
    out[order] = np.cumsum(step)
    return out


def by_rid(df: pl.DataFrame, **columns: np.ndarray) -> pl.DataFrame:
    """A table keyed by ``_rid`` holding the given per-row arrays."""
    return pl.DataFrame({"_rid": df["_rid"], **{k: pl.Series(k, v) for k, v in columns.items()}})


def group_hash(df: pl.DataFrame, *cols: str) -> np.ndarray:
    """64-bit hash of each row's combination of ``cols`` (for :func:`dense_codes` later)."""
    return df.select(pl.struct(cols).hash(seed=0)).to_series().to_numpy()


#: Rows per shard: small enough that a shard's sorts stay in cache.
SHARD_ROWS = 250_000


def by_shop_shard(df: pl.DataFrame, fn, shard_rows: int = SHARD_ROWS) -> dict[str, np.ndarray]:
    """Run ``fn(rows)`` on shards of whole shops and scatter its per-row arrays back.

    Every window group of the burst and identity features (product, shop,
    address x shop, network x shop, network x product) lies inside one shop,
    so shards of whole shops are independent and give the same values as
    one pass over all rows; at 10M reviews a global sort costs 25-30x a 1M one
    here, while shard-sized sorts stay in cache.

    Parameters
    ----------
    fn : callable
        Takes an int64 array of row positions, returns ``{name: values}`` for
        those rows.
    """
    out: dict[str, np.ndarray] = {}
    shards = shop_shards(df, shard_rows)
    for rows, result in zip(shards, map_shards(fn, shards), strict=True):
        for name, values in result.items():
            if name not in out:
                out[name] = np.zeros(df.height, dtype=np.asarray(values).dtype)
            out[name][rows] = values
    return out


def map_shards(fn, shards: list) -> list:
    """``[fn(s) for s in shards]``, two shards at a time on threads when there are several.

    The kernels are numpy sorts, searches and ufuncs, which release the GIL,
    and a shard's arrays are small, so this adds little memory (1.7x faster
    on the shard loops of 10M reviews here).
    """
    if len(shards) < 2:
        return [fn(s) for s in shards]
    with ThreadPoolExecutor(max_workers=min(len(shards), os.cpu_count() or 1)) as pool:
        return list(pool.map(fn, shards))


def shop_shards(df: pl.DataFrame, shard_rows: int = SHARD_ROWS) -> list[np.ndarray]:
    """Row positions of ``df`` split into shards of whole shops (``shop_id``), in row order."""
    n = df.height
    k = max(1, n // shard_rows)
    if k == 1:
        return [np.arange(n, dtype=np.int64)]
    shard = df.select(pl.col("shop_id").hash(seed=0)).to_series().to_numpy() % np.uint64(k)
    order = np.argsort(shard.astype(np.int64), kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(k + 1))
    return [order[bounds[s] : bounds[s + 1]] for s in range(k) if bounds[s + 1] > bounds[s]]
