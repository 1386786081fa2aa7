"""The order export (``--orders``): order times joined onto the reviews by order id.

A merchant's order export (订单编号, 下单时间, 付款时间, 发货时间, 确认收货时间 /
签收时间, ...; headers matched as :data:`detector.input.presets.ORDER_HEADERS`
says, tolerantly) gives ``paid_at``, ``shipped_at`` and ``delivered_at``: the
minutes between receipt and review are among the strongest signals a
merchant has. Times are naive wall-clock times in the scan's time zone, as in
the review export. An order listed twice (child orders, or two exports that
overlap) keeps its first row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.input.files import SUFFIXES, open_table
from detector.input.identities import check_rounded_ids
from detector.input.presets import ORDER_HEADERS, match_headers
from detector.input.values import as_text, id_text, parse_timestamp

__all__ = ["ORDER_TIMES", "load_orders"]

#: Contract columns an order export can give.
ORDER_TIMES: tuple[str, ...] = ("paid_at", "shipped_at", "delivered_at")


def _open(path: Path) -> tuple[pl.LazyFrame, pl.Schema]:
    if not path.is_file():
        raise InputError(f"order export not found: {path} (given with --orders)")
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(
            f"unsupported order export {path}: expected a .csv, .xlsx, .xls or .parquet file"
        )
    try:
        lf = open_table(path)
        return lf, lf.collect_schema()
    except InputError:
        raise
    except Exception as exc:  # polars raises several error types for a bad file
        raise InputError(f"cannot read order export {path}: {exc}") from exc


def _read_one(path: Path, zone: str) -> pl.DataFrame:
    lf, schema = _open(path)
    headers = schema.names()
    found = {column: header for header, column in match_headers(headers, ORDER_HEADERS).items()}
    if "order_id" not in found:
        raise InputError(
            f"order export {path} has no order id column (expected one of "
            f"{', '.join(ORDER_HEADERS['order_id'])}); its headers are: {', '.join(headers)}"
        )
    head = found["order_id"]
    key = id_text(as_text(head, schema[head]))
    check_rounded_ids(lf, head, schema[head], path, key)
    times = [
        parse_timestamp(found[c], schema[found[c]], zone).alias(c)
        for c in ORDER_TIMES
        if c in found
    ]
    return lf.select(key.alias("order_id"), *times).collect()


def load_orders(paths: Sequence[str | os.PathLike[str]], zone: str) -> pl.DataFrame:
    """``order_id`` and the order times (:data:`ORDER_TIMES`, UTC) of the order exports ``paths``.

    Columns an export lacks are null. Raises :class:`InputError` for a missing or
    unreadable file or one without an order id column.
    """
    frames = [_read_one(Path(p), zone) for p in paths]
    schema = {"order_id": pl.String, **{c: pl.Datetime("us", "UTC") for c in ORDER_TIMES}}
    empty = pl.DataFrame(schema=schema)
    out = pl.concat([empty, *frames], how="diagonal_relaxed")
    return (
        out.filter(pl.col("order_id").is_not_null() & (pl.col("order_id") != ""))
        .unique("order_id", keep="first", maintain_order=True)
        .select(list(schema))
    )
