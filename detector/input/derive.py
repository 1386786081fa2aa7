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
from detector.input.schema import CONTRACT, UTC_DATETIME
from detector.input.values import as_text, castable, id_text, parse_timestamp, rating_text

__all__ = ["DEFAULT_SHOP", "DIGEST", "KEY_TIME", "ORDER_KEY", "derive"]

#: The shop of a one-shop export (no shop column) when a preset is given without --shop.
DEFAULT_SHOP = "shop"
#: Working columns of a derived review id: the order id, created_at (UTC) and the digest.
ORDER_KEY = f"{PREFIX}order_key"
KEY_TIME = f"{PREFIX}key_time"
DIGEST = f"{PREFIX}digest"


@dataclass
class _Probe:
    """What one pass over a file tells the loader before it plans the file."""

    masked_users: float = 0.0  # share of nicknames containing '*'
    masked_ips: bool = False  # some ip is masked (117.136.*.*)


def _probe(lf: pl.LazyFrame, types, want: set[str]) -> _Probe:
    exprs: list[pl.Expr] = []
    if "user" in want:
        exprs += identities.masked_share_exprs(as_text("user_id", types["user_id"]))
    if "ip" in want:
        ip = as_text("ip", types["ip"])
        exprs.append(ip.str.contains(r"[*xX]").any().alias("ip_masked"))
    if not exprs:
        return _Probe()
    row = lf.select(exprs).collect().row(0, named=True)
    return _Probe(
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
    ``header_of`` names each contract column's header in messages. A derived
    review id is the content id here, with :data:`ORDER_KEY`, :data:`KEY_TIME`
    and :data:`DIGEST` beside it: which review of an order is its first, and so
    keeps the order id, is decided over all the files of the load
    (:mod:`detector.input.plan`).
    """
    if "shop_id" not in types and (read.spec.shop or read.preset is not None):
        lf = lf.with_columns(pl.lit(read.spec.shop or DEFAULT_SHOP, pl.String).alias("shop_id"))
        types["shop_id"] = pl.String()
    order = _order_key(lf, types, path, export, header_of)
    derive_id = "review_id" not in types and (order is not None or read.preset is not None)
    weak = read.preset is not None and read.preset.masked_nicknames
    want = set()
    if "user_id" in types and not weak and castable(types["user_id"]):
        want.add("user")
    if "ip" in types and castable(types["ip"]):
        want.add("ip")
    probe = _probe(lf, types, want)
    if derive_id:
        lf = _content_ids(lf, types, order, read.zone)
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


def _id_key(c: str, types) -> pl.Expr:
    if c not in types or not castable(types[c]):
        return pl.lit(None, pl.String)
    t = id_text(as_text(c, types[c]))
    return pl.when(t != "").then(t)


def _time_key(types, zone: str) -> tuple[pl.Expr, pl.Expr]:
    """``created_at`` parsed (UTC), and as text for the digest (as read when unparseable)."""
    dtype = types.get("created_at")
    if dtype is None or not (castable(dtype) or isinstance(dtype, pl.Null)):
        return pl.lit(None, UTC_DATETIME), pl.lit(None, pl.String)
    parsed = parse_timestamp("created_at", dtype, zone)
    text = pl.coalesce(parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"), as_text("created_at", dtype))
    return parsed, text


def _rating_key(types) -> pl.Expr:
    if "rating" not in types or not castable(types["rating"]):
        return pl.lit(None, pl.String)
    t = rating_text(as_text("rating", types["rating"]).str.strip_chars())
    num = t.cast(pl.Float64, strict=False)
    integral = num.is_finite() & (num == num.round(0))
    return pl.when(integral).then(num.cast(pl.Int64).cast(pl.String)).otherwise(t)


def _content_ids(lf: pl.LazyFrame, types, order: pl.Expr | None, zone: str) -> pl.LazyFrame:
    """The content id as ``review_id`` (:func:`identities.content_id`), with the order key,
    the parsed time and the digest beside it (for the first-review rule, see the plan)."""
    parsed, time_text = _time_key(types, zone)
    text = (
        as_text("text", types["text"]).str.strip_chars()
        if "text" in types and castable(types["text"])
        else pl.lit(None, pl.String)
    )
    key = order if order is not None else pl.lit(None, pl.String)
    digest = identities.content_digest(
        [
            key,
            _id_key("product_id", types),
            _id_key("user_id", types),
            time_text,
            _rating_key(types),
            text,
        ]
    )
    lf = lf.with_columns(key.alias(ORDER_KEY), parsed.alias(KEY_TIME), digest.alias(DIGEST))
    rid = identities.content_id(pl.col(DIGEST), pl.col(ORDER_KEY) if order is not None else None)
    types["review_id"] = pl.String()
    return lf.with_columns(rid.alias("review_id"))


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
