"""Loading reviews into the input contract.

Inputs are Parquet (one file, a directory - hive partitions such as
``dt=2025-01-01/part.parquet`` allowed - or a glob) or UTF-8 CSV (Chinese
headers and a BOM allowed) whose headers are renamed onto contract names with a
column mapping such as ``"订单号=order_id,评价时间=created_at"``.

Every file is scanned on its own, renamed, and its columns normalised to the
contract types (:data:`detector.schema.CONTRACT`) with non-strict casts, so
files with different physical types (integer ids here, string ids there) mix
freely. The files are then concatenated in sorted path order; that order, then
row order within a file, is the *input order* that decides which copy of a
duplicated ``review_id`` is kept.

Every row is either scored or rejected with one reason, never dropped: a bad
row gets a ``_reject_reason`` (the first that applies, in this order):

1. null or empty key (``review_id``, ``shop_id``, ``product_id``, ``user_id``)
2. rating missing, not an integer, or outside 1-5
3. ``created_at`` null or unparseable
4. duplicate ``review_id`` (the first occurrence among rows passing 1-3 is kept)
5. invalid ``ip`` (null is fine)
6. a DSR score outside 1-5 or not an integer (null is fine)
7. unparseable ``delivered_at`` (null is fine)

Problems with a whole file (missing required column, unreadable or corrupt
file, nonexistent path, nothing matched, no rows) raise :class:`InputError`,
whose message names the file or column and says what to do. An input whose
every row is rejected raises :class:`NoRowsError` (an ``InputError``) holding
the rejected rows, so the scan still writes ``rejected.parquet`` with the
reasons.

Column names: columns outside the contract are carried through under their
own names, whatever they are (``_rid``, ``_t``, ``score``, ``flagged`` ...):
the loader's own working columns start with ``__rd_``, a prefix it owns (an
input column named ``__rd_*`` or ``_reject_reason`` is refused with a
``--columns`` rename to use), and the scan never reads a carried column: the
feature stage keeps only the contract columns its steps name and derives its
own ``_`` columns from them (:data:`features.prepare.DERIVED`), and the
outputs hold no input column but in ``rejected.parquet``, where an input
column named ``reason`` is kept as ``input_reason`` (or ``input_reason_2``
... when that name is taken too).
"""

from __future__ import annotations

import codecs
import glob
import os
import re
import urllib.parse
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from detector.schema import CONTRACT, DSR_COLUMNS, OPTIONAL, REQUIRED, UTC_DATETIME
from features.ipaddr import ip_is_valid

__all__ = [
    "InputError",
    "LoadedInput",
    "NoRowsError",
    "load_reviews",
    "parse_column_map",
    "resolve_inputs",
    "scan_reviews",
]

KEY_COLUMNS: tuple[str, ...] = ("review_id", "shop_id", "product_id", "user_id")
#: Id-like columns: whitespace stripped (exports pad ids with tabs to keep Excel from
#: mangling them), empty strings become null.
_ID_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "order_id", "device_id")
REASON_COLUMN = "_reject_reason"
DUPLICATE_REASON = "duplicate review_id (first kept)"

_SUFFIXES = {".parquet": "parquet", ".csv": "csv"}
_GLOB_CHARS = ("*", "?", "[")
#: Partition keys whose value is the review date; partitions far outside
#: [since, until) are skipped without being opened.
_DATE_PARTITION_KEYS = ("dt", "ds", "date")
#: Partition dates are read as local dates of unknown zone: keep a day either side.
_PARTITION_SLACK = timedelta(days=1)
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_MAX_SHOWN = 80  # longest raw value quoted in a reject reason

# Internal column names; the prefix keeps them apart from anything in an input.
_P = "__rd_"
_ROW = f"{_P}row"
_R_EARLY = f"{_P}reason_early"  # reasons 1-3
_R_LATE = f"{_P}reason_late"  # reasons 5-7
_FROW = f"{_P}frow"  # row position in its file
_FILE = f"{_P}file"  # position of the file in the input
_DUP = f"{_P}dup"
_BAD = f"{_P}bad"
_ID = f"{_P}id"  # review_id as normalised (the rejects show it as read)
_CLAIM = f"{_P}claim"  # rejected by checks 5-7 only, and its id's first row passing 1-3

#: Headers seen in seller-centre exports, used only to suggest a --columns mapping.
_HEADER_HINTS: dict[str, tuple[str, ...]] = {
    "review_id": ("评价ID", "评价id", "评价编号", "评论ID", "评论id", "评论编号", "评价单号"),
    "shop_id": ("店铺", "店铺ID", "店铺id", "店铺编号", "店铺名称", "商家", "商家ID"),
    "product_id": ("商品ID", "商品id", "商品编号", "宝贝ID", "宝贝id", "商品", "SKU", "sku"),
    "user_id": ("买家", "买家ID", "买家id", "买家昵称", "用户ID", "用户id", "用户", "会员名"),
    "rating": ("评分", "星级", "评价星级", "商品评分", "打分"),
    "created_at": ("评价时间", "评论时间", "创建时间", "时间"),
    "text": ("评价内容", "评论内容", "内容"),
    "order_id": ("订单号", "订单编号", "订单ID", "订单id"),
    "ip": ("IP", "IP地址", "ip地址"),
    "device_id": ("设备ID", "设备id", "设备号"),
    "delivered_at": ("签收时间", "收货时间"),
}


class InputError(Exception):
    """A problem with the input; the message names the file or column and what to do."""

    exit_code = 2


class NoRowsError(InputError):
    """No review to score: the input (or its time window) has no rows, or every row was rejected.

    Attributes
    ----------
    rejected : pl.DataFrame
        The rejected rows with their ``reason`` (no rows when the input had none).
    n_input : int
        Rows read (all of them rejected).
    files : list of Path
        The input files.
    """

    def __init__(
        self,
        message: str,
        rejected: pl.DataFrame | None = None,
        n_input: int = 0,
        files: Sequence[Path] = (),
    ):
        super().__init__(message)
        self.rejected = (
            rejected
            if rejected is not None
            else pl.DataFrame(schema={"review_id": pl.String, "reason": pl.String})
        )
        self.n_input = n_input
        self.files = list(files)


@dataclass
class LoadedInput:
    """Reviews split into scored and rejected rows."""

    reviews: pl.DataFrame
    rejected: pl.DataFrame
    files: list[Path]
    n_input: int
    present_optional: list[str] = field(default_factory=list)
    #: The rejected rows (``row``: position in ``rejected``; ``review_id`` as
    #: normalised) rejected by checks 5-7 only that are their id's first row passing
    #: checks 1-3: the copy that counts as first, so a copy of the id in a file loaded
    #: on its own later is a duplicate (out-of-core scans load file by file and use
    #: this to reject such copies as one load of every file would).
    claims: pl.DataFrame | None = None


# --------------------------------------------------------------------------- mapping


def parse_column_map(spec: str | None) -> dict[str, str]:
    """Parse ``"订单号=order_id,评价时间=created_at"`` into ``{"订单号": "order_id", ...}``.

    Items are separated by ``,`` (or a full-width ``，`` or a newline); white space
    around names is ignored, empty items are skipped. A missing ``=``, an empty
    name, a header given twice or two headers onto one name raise
    :class:`InputError`.
    """
    if spec is None or not spec.strip():
        return {}
    mapping: dict[str, str] = {}
    for raw_item in re.split(r"[,，\n]", spec):
        item = raw_item.strip()
        if not item:
            continue
        source, sep, target = item.replace("＝", "=").partition("=")
        source, target = source.strip().lstrip("\ufeff"), target.strip()
        if not sep or not source or not target or "=" in target:
            raise InputError(
                f"bad column mapping item {item!r} in --columns {spec!r}; "
                "write it as 'FILE_HEADER=contract_name', e.g. '评分=rating,评价时间=created_at'"
            )
        if source in mapping:
            raise InputError(f"column mapping names header {source!r} twice in --columns {spec!r}")
        if target in mapping.values():
            others = [s for s, t in mapping.items() if t == target]
            raise InputError(
                f"column mapping maps both {others[0]!r} and {source!r} onto {target!r} "
                f"in --columns {spec!r}; keep one"
            )
        mapping[source] = target
    return mapping


# --------------------------------------------------------------------------- files


def _supported(path: Path) -> bool:
    return path.suffix.lower() in _SUFFIXES


def _expand_dir(root: Path) -> list[Path]:
    """Supported files under ``root``, skipping hidden and ``_``-prefixed names (``_SUCCESS``, temp files)."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            p = Path(dirpath, name)
            if not name.startswith((".", "_")) and _supported(p):
                out.append(p)
    return out


def resolve_inputs(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand files, directories (recursively ``*.parquet`` / ``*.csv``) and globs into a sorted file list.

    Raises :class:`InputError` for a path that does not exist, a directory or glob
    with no Parquet/CSV file, a file of another type, or a file that cannot be read.
    """
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not items:
        raise InputError("no input given; pass a Parquet/CSV file, a directory or a glob")
    found: set[Path] = set()
    for item in items:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            files = _expand_dir(path)
            if not files:
                raise InputError(f"no .parquet or .csv files under directory {text}")
        elif path.is_file():
            if not _supported(path):
                raise InputError(
                    f"unsupported input file {text}: expected a .parquet or .csv file "
                    f"(got '{path.suffix or 'no suffix'}')"
                )
            files = [path]
        elif any(c in text for c in _GLOB_CHARS):
            files = []
            for match in glob.glob(os.path.expanduser(text), recursive=True):
                m = Path(match)
                if m.is_dir():
                    files.extend(_expand_dir(m))
                elif m.is_file() and _supported(m):
                    files.append(m)
            if not files:
                raise InputError(f"no .parquet or .csv files match {text!r}")
        elif path.exists():
            raise InputError(f"input {text} is neither a file nor a directory")
        else:
            raise InputError(f"input path does not exist: {text}")
        for f in files:
            if not os.access(f, os.R_OK):
                raise InputError(f"cannot read input file {f}: permission denied")
        found.update(files)
    return sorted(found)


def _hive_partitions(path: Path) -> dict[str, str | None]:
    """``key=value`` directories directly above ``path``, outermost first (values URL-decoded)."""
    parts: list[tuple[str, str | None]] = []
    for parent in path.parents:
        key, sep, value = parent.name.partition("=")
        if not sep or not key:
            break
        decoded = urllib.parse.unquote(value)
        parts.append((urllib.parse.unquote(key), None if decoded == _HIVE_NULL else decoded))
    return dict(reversed(parts))


def _partition_date(value: str | None) -> date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    return None


def _partition_in_window(
    partitions: dict[str, str | None], since: datetime | None, until: datetime | None
) -> bool:
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


# --------------------------------------------------------------------------- time window


def _to_utc(value: datetime | date | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"cannot parse {name} {text!r}; use ISO-8601 such as 2025-01-02 or "
                "2025-01-02T13:04:05+08:00 (times without an offset are UTC)"
            ) from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _ceil_date(t: datetime) -> date:
    """First date whose UTC midnight is >= ``t``."""
    d = t.date()
    return d if t == datetime(d.year, d.month, d.day, tzinfo=UTC) else d + timedelta(days=1)


def _raw_window_filter(
    name: str, dtype: pl.DataType, since: datetime | None, until: datetime | None
) -> pl.Expr | None:
    """A window filter on a temporal column as stored in the file, so the scan can prune row groups.

    Rows with a null time pass (they are rejected later, not dropped).
    """
    col = pl.col(name)
    conds: list[pl.Expr] = []
    if isinstance(dtype, pl.Datetime):
        tz = dtype.time_zone
        target = pl.Datetime(dtype.time_unit, tz)
        if tz is None:
            bounds = [None if t is None else t.replace(tzinfo=None) for t in (since, until)]
        else:
            try:
                zone = zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return None  # e.g. a fixed offset zone: filter after conversion instead
            bounds = [None if t is None else t.astimezone(zone) for t in (since, until)]
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
    if not conds:
        return None
    inside = conds[0] if len(conds) == 1 else conds[0] & conds[1]
    return col.is_null() | inside


def _window_filter(since: datetime | None, until: datetime | None) -> pl.Expr | None:
    col = pl.col("created_at")
    conds: list[pl.Expr] = []
    if since is not None:
        conds.append(col >= pl.lit(since, dtype=UTC_DATETIME))
    if until is not None:
        conds.append(col < pl.lit(until, dtype=UTC_DATETIME))
    if not conds:
        return None
    inside = conds[0] if len(conds) == 1 else conds[0] & conds[1]
    return col.is_null() | inside


# --------------------------------------------------------------------------- normalisation


def _castable(dtype: pl.DataType) -> bool:
    """Whether a column of this type can be cast to String."""
    # Polars has no Duration -> String cast (it fails at collect, naming no column)
    return not (
        dtype.is_nested() or isinstance(dtype, pl.Binary | pl.Object | pl.Null | pl.Duration)
    )


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
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


def _shown(text: pl.Expr) -> pl.Expr:
    return text.str.slice(0, _MAX_SHOWN)


def _clean_timestamp_text(text: pl.Expr) -> pl.Expr:
    """Rewrite the accepted timestamp spellings into ``YYYY-MM-DD[ HH:MM[:SS[.f]]][+HH:MM]``."""
    return (
        text.str.strip_chars()
        .str.replace(r"^([0-9]{4})[/.]([0-9]{1,2})[/.]([0-9]{1,2})", "${1}-${2}-${3}")
        .str.replace(r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(?:[Tt]| +)", "${1} ")
        .str.replace(r"\s*(?:[Zz]|UTC|GMT)$", "+00:00")
        .str.replace(r"\s+([+-][0-9]{2}:?[0-9]{2})$", "${1}")
    )


def _parse_clean_timestamp(s: pl.Expr) -> pl.Expr:
    """Cleaned timestamp text to Datetime("us", "UTC"); naive times are UTC, unparseable -> null."""

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
    ).dt.replace_time_zone("UTC")
    return pl.coalesce(aware, naive)


def _temporal_to_utc(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A Datetime (any unit/zone; naive = UTC) or Date column as Datetime("us", "UTC")."""
    if isinstance(dtype, pl.Datetime):
        tz = dtype.time_zone
        as_us = col.cast(pl.Datetime("us", tz))
        if tz is None:
            return as_us.dt.replace_time_zone("UTC")
        return as_us.dt.convert_time_zone("UTC")
    return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


_SCORE_COLUMNS: tuple[str, ...] = ("rating", *DSR_COLUMNS)
_TIME_COLUMNS: tuple[str, ...] = tuple(c for c, t in CONTRACT.items() if t == UTC_DATETIME)


def _raw_name(c: str) -> str:
    return f"{_P}raw_{c}"


def _normalise(
    lf: pl.LazyFrame,
    types: dict[str, pl.DataType],
    contract: list[str],
    carried: list[str],
    keep_raw: bool,
    flags_only: bool = False,
) -> pl.LazyFrame:
    """Contract columns in contract types, carried columns, raw texts (if kept) and reasons.

    Built in stages of ``with_columns`` so that every intermediate (stripped
    text, parsed number, cleaned timestamp) is computed once per row.

    With ``flags_only`` the two reason columns are Booleans (is there a
    problem) instead of messages: the messages are formatted for every row
    (Polars evaluates every branch), which cost more than the whole load, so
    :func:`load_reviews` flags rows first and words the reasons of the
    rejected rows only, in a second pass over those rows.
    """
    raw = {c: pl.col(_raw_name(c)) for c in contract}
    txt = {c: pl.col(f"{_P}txt_{c}") for c in contract}
    val = {c: pl.col(f"{_P}val_{c}") for c in contract}
    ip_ok = pl.col(f"{_P}ip_ok")

    def temporal(c: str) -> bool:
        return isinstance(types[c], pl.Datetime | pl.Date)

    def numeric(c: str) -> bool:
        # read straight as numbers when only flags are wanted (same values as
        # via their text: integral floats, NaN and inf all round-trip)
        return flags_only and c in _SCORE_COLUMNS and (types[c].is_integer() or types[c].is_float())

    # 1. every contract column as text, as read
    lf = lf.with_columns(_as_text(c, types[c]).alias(_raw_name(c)) for c in contract)

    # 2. stripped text (empty -> null) of ids, scores and ip; cleaned timestamp text
    stage: list[pl.Expr] = []
    for c in contract:
        if numeric(c):
            continue
        if c in _ID_COLUMNS or c in _SCORE_COLUMNS or c == "ip":
            stripped = raw[c].str.strip_chars()
            stage.append(pl.when(stripped != "").then(stripped).alias(f"{_P}txt_{c}"))
        elif c in _TIME_COLUMNS and not temporal(c):
            stage.append(_clean_timestamp_text(raw[c]).alias(f"{_P}txt_{c}"))
    lf = lf.with_columns(stage)

    # 3. parsed values
    stage = []
    for c in contract:
        if numeric(c):
            stage.append(pl.col(c).cast(pl.Float64).alias(f"{_P}val_{c}"))
        elif c in _SCORE_COLUMNS:
            stage.append(txt[c].cast(pl.Float64, strict=False).alias(f"{_P}val_{c}"))
        elif c in _TIME_COLUMNS:
            value = (
                _temporal_to_utc(pl.col(c), types[c])
                if temporal(c)
                else _parse_clean_timestamp(txt[c])
            )
            stage.append(value.alias(f"{_P}val_{c}"))
        elif c == "ip":
            stage.append(ip_is_valid(txt[c]).alias(f"{_P}ip_ok"))
    lf = lf.with_columns(stage)

    # 4. final values and checks: (condition, message) pairs, first true wins
    values: list[pl.Expr] = []
    checks: dict[str, list[tuple[pl.Expr, pl.Expr]]] = {}
    for c in contract:
        # null as read; typed temporal columns are tested without their text
        is_null = pl.col(c).is_null() if temporal(c) or numeric(c) else raw[c].is_null()
        if c in _ID_COLUMNS or c == "ip":
            values.append(txt[c].alias(c))
        elif c in _SCORE_COLUMNS:
            num = val[c]
            present = ~is_null if numeric(c) else txt[c].is_not_null()
            integral = (num.is_finite() & (num == num.round(0))).fill_null(False)
            in_range = ((num >= 1) & (num <= 5)).fill_null(False)
            values.append(pl.when(integral & in_range).then(num).cast(pl.Int8).alias(c))
            shown = None if numeric(c) else txt[c]
            problems = [
                (
                    ~integral,
                    lambda c=c, t=shown: pl.format(
                        "{} '{}' is not an integer", pl.lit(c), _shown(t)
                    ),
                ),
                (~in_range, lambda c=c, t=shown: pl.format("{} {} outside 1-5", pl.lit(c), t)),
            ]
            if c == "rating":
                checks[c] = [(~present, lambda: pl.lit("null rating")), *problems]
            else:
                checks[c] = [(present & cond, msg) for cond, msg in problems]
        elif c in _TIME_COLUMNS:
            values.append(val[c].alias(c))
            bad = (
                val[c].is_null(),
                lambda c=c: pl.format("unparseable {} '{}'", pl.lit(c), _shown(raw[c])),
            )
            if c == "created_at":
                checks[c] = [(is_null, lambda: pl.lit("null created_at")), bad]
            else:
                checks[c] = [(~is_null & bad[0], bad[1])]
        else:
            values.append(raw[c].cast(CONTRACT[c]).alias(c))
        if c in KEY_COLUMNS:
            checks[c] = [
                (is_null, lambda c=c: pl.lit(f"null {c}")),
                (txt[c].is_null(), lambda c=c: pl.lit(f"empty {c}")),
            ]
        if c == "ip":
            checks[c] = [
                (
                    txt[c].is_not_null() & ~ip_ok,
                    lambda c=c: pl.format("invalid ip '{}'", _shown(txt[c])),
                )
            ]

    def reason(names) -> pl.Expr:
        pairs = [pair for c in names if c in checks for pair in checks[c]]
        if flags_only:
            # messages are lambdas so that flags never build them
            return pl.any_horizontal(
                [cond.fill_null(False) for cond, _ in pairs] or [pl.lit(False)]
            )
        if not pairs:
            return pl.lit(None, pl.String)
        chain = pl.when(pairs[0][0]).then(pairs[0][1]())
        for cond, msg in pairs[1:]:
            chain = chain.when(cond).then(msg())
        return chain.otherwise(pl.lit(None, pl.String)).cast(pl.String)

    return lf.select(
        *values,
        *[pl.col(c) for c in carried],
        *([raw[c] for c in contract] if keep_raw else []),
        reason((*KEY_COLUMNS, "rating", "created_at")).alias(_R_EARLY),
        reason(("ip", *DSR_COLUMNS, "delivered_at")).alias(_R_LATE),
    )


# --------------------------------------------------------------------------- scanning


def _sniff_separator(path: Path) -> str:
    """Pick the CSV separator from the header line; check the start of the file is UTF-8."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise InputError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text; re-save it as UTF-8 (exports in GBK/GB18030 "
            "can be converted with: iconv -f GB18030 -t UTF-8)"
        ) from None
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", "\t", ";", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def _open(path: Path) -> pl.LazyFrame:
    if _SUFFIXES[path.suffix.lower()] == "parquet":
        return pl.scan_parquet(path, hive_partitioning=False, glob=False)
    lf = pl.scan_csv(
        path,
        glob=False,  # a file named "x[1].csv" is that file, not a pattern
        separator=_sniff_separator(path),
        infer_schema=False,  # keep ids such as "00123" as written
        encoding="utf8",
        raise_if_empty=True,
    )
    return lf


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _missing_message(
    path: Path, missing: list[str], found: list[str], mapping: dict[str, str]
) -> str:
    pairs = []
    used = set(mapping)
    for name in missing:
        hint = next((h for h in _HEADER_HINTS.get(name, ()) if h in found and h not in used), None)
        used.add(hint or "")
        pairs.append(f"{hint or 'YOUR_HEADER'}={name}")
    names = ", ".join(f"'{m}'" for m in missing)
    shown = ", ".join(found) if found else "(none)"
    if len(missing) == 1:
        what, it = f"missing required column {names}", "it"
    else:
        what, it = f"missing required columns {names}", "them"
    return f"{what} in {path}; map {it} with --columns '{','.join(pairs)}' (found columns: {shown})"


@dataclass
class _FilePlan:
    path: Path
    frame: pl.LazyFrame
    contract: list[str]  # contract columns present (after mapping)
    carried: list[str]  # other columns, in file order
    raw_types: dict[str, pl.DataType]
    source: pl.LazyFrame  # mapped columns and _FROW, before any filter

    def reasons(self, rows: pl.Series) -> pl.DataFrame:
        """Raw texts and worded reasons of the rows at file positions ``rows``."""
        lf = (
            self.source.filter(pl.col(_FROW).is_in(rows.implode()))
            if rows.len()
            else self.source.head(0)
        )
        out = _normalise(
            lf,
            self.raw_types,
            self.contract,
            [*self.carried, _FROW],
            keep_raw=True,
        )
        return out.collect()


def _plan_file(
    path: Path,
    mapping: dict[str, str],
    since: datetime | None,
    until: datetime | None,
    keep_raw: bool,
    flags_only: bool = False,
) -> _FilePlan:
    try:
        lf = _open(path)
        schema = lf.collect_schema()
    except InputError:
        raise
    except Exception as exc:  # polars raises several error types for a bad file
        raise InputError(
            f"cannot read input file {path}: {_describe(exc)}; check that it is a complete, "
            "valid Parquet or UTF-8 CSV file"
        ) from exc

    # Tidy CSV headers (stray spaces), then apply the mapping.
    renames: dict[str, str] = {}
    for name in schema.names():
        clean = name.strip().lstrip("\ufeff").strip()
        renames[name] = mapping.get(clean, mapping.get(name, clean))
    targets = list(renames.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        sources = [s for s, t in renames.items() if t == dupes[0]]
        raise InputError(
            f"in {path}, columns {', '.join(repr(s) for s in sources)} would all be named "
            f"{dupes[0]!r} after the column mapping; map only one of them"
        )
    lf = lf.rename({s: t for s, t in renames.items() if s != t})
    types = {renames[n]: dt for n, dt in schema.items()}

    for key, value in _hive_partitions(path).items():
        if key not in types:
            target = mapping.get(key, key)
            if target not in types:
                lf = lf.with_columns(pl.lit(value, pl.String).alias(target))
                types[target] = pl.String()

    reserved = [n for n in types if n.startswith(_P) or n == REASON_COLUMN]
    if reserved:
        raise InputError(
            f"column {reserved[0]!r} in {path} uses a name the loader reserves (names starting "
            f"with {_P!r} and {REASON_COLUMN!r}); rename it with --columns '{reserved[0]}=NEW_NAME'"
        )

    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise InputError(_missing_message(path, missing, list(types), mapping))
    contract = [c for c in CONTRACT if c in types]
    for c in contract:
        if not _castable(types[c]) and not isinstance(types[c], pl.Null):
            raise InputError(
                f"column {c!r} in {path} has type {types[c]}, which cannot be read as "
                f"{CONTRACT[c]}; map a different column onto {c!r}"
            )
    carried = [c for c in types if c not in CONTRACT]

    # positions in the file, to find rejected rows again (see _FilePlan.reasons)
    source = lf.with_row_index(_FROW)
    lf = source if flags_only else lf
    pushdown = _raw_window_filter("created_at", types["created_at"], since, until)
    if pushdown is not None:
        lf = lf.filter(pushdown)

    lf = _normalise(
        lf, types, contract, [*carried, *([_FROW] if flags_only else [])], keep_raw, flags_only
    )
    window = _window_filter(since, until)
    if window is not None:
        lf = lf.filter(window)
    return _FilePlan(path, lf, contract, carried, types, source)


@dataclass
class _Plan:
    frame: pl.LazyFrame  # contract, carried, raw copies (if kept), REASON_COLUMN
    files: list[Path]
    file_plans: list[_FilePlan]
    contract: list[str]
    carried: list[str]
    original: list[str]  # columns as found (after mapping), in first-seen order


def _plan(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    columns: dict[str, str] | None,
    since: datetime | date | str | None,
    until: datetime | date | str | None,
    keep_raw: bool,
    flags_only: bool = False,
) -> _Plan:
    lo, hi = _to_utc(since, "since"), _to_utc(until, "until")
    if lo is not None and hi is not None and lo >= hi:
        raise InputError(
            f"empty time window: since {lo.isoformat()} is not before until {hi.isoformat()}"
        )
    mapping = {k.strip(): v.strip() for k, v in (columns or {}).items()}
    resolved = resolve_inputs(inputs)
    files = [p for p in resolved if _partition_in_window(_hive_partitions(p), lo, hi)]
    if not files:
        raise NoRowsError(
            f"none of the {len(resolved)} input file(s) has a date partition between "
            f"{lo.isoformat() if lo else '-inf'} and {hi.isoformat() if hi else '+inf'}"
        )
    plans = [_plan_file(p, mapping, lo, hi, keep_raw, flags_only) for p in files]

    contract_set = {c for p in plans for c in p.contract}
    contract = [c for c in CONTRACT if c in contract_set]
    carried: list[str] = []
    original: list[str] = []
    for p in plans:
        carried.extend(c for c in p.carried if c not in carried)
        original.extend(c for c in p.raw_types if c not in original)

    frames = [p.frame for p in plans]
    if flags_only:
        frames = [f.with_columns(pl.lit(i, pl.UInt32).alias(_FILE)) for i, f in enumerate(frames)]
    frame = pl.concat(frames, how="diagonal_relaxed")
    try:
        frame.collect_schema()
    except Exception as exc:
        raise InputError(
            f"cannot combine the input files: {_describe(exc)}; a column has incompatible "
            "types in different files"
        ) from exc

    if flags_only:
        ok_early = ~pl.col(_R_EARLY)
        first = pl.when(ok_early).then(pl.col(_ROW)).min().over("review_id")
        dup = (ok_early & (pl.col(_ROW) != first)).fill_null(False)
        frame = frame.with_row_index(_ROW).select(
            *[pl.col(c) for c in contract],
            *[pl.col(c) for c in carried],
            (pl.col(_R_EARLY) | dup | pl.col(_R_LATE)).alias(_BAD),
            dup.alias(_DUP),
            (ok_early & ~dup & pl.col(_R_LATE)).fill_null(False).alias(_CLAIM),
            pl.col(_FILE),
            pl.col(_FROW),
        )
        return _Plan(frame, files, plans, contract, carried, original)

    ok_early = pl.col(_R_EARLY).is_null()
    first = pl.when(ok_early).then(pl.col(_ROW)).min().over("review_id")
    duplicate = pl.when(ok_early & (pl.col(_ROW) != first)).then(pl.lit(DUPLICATE_REASON))
    reason = pl.coalesce(pl.col(_R_EARLY), duplicate, pl.col(_R_LATE)).alias(REASON_COLUMN)
    raw_cols = [f"{_P}raw_{c}" for c in contract] if keep_raw else []
    frame = frame.with_row_index(_ROW).select(
        *[pl.col(c) for c in contract], *[pl.col(c) for c in carried], *raw_cols, reason
    )
    return _Plan(frame, files, plans, contract, carried, original)


def scan_reviews(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    columns: dict[str, str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
) -> tuple[pl.LazyFrame, list[Path]]:
    """Lazily read reviews into the contract.

    Returns the frame - contract columns present (contract types), then the other
    columns untouched, then a String ``_reject_reason`` that is null for valid rows -
    and the files it reads. Rows with ``created_at`` outside ``[since, until)``
    are left out (rows whose ``created_at`` is null or unparseable stay, to be
    rejected); the filter reaches the Parquet scan when ``created_at`` is stored
    as a Datetime or Date, and files in ``dt=``/``ds=``/``date=`` partitions more
    than a day outside the window are not opened at all. Naive ``since``/``until``
    are UTC. Schemas are checked eagerly: a missing required column or an
    unreadable file raises :class:`InputError`.
    """
    plan = _plan(inputs, columns, since, until, keep_raw=False)
    return plan.frame, plan.files


def _failing_file(plan: _Plan, exc: BaseException) -> InputError:
    """Find which file made a collect fail (only runs after a failure)."""
    for fp in plan.file_plans:
        try:
            fp.frame.collect()
        except Exception as inner:
            return InputError(
                f"cannot read input file {fp.path}: {_describe(inner)}; check that it is a "
                "complete, valid Parquet or UTF-8 CSV file"
            )
    return InputError(f"cannot read the input: {_describe(exc)}")


def load_reviews(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    columns: dict[str, str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
) -> LoadedInput:
    """Read reviews and split them into valid rows and rejected rows with reasons.

    ``reviews`` holds the valid rows: contract columns present, in contract order
    and types, then the other columns untouched. ``rejected`` holds the rest:
    ``review_id`` and the other columns as they were read (as strings where
    possible), then ``reason``. Raises :class:`InputError` when no rows remain.
    """
    plan = _plan(inputs, columns, since, until, keep_raw=False, flags_only=True)
    try:
        df = plan.frame.collect()
    except Exception as exc:
        raise _failing_file(plan, exc) from exc
    if df.height == 0:
        raise no_rows_error(plan.files, since, until)

    bad = df.get_column(_BAD)
    reviews = df.select(*plan.contract, *plan.carried)
    if bad.any():
        # filtering copies every column: only pay for it when rows are rejected
        reviews = reviews.filter(~bad)
    rejected, claims = _rejected(
        plan, df.filter(bad).select(_FILE, _FROW, _DUP, _CLAIM, pl.col("review_id").alias(_ID))
    )

    present_optional = [c for c in OPTIONAL if c in plan.contract]
    return LoadedInput(
        reviews=reviews,
        rejected=rejected,
        files=plan.files,
        n_input=df.height,
        present_optional=present_optional,
        claims=claims,
    )


def _files_shown(files: Sequence[Path]) -> str:
    shown = ", ".join(str(p) for p in files[:3])
    return shown + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def no_rows_error(files: Sequence[Path], since=None, until=None) -> NoRowsError:
    """The error for inputs without a single review row (in the time window, when one is set)."""
    window, todo = "", "check that the input is the file you meant and holds reviews"
    if since is not None or until is not None:
        window = f" with created_at in [{since or '-inf'}, {until or '+inf'})"
        todo = "widen --since/--until, or " + todo
    return NoRowsError(f"no review rows{window} in {_files_shown(files)}; {todo}", files=files)


def reason_kind(reason: pl.Expr) -> pl.Expr:
    """A reject reason without the value it quotes ("rating 'x' is not an integer" ->
    "rating not an integer"), to count reasons by kind."""
    return (
        reason.str.replace(r"(?s)^(\S+) '.*' is not an integer$", "${1} not an integer")
        .str.replace(r"(?s)^(\S+) .* outside 1-5$", "${1} outside 1-5")
        .str.replace(r"(?s)^(unparseable \S+|invalid ip) '.*'$", "${1}")
    )


def reason_counts(rejected: pl.DataFrame) -> pl.DataFrame:
    """``kind``, ``rows`` and an ``example`` reason per kind of reject reason, most rows first."""
    return (
        rejected.group_by(reason_kind(pl.col("reason")).alias("kind"))
        .agg(pl.len().alias("rows"), pl.col("reason").first().alias("example"))
        .sort(["rows", "kind"], descending=[True, False])
    )


def all_rejected_error(
    files: Sequence[Path], n_input: int, rejected: pl.DataFrame, written: Path | None = None
) -> NoRowsError:
    """The error for an input whose every row was rejected: the reasons counted by kind,
    with an example each, and where the rejected rows were written."""
    counts = reason_counts(rejected)
    shown = "; ".join(
        f"{n:,} {kind}" + (f" (e.g. {example})" if example != kind else "")
        for kind, n, example in counts.head(5).iter_rows()
    )
    if counts.height > 5:
        shown += f"; {counts.height - 5} more kind(s) of reason"
    where = f"; every row and its reason is in {written}" if written is not None else ""
    return NoRowsError(
        f"every one of the {n_input:,} rows in {_files_shown(files)} was rejected, so nothing "
        f"was scored: {shown}{where}. Fix those columns in the input, or map the right "
        "columns onto them with --columns 'YOUR_HEADER=name', and scan again",
        rejected=rejected,
        n_input=n_input,
        files=files,
    )


def _rejected(plan: _Plan, bad: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rejected rows as read (strings where possible), with the reason for each,
    and which of them claim their ``review_id`` (see :attr:`LoadedInput.claims`).

    ``bad`` holds the file and file position of each rejected row, whether
    it repeats an earlier ``review_id`` and whether it claims its id; the
    reasons are worded here, for those rows only.
    """
    parts = []
    for i, fp in enumerate(plan.file_plans):
        rows = bad.filter(pl.col(_FILE) == i)
        part = fp.reasons(rows.get_column(_FROW)).join(
            rows.select(_FROW, _DUP, _CLAIM, _ID), on=_FROW, how="left"
        )
        duplicate = pl.when(pl.col(_DUP)).then(pl.lit(DUPLICATE_REASON))
        reason = pl.coalesce(pl.col(_R_EARLY), duplicate, pl.col(_R_LATE))
        parts.append(part.with_columns(reason.alias(REASON_COLUMN)).sort(_FROW))
    df = pl.concat(parts, how="diagonal_relaxed")

    raw_name = {c: f"{_P}raw_{c}" for c in plan.contract}
    order = ["review_id"] + [c for c in plan.original if c != "review_id"]
    # the input's own "reason" column is kept under a free name: "reason" is ours
    input_reason = next(
        n
        for n in ("input_reason", *(f"input_reason_{i}" for i in range(2, len(order) + 2)))
        if n not in order
    )
    rejected_cols: list[pl.Expr] = []
    for c in order:
        if c in raw_name:
            rejected_cols.append(pl.col(raw_name[c]).alias(c))
        else:
            dtype = df.schema[c]
            name = input_reason if c == "reason" else c
            expr = pl.col(c).cast(pl.String) if _castable(dtype) else pl.col(c)
            rejected_cols.append(expr.alias(name))
    claims = df.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), pl.col(_ID).alias("review_id")
    )
    claims = claims.filter(df.get_column(_CLAIM).fill_null(False))
    return df.select(*rejected_cols, pl.col(REASON_COLUMN).alias("reason")), claims
