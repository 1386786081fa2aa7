"""Columns an export leaves out, derived as :mod:`detector.input.identities` documents.

The shop of a one-shop export (``--shop``), the review id, the pseudo-account
behind masked nicknames, and the order times of ``--orders`` joined on the
order id. One pass over the file (:func:`_probe`) decides what needs the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.input import identities
from detector.input.normalise import PREFIX
from detector.input.schema import CONTRACT
from detector.input.values import as_text, castable, id_text

__all__ = ["DEFAULT_SHOP", "derive"]

#: The shop of a one-shop export (no shop column) when a preset is given without --shop.
DEFAULT_SHOP = "shop"


@dataclass
class _Probe:
    """What one pass over a file tells the loader before it plans the file."""

    order_unique: bool = False  # every row has an order id, and no two the same
    masked_users: float = 0.0  # share of nicknames containing '*'
    masked_ips: bool = False  # some ip is masked (117.136.*.*)


def _probe(lf: pl.LazyFrame, types, order: pl.Expr | None, want: set[str]) -> _Probe:
    exprs: list[pl.Expr] = []
    if "order" in want and order is not None:
        exprs += [order.null_count().alias("o_null"), order.n_unique().alias("o_n"), pl.len()]
    if "user" in want:
        exprs += identities.masked_share_exprs(as_text("user_id", types["user_id"]))
    if "ip" in want:
        ip = as_text("ip", types["ip"])
        exprs.append(ip.str.contains(r"[*xX]").any().alias("ip_masked"))
    if not exprs:
        return _Probe()
    row = lf.select(exprs).collect().row(0, named=True)
    return _Probe(
        order_unique="o_n" in row and row["o_null"] == 0 and row["o_n"] == row["len"],
        masked_users=identities.share_of(row),
        masked_ips=bool(row.get("ip_masked")),
    )


def _order_key(lf, types, path: Path, export: bool, header_of: dict[str, str]):
    """The order id as text (empty -> null), checked for spreadsheet rounding; None without one."""
    if "order_id" not in types or not castable(types["order_id"]):
        return None
    order = id_text(as_text("order_id", types["order_id"]))
    order = pl.when(order != "").then(order)
    if export or types["order_id"].is_float():
        head = header_of.get("order_id")
        shown = f"'{head}' (order_id)" if head else "'order_id'"
        identities.check_rounded_ids(lf, "order_id", types["order_id"], path, order, shown)
    return order


def derive(
    lf: pl.LazyFrame,
    types: dict[str, pl.DataType],
    read,
    path: Path,
    export: bool,
    header_of: dict[str, str],
) -> tuple[pl.LazyFrame, dict[str, pl.DataType], bool]:
    """``lf`` with the columns an export leaves out, its types, and whether some ip is masked.

    ``read`` is the load's :class:`detector.input.spec.ReadOptions`; the order
    ids of a CSV or spreadsheet (``export``) are checked for rounding first;
    ``header_of`` names each contract column's header in messages.
    """
    if "shop_id" not in types and (read.spec.shop or read.preset is not None):
        lf = lf.with_columns(pl.lit(read.spec.shop or DEFAULT_SHOP, pl.String).alias("shop_id"))
        types["shop_id"] = pl.String()
    order = _order_key(lf, types, path, export, header_of)
    derive_id = "review_id" not in types and (order is not None or read.preset is not None)
    weak = read.preset is not None and read.preset.masked_nicknames
    want = {"order"} if derive_id else set()
    if "user_id" in types and not weak and castable(types["user_id"]):
        want.add("user")
    if "ip" in types and castable(types["ip"]):
        want.add("ip")
    probe = _probe(lf, types, order, want)
    if derive_id:
        lf = lf.with_columns(_review_id(types, order, probe.order_unique).alias("review_id"))
        types["review_id"] = pl.String()
    weak = weak or probe.masked_users >= identities.MASKED_SHARE
    if weak and "review_id" in types and "user_nick" not in types:
        lf = _pseudo_accounts(lf, types, order)
    if read.orders is not None:
        lf, types = _join_orders(lf, types, read.orders, order, path)
    return lf, types, probe.masked_ips


def _pseudo_accounts(lf: pl.LazyFrame, types, order: pl.Expr | None) -> pl.LazyFrame:
    """Masked nicknames kept as ``user_nick``; ``user_id`` a pseudo-account per order."""
    if "user_id" in types:
        lf = lf.with_columns(as_text("user_id", types["user_id"]).alias("user_nick"))
        types["user_nick"] = pl.String()
    rid = id_text(as_text("review_id", types["review_id"]))
    types["user_id"] = pl.String()
    return lf.with_columns(identities.pseudo_account(order, rid).alias("user_id"))


def _review_id(types: dict[str, pl.DataType], order: pl.Expr | None, unique: bool) -> pl.Expr:
    """The order id when unique per row, else the content id (:func:`identities.content_id`)."""
    if unique and order is not None:
        return order
    readable = (c for c in CONTRACT if c in types and c not in ("review_id", "shop_id"))
    texts = [
        as_text(c, types[c])
        for c in readable
        if castable(types[c]) or isinstance(types[c], pl.Null)  # Null: an empty sheet
    ]
    return identities.content_id(texts or [pl.lit(None, pl.String)], order)


def _join_orders(lf, types, orders: pl.DataFrame, order: pl.Expr | None, path: Path):
    """The order export's times joined on the order id (the review's own columns first)."""
    if order is None:
        raise InputError(
            f"--orders joins on the order id, but {path} has no order id column; map it "
            "with --columns 'YOUR_HEADER=order_id'"
        )
    wanted = [c for c in orders.columns if c != "order_id" and c not in types]
    if not wanted:
        return lf, types
    key = f"{PREFIX}order"
    right = orders.lazy().select(pl.col("order_id").alias(key), *wanted)
    lf = (
        lf.with_columns(order.alias(key))
        .join(right, on=key, how="left", maintain_order="left")
        .drop(key)
    )
    for c in wanted:
        types[c] = CONTRACT[c]
    return lf, types
