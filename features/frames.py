"""Small helpers to move between Polars frames and the numpy kernels."""

from __future__ import annotations

import numpy as np
import polars as pl


def group_codes(df: pl.DataFrame, *cols: str) -> np.ndarray:
    """Dense int64 id for each row's combination of ``cols``.

    Computed from the values themselves (sorted unique), so the ids do not
    depend on row order or on any hash seed.
    """
    keys = df.select(cols).with_columns(pl.struct(cols).rank("dense").alias("_g"))["_g"]
    return keys.to_numpy().astype(np.int64) - 1


def by_rid(df: pl.DataFrame, **columns: np.ndarray) -> pl.DataFrame:
    """A table keyed by ``_rid`` holding the given per-row arrays."""
    return pl.DataFrame({"_rid": df["_rid"], **{k: pl.Series(k, v) for k, v in columns.items()}})
