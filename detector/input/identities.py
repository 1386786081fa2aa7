"""Identities an export does not give as such: review ids, and accounts behind masked nicknames.

**Review id.** Seller-centre exports have no review id (one review per (child)
order). When a file has no ``review_id`` column, every review of an order is
ordered by ``created_at`` (unparseable last), then by its content digest ``h``:

* the first review of an order has the order id as its review id;
* every later one (a second child order under one order id, a follow-up 追评
  exported as a row of its own) has ``<order id>-<h8>``;
* a row without an order id has ``r<h16>``.

"First" is decided over the whole input of a load - every file together,
before ``--since``/``--until`` - so splitting an export into several files,
reading its rows in another order or narrowing the time window gives every
review the same id. A re-download with one more day gives the reviews seen
before their ids again (the first review of an order stays first: a later
review is later), so an incremental scan rejects them as duplicates and
scores only the new ones. A loader that reads files one by one passes the
first reviews of the whole input (:func:`detector.input.plan.first_reviews`),
and so must a run over a file holding only a later day when it may hold a
second review of an order of an earlier file (alone, that review would be its
order's first and take the order id the earlier review has).

``h`` is the BLAKE2b-64 hex digest of the row's content (:func:`content_digest`):
order id, product id, nickname, ``created_at`` (as UTC), rating and text, as
read and normalised (ids without spreadsheet wrappers, rating words as digits,
times parsed), in that order, joined by U+001F, nulls as U+0000. The content,
never the row's position or file; the review's optional columns (IP, DSR, a
follow-up's own columns) are not part of it, so a re-download that adds such
a column keeps the ids. Two identical rows get one id (the second is a
duplicate).

**Masked nicknames.** ``梁***k`` is many different buyers: such nicknames are
not accounts. A file's ``user_id`` is weak when its preset says the platform
masks nicknames, or when at least :data:`MASKED_SHARE` of its non-empty
values contain ``*``. Then the nickname is kept as ``user_nick`` (display
only) and ``user_id`` becomes a pseudo-account per order: ``order:<order id>``
(the child orders of one order share their buyer), else
``review:<review id>``. No two orders share an account, so no per-account
feature (history, rings, device or IP sharing between accounts) and no
"same account" evidence links reviews through a nickname.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from detector.errors import InputError

__all__ = [
    "MASKED_SHARE",
    "check_rounded_ids",
    "content_digest",
    "content_id",
    "masked_share_exprs",
    "pseudo_account",
    "share_of",
]

#: Share of non-empty nicknames containing ``*`` from which a file's user_id is weak.
MASKED_SHARE = 0.3
_SEP, _NULL = "\x1f", "\x00"
#: Digits a spreadsheet keeps of a number; longer ids stored as numbers are rounded.
_EXCEL_DIGITS = 15


def _blake(values: pl.Series) -> pl.Series:
    digest = [
        None if v is None else hashlib.blake2b(v.encode(), digest_size=8).hexdigest()
        for v in values.to_list()
    ]
    return pl.Series(values.name, digest, dtype=pl.String)


def content_digest(texts: list[pl.Expr], where: pl.Expr | None = None) -> pl.Expr:
    """The 16-hex BLAKE2b-64 digest of each row's ``texts`` (see the module docstring);
    only of the rows ``where`` is true, when given (null elsewhere, and not hashed)."""
    content = pl.concat_str([t.fill_null(_NULL) for t in texts], separator=_SEP)
    if where is not None:
        content = pl.when(where).then(content)
    return content.map_batches(_blake, return_dtype=pl.String)


def content_id(digest: pl.Expr, order_key: pl.Expr | None) -> pl.Expr:
    """``<order id>-<h8>``, else ``r<h16>``: the review id of a row that is not its
    order's first review (see the module docstring)."""
    fallback = pl.concat_str([pl.lit("r"), digest.str.slice(0, 16)])
    if order_key is None:
        return fallback
    with_order = pl.concat_str([order_key, pl.lit("-"), digest.str.slice(0, 8)])
    return pl.when(order_key.is_not_null()).then(with_order).otherwise(fallback)


def masked_share_exprs(text: pl.Expr) -> list[pl.Expr]:
    """Aggregates giving :func:`share_of`: non-empty values of ``text`` and those with ``*``."""
    t = text.str.strip_chars()
    return [
        (t.str.len_chars() > 0).sum().alias("nick_n"),
        t.str.contains("*", literal=True).sum().alias("nick_masked"),
    ]


def share_of(row: dict) -> float:
    """Share of masked nicknames from the aggregates of :func:`masked_share_exprs` (0 if none)."""
    n = row.get("nick_n") or 0
    return (row.get("nick_masked") or 0) / n if n else 0.0


def pseudo_account(order_key: pl.Expr | None, review_id: pl.Expr) -> pl.Expr:
    """``order:<order id>``, else ``review:<review id>``: the account behind a weak nickname."""
    by_review = pl.concat_str([pl.lit("review:"), review_id])
    if order_key is None:
        return by_review
    return pl.coalesce(pl.concat_str([pl.lit("order:"), order_key]), by_review)


def check_rounded_ids(
    lf: pl.LazyFrame,
    header: str,
    dtype: pl.DataType,
    path: Path,
    text: pl.Expr,
    shown: str | None = None,
) -> None:
    """:class:`InputError` when the ids in ``header`` were stored as numbers and rounded.

    A spreadsheet keeps 15 significant digits: an 18-19 digit order id typed as
    a number is rounded (shown ``4.01E+18``) and no longer names its order.
    ``header`` is the column in ``lf``, ``shown`` its name in the message.
    Detected as a float column holding values of 16 digits or more, or as text
    in scientific notation, or as long digit strings ending in the zeros
    rounding leaves (most of at least three).
    """
    long_digits = text.str.contains(r"^[0-9]{17,}$")
    rounded_tail = text.str.contains(r"^[0-9]{15}0+$") & long_digits
    if dtype.is_float():
        bad = pl.col(header).abs() >= 10.0**_EXCEL_DIGITS
    else:
        bad = text.str.contains(r"^[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+$")
    probe = lf.select(
        pl.int_range(pl.len()).alias("row"),
        text.alias("value"),
        bad.fill_null(False).alias("bad"),
        long_digits.fill_null(False).alias("long"),
        rounded_tail.fill_null(False).alias("tail"),
    ).collect()
    hits = probe.filter("bad")
    n_long, n_tail = int(probe["long"].sum()), int(probe["tail"].sum())
    if hits.height == 0 and n_tail >= 3 and n_tail > n_long / 2:
        hits = probe.filter("tail")
    if hits.height == 0:
        return
    row, value = hits.row(0)[:2]
    raise InputError(
        f"the ids in column {shown or repr(header)} of {path} were stored as numbers and rounded "
        f"({hits.height} of {probe.height} rows, e.g. data row {row + 1}: {value}); a rounded "
        "order id no longer names its order. Export the file again with that column as "
        "text (the seller centre's own .xlsx/CSV keeps it; re-saving in Excel rounds it)"
    )
