"""Reading values as exports write them: ids, ratings, timestamps, as Polars expressions.

Shared by the review loader (:mod:`detector.input.normalise`) and the order-export
reader (:mod:`detector.input.orders`), so an id or a time is read one way everywhere.
"""

from __future__ import annotations

import polars as pl

from detector.input.presets import RATING_WORDS

__all__ = [
    "as_text",
    "castable",
    "clean_timestamp_text",
    "id_text",
    "localise",
    "parse_clean_timestamp",
    "parse_timestamp",
    "rating_text",
    "region_text",
    "temporal_to_utc",
]


def castable(dtype: pl.DataType) -> bool:
    """Whether a column of this type can be cast to String."""
    # Polars has no Duration -> String cast (it fails at collect, naming no column)
    return not (
        dtype.is_nested() or isinstance(dtype, pl.Binary | pl.Object | pl.Null | pl.Duration)
    )


def as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as String; integral floats lose their ``.0`` (ids stored as float64)."""
    col = pl.col(name)
    if dtype == pl.String:
        return col
    if isinstance(dtype, pl.Null):
        return pl.lit(None, pl.String)
    if dtype.is_float():
        integral = col.is_finite() & (col == col.round(0)) & (col.abs() < 2.0**53)
        return (
            pl.when(integral)
            .then(col.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(col.cast(pl.String))
        )
    return col.cast(pl.String, strict=False)


def id_text(text: pl.Expr) -> pl.Expr:
    """An id as text without padding and the wrappers exports add to keep Excel from
    reading it as a number (``="4012..."``, a leading ``'``, tabs)."""
    stripped = text.str.strip_chars()
    return stripped.str.replace(r'^="(.*)"$', "${1}").str.strip_chars_start("'").str.strip_chars()


_RATING_FROM = list(RATING_WORDS)
_RATING_TO = [str(v) for v in RATING_WORDS.values()]


def rating_text(text: pl.Expr) -> pl.Expr:
    """Rating words as digits: 五星..一星, 好评/中评/差评 (:data:`detector.input.presets.RATING_WORDS`),
    ``5星`` / ``5分`` / ``5.0``, ``★★★★☆``; anything else as it was (to be rejected)."""
    t = text.str.replace_all(r"\s+", "")
    stars = t.str.count_matches("★").cast(pl.String)
    t = pl.when(t.str.contains(r"^[★☆]+$")).then(stars).otherwise(t)
    t = t.str.replace(r"^([1-5])(?:\.0+)?(?:颗星|星级|星|分)$", "${1}")
    return t.replace(_RATING_FROM, _RATING_TO)


#: IP属地 values that name no region: read as null.
UNKNOWN_REGIONS: tuple[str, ...] = (
    "未知", "未知地区", "暂无", "无", "其他", "-", "--", "—", "/", "null", "none", "unknown", "n/a"
)  # fmt: skip
_REGION_SUFFIX = r"^(.{2,}?)(?:壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)$"


def region_text(text: pl.Expr) -> pl.Expr:
    """An IP属地 as the short name a review page shows: ``广东省`` / ``广东`` -> ``广东``.

    Full-width characters folded (NFKC), white space and a leading ``IP属地:``
    label dropped; the suffixes 省, 市, 自治区 (with its people's name:
    ``广西壮族自治区`` -> ``广西``) and 特别行政区 dropped, and a leading 中国
    (``中国香港`` -> ``香港``, ``中国广东`` -> ``广东``; ``中国`` alone kept); countries
    kept as written. Empty and
    :data:`UNKNOWN_REGIONS` (未知, ``-`` ...) -> null.
    """
    t = text.str.normalize("NFKC").str.replace_all(r"\s+", "")
    t = t.str.replace(r"^(?i:ip)?(?:归属地|属地)[:：]?", "")
    t = t.str.replace(r"^中国(.{2,})$", "${1}")
    t = t.str.replace(_REGION_SUFFIX, "${1}")
    unknown = t.str.to_lowercase().is_in(list(UNKNOWN_REGIONS))
    return pl.when((t != "") & ~unknown).then(t)


def clean_timestamp_text(text: pl.Expr) -> pl.Expr:
    """Rewrite the accepted timestamp spellings into ``YYYY-MM-DD[ HH:MM[:SS[.f]]][+HH:MM]``."""
    return (
        text.str.strip_chars()
        .str.replace(r"^([0-9]{4})[/.]([0-9]{1,2})[/.]([0-9]{1,2})", "${1}-${2}-${3}")
        .str.replace(r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(?:[Tt]| +)", "${1} ")
        .str.replace(r"\s*(?:[Zz]|UTC|GMT)$", "+00:00")
        .str.replace(r"\s+([+-][0-9]{2}:?[0-9]{2})$", "${1}")
    )


def localise(naive: pl.Expr, zone: str) -> pl.Expr:
    """Naive wall-clock times in ``zone`` as UTC (a time a DST change skips -> null)."""
    if zone == "UTC":
        return naive.dt.replace_time_zone("UTC")
    local = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def parse_clean_timestamp(s: pl.Expr, zone: str = "UTC") -> pl.Expr:
    """Cleaned timestamp text to Datetime("us", "UTC"); naive times are in ``zone``, unparseable -> null."""

    def parse(fmt: str) -> pl.Expr:
        return s.str.to_datetime(fmt, strict=False, exact=True, time_unit="us")

    aware = pl.coalesce(
        parse("%Y-%m-%d %H:%M:%S%.f%z"),
        parse("%Y-%m-%d %H:%M%z"),
    ).dt.convert_time_zone("UTC")
    naive = pl.coalesce(
        parse("%Y-%m-%d %H:%M:%S%.f"),
        parse("%Y-%m-%d %H:%M"),
        parse("%Y-%m-%d"),
    )
    return pl.coalesce(aware, localise(naive, zone))


def temporal_to_utc(col: pl.Expr, dtype: pl.DataType, zone: str = "UTC") -> pl.Expr:
    """A Datetime (any unit/zone; naive = in ``zone``) or Date column as Datetime("us", "UTC")."""
    if isinstance(dtype, pl.Datetime):
        tz = dtype.time_zone
        as_us = col.cast(pl.Datetime("us", tz))
        if tz is None:
            return localise(as_us, zone)
        return as_us.dt.convert_time_zone("UTC")
    return localise(col.cast(pl.Datetime("us")), zone)


def parse_timestamp(name: str, dtype: pl.DataType, zone: str = "UTC") -> pl.Expr:
    """Column ``name`` (text, Datetime or Date as stored) as Datetime("us", "UTC"); naive in ``zone``."""
    if isinstance(dtype, pl.Datetime | pl.Date):
        return temporal_to_utc(pl.col(name), dtype, zone)
    return parse_clean_timestamp(clean_timestamp_text(as_text(name, dtype)), zone)
