"""One file's columns in the contract types, with the reason each bad row is rejected.

Every contract column is first read as text (as read, kept for the rejects
file), then tidied (ids without padding and spreadsheet wrappers, rating words
as digits, timestamp spellings cleaned), then parsed (numbers, UTC times, IP
validity), then checked: a row gets the first reason that applies, in the
order the loader documents (:mod:`detector.input.load`). Casts are non-strict,
so files with different physical types mix freely.

The loader's working columns start with :data:`PREFIX`, a prefix it owns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from detector.input.schema import CONTRACT, DSR_COLUMNS, UTC_DATETIME
from detector.input.values import (
    as_text,
    clean_timestamp_text,
    id_text,
    parse_clean_timestamp,
    rating_text,
    region_text,
    temporal_to_utc,
)
from features.ipaddr import ip_is_valid, ip_masked

__all__ = [
    "FROW",
    "ID_COLUMNS",
    "KEY_COLUMNS",
    "PREFIX",
    "REASON_COLUMN",
    "R_EARLY",
    "R_LATE",
    "Reading",
    "normalise",
    "raw_name",
]

KEY_COLUMNS: tuple[str, ...] = ("review_id", "shop_id", "product_id", "user_id")
#: Id-like columns: whitespace stripped (exports pad ids with tabs to keep Excel from
#: mangling them), empty strings become null.
ID_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "order_id", "device_id")
REASON_COLUMN = "_reject_reason"

# Internal column names; the prefix keeps them apart from anything in an input.
PREFIX = "__rd_"
R_EARLY = f"{PREFIX}reason_early"  # reasons 1-3
R_LATE = f"{PREFIX}reason_late"  # reasons 5-7
FROW = f"{PREFIX}frow"  # row position in its file
_MAX_SHOWN = 80  # longest raw value quoted in a reject reason

_SCORE_COLUMNS: tuple[str, ...] = ("rating", *DSR_COLUMNS)
_TIME_COLUMNS: tuple[str, ...] = tuple(c for c, t in CONTRACT.items() if t == UTC_DATETIME)

#: A check: (condition, message builder); messages are built only when worded.
Check = tuple[pl.Expr, Callable[[], pl.Expr]]


def raw_name(c: str) -> str:
    """The working column of contract column ``c`` as read (text)."""
    return f"{PREFIX}raw_{c}"


def _raw(c: str) -> pl.Expr:
    return pl.col(raw_name(c))


def _txt(c: str) -> pl.Expr:
    return pl.col(f"{PREFIX}txt_{c}")


def _val(c: str) -> pl.Expr:
    return pl.col(f"{PREFIX}val_{c}")


def _shown(text: pl.Expr) -> pl.Expr:
    return text.str.slice(0, _MAX_SHOWN)


@dataclass(frozen=True)
class Reading:
    """How a file's values are read (what :func:`normalise` needs beyond the types)."""

    zone: str = "UTC"
    tidy_ids: bool = False  # strip spreadsheet wrappers (="..."): CSV and Excel files
    masked_ips: bool = False  # some ip of the file is masked: keep those


@dataclass(frozen=True)
class _Job:
    """One normalisation: the file's types, its contract columns and how to read them."""

    types: dict[str, pl.DataType]
    contract: list[str]
    flags_only: bool
    how: Reading

    def temporal(self, c: str) -> bool:
        return isinstance(self.types[c], pl.Datetime | pl.Date)

    def numeric(self, c: str) -> bool:
        # read straight as numbers when only flags are wanted (same values as
        # via their text: integral floats, NaN and inf all round-trip)
        t = self.types[c]
        return self.flags_only and c in _SCORE_COLUMNS and (t.is_integer() or t.is_float())

    def is_null(self, c: str) -> pl.Expr:
        # null as read; typed temporal columns are tested without their text
        return pl.col(c).is_null() if self.temporal(c) or self.numeric(c) else _raw(c).is_null()


def _tidy_stage(job: _Job) -> list[pl.Expr]:
    """Stripped text (empty -> null) of ids, scores and ip; cleaned timestamp text; the
    IP属地 as a short region name (:func:`detector.input.values.region_text`)."""
    stage: list[pl.Expr] = []
    for c in job.contract:
        if job.numeric(c):
            continue
        if c in ID_COLUMNS or c in _SCORE_COLUMNS or c == "ip":
            tidy = c in ID_COLUMNS and job.how.tidy_ids
            stripped = id_text(_raw(c)) if tidy else _raw(c).str.strip_chars()
            if c == "rating":
                stripped = rating_text(stripped)
            stage.append(pl.when(stripped != "").then(stripped).alias(f"{PREFIX}txt_{c}"))
        elif c in _TIME_COLUMNS and not job.temporal(c):
            stage.append(clean_timestamp_text(_raw(c)).alias(f"{PREFIX}txt_{c}"))
        elif c == "ip_region":
            stage.append(region_text(_raw(c)).alias(f"{PREFIX}txt_{c}"))
    return stage


def _parse_stage(job: _Job) -> list[pl.Expr]:
    """Parsed values: scores as numbers, times as UTC, whether an ip is valid or masked."""
    stage: list[pl.Expr] = []
    for c in job.contract:
        if job.numeric(c):
            stage.append(pl.col(c).cast(pl.Float64).alias(f"{PREFIX}val_{c}"))
        elif c in _SCORE_COLUMNS:
            stage.append(_txt(c).cast(pl.Float64, strict=False).alias(f"{PREFIX}val_{c}"))
        elif c in _TIME_COLUMNS:
            zone = job.how.zone
            value = (
                temporal_to_utc(pl.col(c), job.types[c], zone)
                if job.temporal(c)
                else parse_clean_timestamp(_txt(c), zone)
            )
            stage.append(value.alias(f"{PREFIX}val_{c}"))
        elif c == "ip":
            masked = ip_masked(_txt(c)) if job.how.masked_ips else pl.lit(None, pl.String)
            stage.append(masked.alias(f"{PREFIX}ip_mask"))
            stage.append(ip_is_valid(_txt(c)).alias(f"{PREFIX}ip_ok"))
    return stage


def _score(job: _Job, c: str) -> tuple[pl.Expr, list[Check]]:
    """A rating or DSR column as Int8 (null when not an integer in 1-5), and its checks."""
    num = _val(c)
    present = ~job.is_null(c) if job.numeric(c) else _txt(c).is_not_null()
    integral = (num.is_finite() & (num == num.round(0))).fill_null(False)
    in_range = ((num >= 1) & (num <= 5)).fill_null(False)
    value = pl.when(integral & in_range).then(num).cast(pl.Int8).alias(c)
    shown = None if job.numeric(c) else _txt(c)
    problems: list[Check] = [
        (
            ~integral,
            lambda: pl.format("{} '{}' is not an integer", pl.lit(c), _shown(shown)),
        ),
        (~in_range, lambda: pl.format("{} {} outside 1-5", pl.lit(c), shown)),
    ]
    if c == "rating":
        return value, [(~present, lambda: pl.lit("null rating")), *problems]
    return value, [(present & cond, msg) for cond, msg in problems]


def _time(job: _Job, c: str) -> tuple[pl.Expr, list[Check]]:
    """A time column as UTC, and its checks (``created_at`` is required)."""
    bad = (
        _val(c).is_null(),
        lambda: pl.format("unparseable {} '{}'", pl.lit(c), _shown(_raw(c))),
    )
    is_null = job.is_null(c)
    if c == "created_at":
        return _val(c).alias(c), [(is_null, lambda: pl.lit("null created_at")), bad]
    return _val(c).alias(c), [(~is_null & bad[0], bad[1])]


def _ip(c: str) -> tuple[pl.Expr, list[Check]]:
    """An ip as read, a masked one in its canonical masked form; invalid ones rejected."""
    mask = pl.col(f"{PREFIX}ip_mask")
    invalid = _txt(c).is_not_null() & ~pl.col(f"{PREFIX}ip_ok") & mask.is_null()
    value = pl.coalesce(mask, _txt(c)).alias(c)
    return value, [(invalid, lambda: pl.format("invalid ip '{}'", _shown(_txt(c))))]


def _final_stage(job: _Job) -> tuple[list[pl.Expr], dict[str, list[Check]]]:
    """Each contract column's final value, and its checks: (condition, message), first true wins."""
    values: list[pl.Expr] = []
    checks: dict[str, list[Check]] = {}
    for c in job.contract:
        if c == "ip":  # a masked address is kept for the network it reveals
            value, checks[c] = _ip(c)
        elif c in ID_COLUMNS or c == "ip_region":
            value = _txt(c).alias(c)
        elif c in _SCORE_COLUMNS:
            value, checks[c] = _score(job, c)
        elif c in _TIME_COLUMNS:
            value, checks[c] = _time(job, c)
        else:
            value = _raw(c).cast(CONTRACT[c]).alias(c)
        values.append(value)
        if c in KEY_COLUMNS:
            checks[c] = [
                (job.is_null(c), lambda c=c: pl.lit(f"null {c}")),
                (_txt(c).is_null(), lambda c=c: pl.lit(f"empty {c}")),
            ]
    return values, checks


def _reason(checks: dict[str, list[Check]], names, flags_only: bool) -> pl.Expr:
    """The first reason that applies among the checks of ``names`` (a Boolean with ``flags_only``)."""
    pairs = [pair for c in names if c in checks for pair in checks[c]]
    if flags_only:
        # messages are builders so that flags never build them
        return pl.any_horizontal([cond.fill_null(False) for cond, _ in pairs] or [pl.lit(False)])
    if not pairs:
        return pl.lit(None, pl.String)
    chain = pl.when(pairs[0][0]).then(pairs[0][1]())
    for cond, msg in pairs[1:]:
        chain = chain.when(cond).then(msg())
    return chain.otherwise(pl.lit(None, pl.String)).cast(pl.String)


def normalise(
    lf: pl.LazyFrame,
    types: dict[str, pl.DataType],
    contract: list[str],
    carried: list[str],
    keep_raw: bool,
    flags_only: bool = False,
    how: Reading | None = None,
) -> pl.LazyFrame:
    """Contract columns in contract types, carried columns, raw texts (if kept) and reasons.

    ``how`` (:class:`Reading`): naive times are wall-clock times in its zone;
    ids of exports lose the wrappers that keep spreadsheets off them
    (:func:`detector.input.values.id_text`); a masked IPv4 address (``117.136.*.*``)
    is kept in its canonical masked form (:func:`features.ipaddr.ip_masked`).
    Ratings may be words (:func:`detector.input.values.rating_text`).

    Built in stages of ``with_columns`` so that every intermediate (stripped
    text, parsed number, cleaned timestamp) is computed once per row.

    With ``flags_only`` the two reason columns (:data:`R_EARLY`, :data:`R_LATE`)
    are Booleans (is there a problem) instead of messages: the messages are
    formatted for every row (Polars evaluates every branch), which cost more
    than the whole load, so the loader flags rows first and words the reasons
    of the rejected rows only, in a second pass over those rows.
    """
    job = _Job(types, contract, flags_only, how or Reading())
    lf = lf.with_columns(as_text(c, types[c]).alias(raw_name(c)) for c in contract)
    lf = lf.with_columns(_tidy_stage(job))
    lf = lf.with_columns(_parse_stage(job))
    values, checks = _final_stage(job)
    return lf.select(
        *values,
        *[pl.col(c) for c in carried],
        *([_raw(c) for c in contract] if keep_raw else []),
        _reason(checks, (*KEY_COLUMNS, "rating", "created_at"), flags_only).alias(R_EARLY),
        _reason(checks, ("ip", *DSR_COLUMNS, "delivered_at"), flags_only).alias(R_LATE),
    )
