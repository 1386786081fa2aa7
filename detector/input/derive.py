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
from detector.input.values import (
    as_text,
    castable,
    clean_timestamp_text,
    id_text,
    parse_clean_timestamp,
    rating_text,
    temporal_to_utc,
)

__all__ = [
    "DEFAULT_SHOP",
    "DIGEST",
    "KEY_TIME",
    "ORDER_KEY",
    "PendingIds",
    "derive",
    "finish",
    "with_key_columns",
]

#: The shop of a one-shop export (no shop column) when a preset is given without --shop.
DEFAULT_SHOP = "shop"
#: Working columns of a derived review id: the order id, created_at (UTC) and the digest.
ORDER_KEY = f"{PREFIX}order_key"
KEY_TIME = f"{PREFIX}key_time"
DIGEST = f"{PREFIX}digest"
_FIRST_TIME = f"{PREFIX}first_time"
_FIRST_DIGEST = f"{PREFIX}first_digest"


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
) -> tuple[pl.LazyFrame, dict[str, pl.DataType], bool, PendingIds | None]:
    """``lf`` with the columns an export leaves out, its types, whether some ip is masked,
    and what :func:`finish` needs when the review ids are still to be derived.

    ``read`` is the load's :class:`detector.input.spec.ReadOptions`; the order
    ids of a CSV or spreadsheet (``export``) are checked for rounding first;
    ``header_of`` names each contract column's header in messages. Which review
    of an order is its first, and so keeps the order id, is decided over all
    the files of a load (:mod:`detector.input.plan`): until then the frame has
    the order id as :data:`ORDER_KEY`, and :func:`finish` adds the review id,
    the pseudo-accounts and the order export's times.
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
    weak = (weak or probe.masked_users >= identities.MASKED_SHARE) and "user_nick" not in types
    if derive_id:
        key = order if order is not None else pl.lit(None, pl.String)
        pending = PendingIds(dict(types), order is not None, weak)
        return lf.with_columns(key.alias(ORDER_KEY)), types, probe.masked_ips, pending
    if weak and "review_id" in types:
        lf = _pseudo_accounts(lf, types, order)
    if read.orders is not None:
        lf, types = _join_orders(lf, types, read.orders, order, path)
    return lf, types, probe.masked_ips, None


@dataclass(frozen=True)
class PendingIds:
    """A file whose review ids are to be derived (:func:`derive`, then :func:`finish`)."""

    key_types: dict[str, pl.DataType]  # the file's types before any derived id
    has_order: bool  # the file has an order id column
    weak: bool  # masked nicknames: pseudo-accounts once the ids are known


def with_key_columns(lf: pl.LazyFrame, pending: PendingIds, need: pl.Series, zone: str):
    """:data:`KEY_TIME` and :data:`DIGEST` of the rows whose id is more than their order id:
    no order id, or an order id in ``need`` (several reviews); null elsewhere (cheap)."""
    key = pl.col(ORDER_KEY)
    masked = key.is_null() | key.is_in(need.implode())
    parsed, time_text = _time_key(pending.key_types, zone, masked)
    types = pending.key_types
    text = _id_key("text", types, masked, strip_only=True)
    parts = [key, _id_key("product_id", types, masked), _id_key("user_id", types, masked)]
    parts += [time_text, _rating_key(types, masked), text]
    digest = identities.content_digest(parts, masked)
    return lf.with_columns(parsed.alias(KEY_TIME), digest.alias(DIGEST))


def finish(lf, types, pending: PendingIds, need: pl.Series, first: pl.DataFrame, read, path):
    """The review ids (:mod:`detector.input.identities`), pseudo-accounts and order times of a
    file :func:`derive` left pending; ``first`` is the first review of each order in ``need``."""
    lf = with_key_columns(lf, pending, need, read.zone)
    right = first.lazy().select(
        pl.col("order_id").alias(ORDER_KEY),
        pl.col("created_at").alias(_FIRST_TIME),
        pl.col("digest").alias(_FIRST_DIGEST),
    )
    key = pl.col(ORDER_KEY)
    is_first = pl.col(KEY_TIME).eq_missing(pl.col(_FIRST_TIME)) & (
        pl.col(DIGEST) == pl.col(_FIRST_DIGEST)
    )
    later = identities.content_id(pl.col(DIGEST), key if pending.has_order else None)
    rid = (
        pl.when(key.is_not_null() & (~key.is_in(need.implode()) | is_first.fill_null(False)))
        .then(key)
        .otherwise(later)
    )
    lf = lf.join(right, on=ORDER_KEY, how="left", maintain_order="left")
    lf = lf.with_columns(rid.alias("review_id")).drop(_FIRST_TIME, _FIRST_DIGEST, KEY_TIME, DIGEST)
    types["review_id"] = pl.String()
    order = key if pending.has_order else None
    if pending.weak:
        lf = _pseudo_accounts(lf, types, order)
    if read.orders is not None:
        lf, types = _join_orders(lf, types, read.orders, order, path)
    return lf.drop(ORDER_KEY), types


def _pseudo_accounts(lf: pl.LazyFrame, types, order: pl.Expr | None) -> pl.LazyFrame:
    """Masked nicknames kept as ``user_nick``; ``user_id`` a pseudo-account per order."""
    if "user_id" in types:
        lf = lf.with_columns(as_text("user_id", types["user_id"]).alias("user_nick"))
        types["user_nick"] = pl.String()
    rid = id_text(as_text("review_id", types["review_id"]))
    types["user_id"] = pl.String()
    return lf.with_columns(identities.pseudo_account(order, rid).alias("user_id"))


def _masked_text(c: str, types, masked: pl.Expr) -> pl.Expr | None:
    """Column ``c`` as text on the ``masked`` rows, null elsewhere (text ops on null are cheap)."""
    if c not in types or not castable(types[c]):
        return None
    return pl.when(masked).then(as_text(c, types[c]))


def _id_key(c: str, types, masked: pl.Expr, strip_only: bool = False) -> pl.Expr:
    raw = _masked_text(c, types, masked)
    if raw is None:
        return pl.lit(None, pl.String)
    if strip_only:
        return raw.str.strip_chars()
    t = id_text(raw)
    return pl.when(t != "").then(t)


def _time_key(types, zone: str, masked: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``created_at`` parsed (UTC), and as text for the digest (as read when unparseable),
    of the ``masked`` rows only: the others are null before parsing, which is then cheap."""
    dtype = types.get("created_at")
    if dtype is None or not (castable(dtype) or isinstance(dtype, pl.Null)):
        return pl.lit(None, UTC_DATETIME), pl.lit(None, pl.String)
    if isinstance(dtype, pl.Datetime | pl.Date):
        parsed = temporal_to_utc(pl.when(masked).then(pl.col("created_at")), dtype, zone)
    else:
        raw = pl.when(masked).then(as_text("created_at", dtype))
        parsed = parse_clean_timestamp(clean_timestamp_text(raw), zone)
    shown = pl.when(masked).then(as_text("created_at", dtype))
    text = pl.coalesce(parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"), shown)
    return parsed, text


def _rating_key(types, masked: pl.Expr) -> pl.Expr:
    raw = _masked_text("rating", types, masked)
    if raw is None:
        return pl.lit(None, pl.String)
    t = rating_text(raw.str.strip_chars())
    num = t.cast(pl.Float64, strict=False)
    integral = num.is_finite() & (num == num.round(0))
    return pl.when(integral).then(num.cast(pl.Int64).cast(pl.String)).otherwise(t)


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
