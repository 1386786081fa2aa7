"""Time zones and the ``[since, until)`` window of a scan.

Naive times (in the input, and naive ``--since``/``--until``) are wall-clock
times in the scan's zone (:attr:`detector.input.spec.InputSpec.effective_timezone`);
every time is held as UTC. The window is applied three ways, cheapest first:
files in ``dt=``/``ds=``/``date=`` partitions more than a day outside it are
not opened (:func:`partition_in_window`), a filter on ``created_at`` as stored
reaches the Parquet scan (:func:`raw_window_filter`), and the parsed times are
filtered exactly (:func:`window_filter`). Rows whose time is null stay, to be
rejected, never dropped.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import polars as pl

from detector.errors import InputError
from detector.input.schema import UTC_DATETIME

__all__ = [
    "check_timezone",
    "partition_in_window",
    "raw_window_filter",
    "to_utc",
    "window_filter",
]

#: Partition keys whose value is the review date; partitions far outside
#: [since, until) are skipped without being opened.
_DATE_PARTITION_KEYS = ("dt", "ds", "date")
#: Partition dates are read as local dates of unknown zone: keep a day either side.
_PARTITION_SLACK = timedelta(days=1)


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else :class:`InputError`."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise InputError(
            f"unknown time zone {name!r}; give an IANA name such as Asia/Shanghai or UTC"
        ) from None
    return name


def to_utc(value: datetime | date | str | None, name: str, zone: str = "UTC") -> datetime | None:
    """``since``/``until`` as an aware UTC datetime; naive values and dates are in ``zone``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"cannot parse {name} {text!r}; use ISO-8601 such as 2025-01-02 or "
                f"2025-01-02T13:04:05+08:00 (times without an offset are in {zone})"
            ) from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)
    return value.astimezone(UTC)


def _partition_date(value: str | None) -> date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    return None


def partition_in_window(
    partitions: dict[str, str | None], since: datetime | None, until: datetime | None
) -> bool:
    """Whether a file in these hive partitions (:func:`detector.input.files.hive_partitions`)
    may hold reviews in ``[since, until)`` (UTC): False only for a date partition more than
    a day outside it."""
    for key in _DATE_PARTITION_KEYS:
        d = _partition_date(partitions.get(key))
        if d is None:
            continue
        start = datetime(d.year, d.month, d.day, tzinfo=UTC)
        if since is not None and start + timedelta(days=1) + _PARTITION_SLACK <= since:
            return False
        if until is not None and start - _PARTITION_SLACK >= until:
            return False
    return True


def _ceil_date(t: datetime) -> date:
    """First date whose UTC midnight is >= ``t``."""
    d = t.date()
    return d if t == datetime(d.year, d.month, d.day, tzinfo=UTC) else d + timedelta(days=1)


def _stored_bounds(
    dtype: pl.Datetime, since: datetime | None, until: datetime | None, zone: str
) -> list[datetime | None] | None:
    """The window's bounds in the zone of a stored Datetime column (None: not expressible)."""
    tz = dtype.time_zone
    if tz is None:
        local = zoneinfo.ZoneInfo(zone)
        return [
            None if t is None else t.astimezone(local).replace(tzinfo=None) for t in (since, until)
        ]
    try:
        stored = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None  # e.g. a fixed offset zone: filter after conversion instead
    return [None if t is None else t.astimezone(stored) for t in (since, until)]


def _inside(col: pl.Expr, conds: list[pl.Expr]) -> pl.Expr | None:
    """Rows meeting every condition, and rows whose time is null (rejected later, not dropped)."""
    if not conds:
        return None
    inside = conds[0] if len(conds) == 1 else conds[0] & conds[1]
    return col.is_null() | inside


def raw_window_filter(
    name: str,
    dtype: pl.DataType,
    since: datetime | None,
    until: datetime | None,
    zone: str = "UTC",
) -> pl.Expr | None:
    """A window filter on a temporal column as stored in the file, so the scan can prune row groups.

    Rows with a null time pass (they are rejected later, not dropped). Naive
    stored times are in ``zone``. None when the column is not temporal.
    """
    col = pl.col(name)
    conds: list[pl.Expr] = []
    if isinstance(dtype, pl.Datetime):
        bounds = _stored_bounds(dtype, since, until, zone)
        if bounds is None:
            return None
        target = pl.Datetime(dtype.time_unit, dtype.time_zone)
        if bounds[0] is not None:
            conds.append(col >= pl.lit(bounds[0], dtype=target))
        if bounds[1] is not None:
            conds.append(col < pl.lit(bounds[1], dtype=target))
    elif isinstance(dtype, pl.Date):
        if since is not None:
            conds.append(col >= pl.lit(_ceil_date(since), dtype=pl.Date))
        if until is not None:
            conds.append(col < pl.lit(_ceil_date(until), dtype=pl.Date))
    else:
        return None
    return _inside(col, conds)


def window_filter(since: datetime | None, until: datetime | None) -> pl.Expr | None:
    """``created_at`` (parsed, UTC) in ``[since, until)``, or null; None without a window."""
    col = pl.col("created_at")
    conds: list[pl.Expr] = []
    if since is not None:
        conds.append(col >= pl.lit(since, dtype=UTC_DATETIME))
    if until is not None:
        conds.append(col < pl.lit(until, dtype=UTC_DATETIME))
    return _inside(col, conds)
