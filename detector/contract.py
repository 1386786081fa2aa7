"""Loading reviews into the input contract.

Inputs are Parquet (one file, a directory - hive partitions such as
``dt=2025-01-01/part.parquet`` allowed - or a glob), UTF-8 CSV (Chinese
headers and a BOM allowed) or Excel (:mod:`detector.readers`), whose headers
are renamed onto contract names with a column mapping such as
``"订单号=order_id,评价时间=created_at"`` and/or a seller-centre preset
(:mod:`detector.presets`). How to read them is one :class:`InputSpec`
(mapping, preset, shop, time zone, order exports, time window). Columns an
export leaves out are derived (:mod:`detector.identities`: review id, shop,
pseudo-accounts behind masked nicknames) or joined from order exports
(:mod:`detector.orders`).

Every file is scanned on its own, renamed, and its columns normalised to the
contract types (:data:`detector.schema.CONTRACT`) with non-strict casts, so
files with different physical types (integer ids here, string ids there) mix
freely. The files are then concatenated in sorted path order; that order, then
row order within a file, is the *input order* that decides which copy of a
duplicated ``review_id`` is kept.

Every row is either scored or rejected with one reason, never dropped: a bad
row gets a ``_reject_reason`` (the first that applies, in this order):

1. null or empty key (``review_id``, ``shop_id``, ``product_id``, ``user_id``)
2. rating missing, not an integer, or outside 1-5 (words such as 五星 or 好评 are
   read as :data:`detector.presets.RATING_WORDS` says)
3. ``created_at`` null or unparseable
4. duplicate ``review_id`` (the first occurrence among rows passing 1-3 is kept)
5. invalid ``ip`` (null is fine; a masked ``117.136.*.*`` is kept)
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

from detector.errors import InputError
from detector.hashing import file_sha256
from detector.presets import PRESETS, Preset, header_key, match_headers
from detector.readers import SUFFIXES, open_table
from detector.schema import CONTRACT, DSR_COLUMNS, OPTIONAL, REQUIRED, UTC_DATETIME
from detector.values import as_text as _as_text
from detector.values import castable as _castable
from detector.values import clean_timestamp_text as _clean_timestamp_text
from detector.values import id_text
from detector.values import parse_clean_timestamp as _parse_clean_timestamp
from detector.values import rating_text as _rating_text
from detector.values import temporal_to_utc as _temporal_to_utc
from features.ipaddr import ip_is_valid, ip_masked

__all__ = [
    "InputError",
    "InputSpec",
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
#: The shop of a one-shop export (no shop column) when a preset is given without --shop.
DEFAULT_SHOP = "shop"

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


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else :class:`InputError`."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise InputError(
            f"unknown time zone {name!r}; give an IANA name such as Asia/Shanghai or UTC"
        ) from None
    return name


def _window_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


@dataclass(frozen=True)
class InputSpec:
    """How to read a scan's input: everything besides the file paths.

    Recorded in ``summary.json`` (``input``, :meth:`to_dict`) so that
    ``evidence`` and incremental runs re-read the input exactly as it was
    scanned (:meth:`from_dict`).

    Attributes
    ----------
    columns : dict, optional
        ``{file header: contract name}`` (``--columns``); overrides the preset.
    preset : str, optional
        A seller-centre export layout (:data:`detector.presets.PRESETS`).
    shop : str, optional
        The shop of an export without a shop column (``--shop``).
    timezone : str, optional
        IANA zone of naive times in the input; default :attr:`effective_timezone`.
    orders : tuple of str
        Order-export files joined on ``order_id`` (``--orders``).
    since, until : str or datetime, optional
        Only reviews created in ``[since, until)``; naive bounds are in the time zone.
    """

    columns: dict[str, str] | None = None
    preset: str | None = None
    shop: str | None = None
    timezone: str | None = None
    orders: tuple[str, ...] = ()
    since: datetime | date | str | None = None
    until: datetime | date | str | None = None

    def __post_init__(self) -> None:
        from detector.presets import PRESETS

        if self.preset is not None and self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        if self.timezone is not None:
            check_timezone(self.timezone)
        if self.shop is not None and not str(self.shop).strip():
            raise InputError("--shop needs a non-empty shop name")
        orders = (self.orders,) if isinstance(self.orders, str | os.PathLike) else self.orders
        object.__setattr__(self, "orders", tuple(os.fspath(o) for o in orders or ()))
        if self.columns is not None:
            object.__setattr__(self, "columns", dict(self.columns) or None)

    @property
    def effective_timezone(self) -> str:
        """The zone naive times are read in: the given one, else the preset's, else UTC."""
        if self.timezone is not None:
            return self.timezone
        if self.preset is not None:
            from detector.presets import PRESETS

            return PRESETS[self.preset].timezone
        return "UTC"

    def to_dict(self) -> dict:
        """A JSON-ready record (``since``/``until`` as ISO text)."""
        return {
            "columns": dict(self.columns) if self.columns else None,
            "preset": self.preset,
            "shop": self.shop,
            "timezone": self.timezone,
            "orders": list(self.orders),
            "since": _window_text(self.since),
            "until": _window_text(self.until),
        }

    @classmethod
    def from_dict(cls, record: dict | None) -> InputSpec:
        """The spec :meth:`to_dict` wrote; unknown keys (added by later versions) are ignored."""
        record = record or {}
        return cls(
            columns=record.get("columns") or None,
            preset=record.get("preset"),
            shop=record.get("shop"),
            timezone=record.get("timezone"),
            orders=tuple(record.get("orders") or ()),
            since=record.get("since"),
            until=record.get("until"),
        )

    @classmethod
    def from_summary(cls, summary: dict) -> InputSpec:
        """How a scan read its input: its ``summary.json``'s ``input``, else the older ``load``."""
        if summary.get("input"):
            return cls.from_dict(summary["input"])
        load = summary.get("load") or {}
        return cls(
            columns=load.get("columns") or None, since=load.get("since"), until=load.get("until")
        )


def weak_identity(present: Sequence[str]) -> list[str]:
    """Identity columns read as weak, from the columns a load produced (``user_nick``: masked
    nicknames, so ``user_id`` holds pseudo-accounts; see :mod:`detector.identities`)."""
    return ["user_id"] if "user_nick" in present else []


def weak_identities(loaded: LoadedInput) -> list[str]:
    """The identity columns of ``loaded`` that are not accounts (cases and summary.json use it)."""
    return list(loaded.weak_identity or weak_identity(loaded.present_optional))


def input_record(spec: InputSpec, loaded: LoadedInput) -> dict:
    """The ``input`` section of ``summary.json``.

    :meth:`InputSpec.to_dict` plus ``effective_timezone`` (the zone naive
    times were read in, and the one to show times in), ``weak_identity``
    (identity columns not treated as accounts, e.g. masked nicknames),
    ``headers`` (file header -> contract column, as mapped) and ``orders_sha256``
    (the order exports read, by path).
    """
    record = spec.to_dict()
    record["effective_timezone"] = spec.effective_timezone
    record["weak_identity"] = weak_identities(loaded)
    record["headers"] = dict(loaded.headers) or header_mapping(loaded.files, spec)
    record["orders_sha256"] = {p: file_sha256(p) for p in spec.orders if os.path.isfile(p)}
    return record


def header_mapping(files: Sequence[Path], spec: InputSpec) -> dict[str, str]:
    """File header -> contract column of every header ``spec`` maps in ``files`` (headers only).

    For loads that did not keep it (an out-of-core scan loads file by file).
    """
    read = _Read(spec, _tidy_mapping(spec), PRESETS[spec.preset] if spec.preset else None)
    out: dict[str, str] = {}
    for path in files:
        try:
            names = open_table(Path(path)).collect_schema().names()
        except Exception:  # noqa: BLE001 - the file was read by the scan; a record only
            continue
        renames, _ = _header_renames(names, read)
        for name, target in renames.items():
            clean = name.strip().lstrip("\ufeff").strip()
            if clean != target:
                out.setdefault(clean, target)
    return out


def as_spec(spec: InputSpec | None = None, columns=None, since=None, until=None) -> InputSpec:
    """``spec``, or one built from the older ``columns``/``since``/``until`` arguments.

    Raises :class:`InputError` when both are given and disagree.
    """
    if spec is None:
        return InputSpec(columns=columns or None, since=since, until=until)
    given = {"columns": columns, "since": since, "until": until}
    clash = [k for k, v in given.items() if v is not None and v != getattr(spec, k)]
    if clash:
        raise InputError(f"{', '.join(clash)} given both in the InputSpec and on their own")
    return spec


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
    #: File header -> contract column of every header that was mapped (preset or --columns).
    headers: dict[str, str] = field(default_factory=dict)
    #: Identity columns read as weak: not accounts (masked nicknames: ``user_id``).
    weak_identity: list[str] = field(default_factory=list)


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
    return path.suffix.lower() in SUFFIXES


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
    with no Parquet/CSV/Excel file, a file of another type, or a file that cannot be read.
    """
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not items:
        raise InputError("no input given; pass a Parquet, CSV or Excel file, a directory or a glob")
    found: set[Path] = set()
    for item in items:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            files = _expand_dir(path)
            if not files:
                raise InputError(f"no .parquet, .csv or .xlsx files under directory {text}")
        elif path.is_file():
            if not _supported(path):
                raise InputError(
                    f"unsupported input file {text}: expected a .parquet, .csv, .xlsx or .xls file "
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
                raise InputError(f"no .parquet, .csv or .xlsx files match {text!r}")
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


def _to_utc(value: datetime | date | str | None, name: str, zone: str = "UTC") -> datetime | None:
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


def _ceil_date(t: datetime) -> date:
    """First date whose UTC midnight is >= ``t``."""
    d = t.date()
    return d if t == datetime(d.year, d.month, d.day, tzinfo=UTC) else d + timedelta(days=1)


def _raw_window_filter(
    name: str,
    dtype: pl.DataType,
    since: datetime | None,
    until: datetime | None,
    zone: str = "UTC",
) -> pl.Expr | None:
    """A window filter on a temporal column as stored in the file, so the scan can prune row groups.

    Rows with a null time pass (they are rejected later, not dropped). Naive
    stored times are in ``zone``.
    """
    col = pl.col(name)
    conds: list[pl.Expr] = []
    if isinstance(dtype, pl.Datetime):
        tz = dtype.time_zone
        target = pl.Datetime(dtype.time_unit, tz)
        if tz is None:
            local = zoneinfo.ZoneInfo(zone)
            bounds = [
                None if t is None else t.astimezone(local).replace(tzinfo=None)
                for t in (since, until)
            ]
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


def _shown(text: pl.Expr) -> pl.Expr:
    return text.str.slice(0, _MAX_SHOWN)


_SCORE_COLUMNS: tuple[str, ...] = ("rating", *DSR_COLUMNS)
_TIME_COLUMNS: tuple[str, ...] = tuple(c for c, t in CONTRACT.items() if t == UTC_DATETIME)


def _raw_name(c: str) -> str:
    return f"{_P}raw_{c}"


@dataclass(frozen=True)
class _Reading:
    """How a file's values are read (what :func:`_normalise` needs beyond the types)."""

    zone: str = "UTC"
    tidy_ids: bool = False  # strip spreadsheet wrappers (="..."): CSV and Excel files
    masked_ips: bool = False  # some ip of the file is masked: keep those


def _normalise(
    lf: pl.LazyFrame,
    types: dict[str, pl.DataType],
    contract: list[str],
    carried: list[str],
    keep_raw: bool,
    flags_only: bool = False,
    how: _Reading | None = None,
) -> pl.LazyFrame:
    """Contract columns in contract types, carried columns, raw texts (if kept) and reasons.

    ``how`` (:class:`_Reading`): naive times are wall-clock times in its zone;
    ids of exports lose the wrappers that keep spreadsheets off them
    (:func:`detector.values.id_text`); a masked IPv4 address (``117.136.*.*``)
    is kept in its canonical masked form (:func:`features.ipaddr.ip_masked`).
    Ratings may be words (:func:`detector.values.rating_text`).

    Built in stages of ``with_columns`` so that every intermediate (stripped
    text, parsed number, cleaned timestamp) is computed once per row.

    With ``flags_only`` the two reason columns are Booleans (is there a
    problem) instead of messages: the messages are formatted for every row
    (Polars evaluates every branch), which cost more than the whole load, so
    :func:`load_reviews` flags rows first and words the reasons of the
    rejected rows only, in a second pass over those rows.
    """
    how = how or _Reading()
    zone = how.zone
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
            tidy = c in _ID_COLUMNS and how.tidy_ids
            stripped = id_text(raw[c]) if tidy else raw[c].str.strip_chars()
            if c == "rating":
                stripped = _rating_text(stripped)
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
                _temporal_to_utc(pl.col(c), types[c], zone)
                if temporal(c)
                else _parse_clean_timestamp(txt[c], zone)
            )
            stage.append(value.alias(f"{_P}val_{c}"))
        elif c == "ip":
            masked = ip_masked(txt[c]) if how.masked_ips else pl.lit(None, pl.String)
            stage.append(masked.alias(f"{_P}ip_mask"))
            stage.append(ip_is_valid(txt[c]).alias(f"{_P}ip_ok"))
    lf = lf.with_columns(stage)

    # 4. final values and checks: (condition, message) pairs, first true wins
    values: list[pl.Expr] = []
    checks: dict[str, list[tuple[pl.Expr, pl.Expr]]] = {}
    for c in contract:
        # null as read; typed temporal columns are tested without their text
        is_null = pl.col(c).is_null() if temporal(c) or numeric(c) else raw[c].is_null()
        if c == "ip":  # a masked address is kept for the network it reveals
            values.append(pl.coalesce(pl.col(f"{_P}ip_mask"), txt[c]).alias(c))
        elif c in _ID_COLUMNS:
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
                    txt[c].is_not_null() & ~ip_ok & pl.col(f"{_P}ip_mask").is_null(),
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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _missing_message(
    path: Path, missing: list[str], found: list[str], mapping: dict[str, str], read=None
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
    extra = ""
    if "shop_id" in missing:
        extra = "; an export of one shop needs no shop column: pass --shop NAME"
    return (
        f"{what} in {path}; map {it} with --columns '{','.join(pairs)}'{extra} "
        f"(found columns: {shown})"
    )


def _check_mapping_keys(mapping: dict[str, str], plans: list[_FilePlan]) -> None:
    """:class:`InputError` for a ``--columns`` key that names a header of no input file."""
    found = set().union(*(p.given for p in plans)) if plans else set()
    unknown = [k for k in mapping if k not in found]
    if not unknown:
        return
    first = plans[0]
    raise InputError(
        f"--columns names header {unknown[0]!r}, which no input file has; the headers of "
        f"{first.path} are: {', '.join(first.headers) or '(none)'}. Spell it as the file "
        "does, or leave it out"
    )


@dataclass
class _Read:
    """The read options of one load, resolved once (see :class:`InputSpec`)."""

    spec: InputSpec
    mapping: dict[str, str]  # --columns, names tidied
    preset: Preset | None
    zone: str = "UTC"
    since: datetime | None = None  # UTC
    until: datetime | None = None
    orders: pl.DataFrame | None = None  # detector.orders.load_orders


def _tidy_mapping(spec: InputSpec) -> dict[str, str]:
    return {k.strip().lstrip("\ufeff"): v.strip() for k, v in (spec.columns or {}).items()}


def _read_options(spec: InputSpec) -> _Read:
    zone = spec.effective_timezone
    lo, hi = _to_utc(spec.since, "since", zone), _to_utc(spec.until, "until", zone)
    if lo is not None and hi is not None and lo >= hi:
        raise InputError(
            f"empty time window: since {lo.isoformat()} is not before until {hi.isoformat()}"
        )
    orders = None
    if spec.orders:
        from detector.orders import load_orders

        orders = load_orders(spec.orders, zone)
    return _Read(
        spec=spec,
        mapping=_tidy_mapping(spec),
        preset=PRESETS[spec.preset] if spec.preset else None,
        zone=zone,
        since=lo,
        until=hi,
        orders=orders,
    )


@dataclass
class _FilePlan:
    path: Path
    frame: pl.LazyFrame
    contract: list[str]  # contract columns present (after mapping)
    carried: list[str]  # other columns, in file order
    raw_types: dict[str, pl.DataType]
    source: pl.LazyFrame  # mapped columns and _FROW, before any filter
    how: _Reading = field(default_factory=lambda: _Reading())
    headers: list[str] = field(default_factory=list)  # as in the file, tidied
    mapped: dict[str, str] = field(default_factory=dict)  # header -> contract column
    given: set[str] = field(default_factory=set)  # --columns keys this file has

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
            how=self.how,
        )
        return out.collect()


def _header_renames(names: list[str], read: _Read) -> tuple[dict[str, str], set[str]]:
    """``{header as in the file: name after mapping}`` and the --columns keys found.

    ``--columns`` keys match a header exactly (after trimming) or tolerantly
    (:func:`detector.presets.header_key`); the preset maps the headers left,
    onto the contract columns neither ``--columns`` nor a header already names.
    """
    clean = {n: n.strip().lstrip("\ufeff").strip() for n in names}
    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(header_key(clean[n]), n)
    explicit: dict[str, str] = {}
    given: set[str] = set()
    for key, target in read.mapping.items():
        hit = next((n for n in names if clean[n] == key or n == key), None)
        hit = hit or by_key.get(header_key(key))
        if hit is not None:
            explicit[hit] = target
            given.add(key)
    auto: dict[str, str] = {}
    if read.preset is not None:
        named = set(explicit.values()) | {clean[n] for n in names if clean[n] in CONTRACT}
        synonyms = {c: v for c, v in read.preset.headers.items() if c not in named}
        auto = match_headers([n for n in names if n not in explicit], synonyms)
    renames = {n: explicit.get(n) or auto.get(n) or clean[n] for n in names}
    return renames, given


@dataclass
class _Probe:
    """What one pass over a file tells the loader before it plans the file."""

    order_unique: bool = False  # every row has an order id, and no two the same
    masked_users: float = 0.0  # share of nicknames containing '*'
    masked_ips: bool = False  # some ip is masked (117.136.*.*)


def _probe(lf: pl.LazyFrame, types, order: pl.Expr | None, want: set[str]) -> _Probe:
    from detector import identities

    exprs: list[pl.Expr] = []
    if "order" in want and order is not None:
        exprs += [order.null_count().alias("o_null"), order.n_unique().alias("o_n"), pl.len()]
    if "user" in want:
        exprs += identities.masked_share_exprs(_as_text("user_id", types["user_id"]))
    if "ip" in want:
        ip = _as_text("ip", types["ip"])
        exprs.append(ip.str.contains(r"[*xX]").any().alias("ip_masked"))
    if not exprs:
        return _Probe()
    row = lf.select(exprs).collect().row(0, named=True)
    return _Probe(
        order_unique="o_n" in row and row["o_null"] == 0 and row["o_n"] == row["len"],
        masked_users=identities.share_of(row),
        masked_ips=bool(row.get("ip_masked")),
    )


def _derive(
    lf: pl.LazyFrame,
    types: dict[str, pl.DataType],
    read: _Read,
    path: Path,
    export: bool,
    header_of: dict[str, str],
) -> tuple[pl.LazyFrame, dict[str, pl.DataType], bool]:
    """Columns an export leaves out, derived as documented (:mod:`detector.identities`).

    The shop of a one-shop export, the review id, the pseudo-account behind
    masked nicknames and the order times of ``--orders``; the order ids of a
    CSV or spreadsheet (``export``) are checked for rounding first. Also
    returns whether some ip is masked. One pass over the file (:func:`_probe`)
    decides what needs the data.
    """
    from detector import identities

    if "shop_id" not in types and (read.spec.shop or read.preset is not None):
        lf = lf.with_columns(pl.lit(read.spec.shop or DEFAULT_SHOP, pl.String).alias("shop_id"))
        types["shop_id"] = pl.String()
    order = None
    if "order_id" in types and _castable(types["order_id"]):
        order = id_text(_as_text("order_id", types["order_id"]))
        order = pl.when(order != "").then(order)
        if export or types["order_id"].is_float():
            head = header_of.get("order_id")
            shown = f"'{head}' (order_id)" if head else "'order_id'"
            identities.check_rounded_ids(lf, "order_id", types["order_id"], path, order, shown)
    derive_id = "review_id" not in types and (order is not None or read.preset is not None)
    weak = read.preset is not None and read.preset.masked_nicknames
    want = {"order"} if derive_id else set()
    if "user_id" in types and not weak and _castable(types["user_id"]):
        want.add("user")
    if "ip" in types and _castable(types["ip"]):
        want.add("ip")
    probe = _probe(lf, types, order, want)
    if derive_id:
        lf = lf.with_columns(_review_id(types, order, probe.order_unique).alias("review_id"))
        types["review_id"] = pl.String()
    weak = weak or probe.masked_users >= identities.MASKED_SHARE
    if weak and "review_id" in types and "user_nick" not in types:
        if "user_id" in types:
            lf = lf.with_columns(_as_text("user_id", types["user_id"]).alias("user_nick"))
            types["user_nick"] = pl.String()
        rid = id_text(_as_text("review_id", types["review_id"]))
        lf = lf.with_columns(identities.pseudo_account(order, rid).alias("user_id"))
        types["user_id"] = pl.String()
    if read.orders is not None:
        lf, types = _join_orders(lf, types, read.orders, order, path)
    return lf, types, probe.masked_ips


def _review_id(types: dict[str, pl.DataType], order: pl.Expr | None, unique: bool) -> pl.Expr:
    """The order id when unique per row, else the content id (:func:`identities.content_id`)."""
    from detector import identities

    if unique and order is not None:
        return order
    readable = (c for c in CONTRACT if c in types and c not in ("review_id", "shop_id"))
    texts = [
        _as_text(c, types[c])
        for c in readable
        if _castable(types[c]) or isinstance(types[c], pl.Null)  # Null: an empty sheet
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
    key = f"{_P}order"
    right = orders.lazy().select(pl.col("order_id").alias(key), *wanted)
    lf = (
        lf.with_columns(order.alias(key))
        .join(right, on=key, how="left", maintain_order="left")
        .drop(key)
    )
    for c in wanted:
        types[c] = CONTRACT[c]
    return lf, types


def _open_mapped(path: Path, read: _Read):
    """The file with its headers mapped (and hive partition values as columns).

    Returns ``(lf, types, headers, mapped, given)``: the frame, its types by
    mapped name, the file's headers (tidied), ``{header: contract column}`` of
    the mapped ones and the ``--columns`` keys (or partition keys) the file has.
    """
    try:
        lf = open_table(path)
        schema = lf.collect_schema()
    except InputError:
        raise
    except Exception as exc:  # polars raises several error types for a bad file
        raise InputError(
            f"cannot read input file {path}: {_describe(exc)}; check that it is a complete, "
            "valid Parquet, UTF-8 CSV or Excel file"
        ) from exc

    # Tidy headers (stray spaces, BOM), then apply --columns and the preset.
    renames, given = _header_renames(schema.names(), read)
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
    headers = [n.strip().lstrip("\ufeff").strip() for n in schema.names()]
    mapped = {
        h: renames[n] for h, n in zip(headers, schema.names(), strict=True) if h != renames[n]
    }

    for key, value in _hive_partitions(path).items():
        if key not in types:
            target = read.mapping.get(key, key)
            given.add(key)
            if target not in types:
                lf = lf.with_columns(pl.lit(value, pl.String).alias(target))
                types[target] = pl.String()

    reserved = [n for n in types if n.startswith(_P) or n == REASON_COLUMN]
    if reserved:
        raise InputError(
            f"column {reserved[0]!r} in {path} uses a name the loader reserves (names starting "
            f"with {_P!r} and {REASON_COLUMN!r}); rename it with --columns '{reserved[0]}=NEW_NAME'"
        )
    return lf, types, headers, mapped, given


def _plan_file(
    path: Path,
    read: _Read,
    keep_raw: bool,
    flags_only: bool = False,
) -> _FilePlan:
    mapping, since, until = read.mapping, read.since, read.until
    lf, types, headers, mapped, given = _open_mapped(path, read)
    export = SUFFIXES.get(path.suffix.lower()) != "parquet"  # CSV or spreadsheet
    header_of = {t: h for h, t in mapped.items()}
    try:  # the probe reads the whole file: a malformed row shows here first
        lf, types, masked_ips = _derive(lf, types, read, path, export, header_of)
    except InputError:
        raise
    except Exception as exc:  # polars raises several error types for a bad file
        raise InputError(
            f"cannot read input file {path}: {_describe(exc)}; check that it is a complete, "
            "valid Parquet, Excel or UTF-8 CSV file"
        ) from exc
    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise InputError(_missing_message(path, missing, headers, mapping, read))
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
    pushdown = _raw_window_filter("created_at", types["created_at"], since, until, read.zone)
    if pushdown is not None:
        lf = lf.filter(pushdown)

    extra = [_FROW] if flags_only else []
    how = _Reading(read.zone, tidy_ids=export, masked_ips=masked_ips)
    lf = _normalise(lf, types, contract, [*carried, *extra], keep_raw, flags_only, how)
    window = _window_filter(since, until)
    if window is not None:
        lf = lf.filter(window)
    return _FilePlan(path, lf, contract, carried, types, source, how, headers, mapped, given)


@dataclass
class _Plan:
    frame: pl.LazyFrame  # contract, carried, raw copies (if kept), REASON_COLUMN
    files: list[Path]
    file_plans: list[_FilePlan]
    contract: list[str]
    carried: list[str]
    original: list[str]  # columns as found (after mapping), in first-seen order


def files_in_window(
    files: Sequence[Path], spec: InputSpec, read: _Read | None = None
) -> list[Path]:
    """``files`` less those in date partitions outside ``spec``'s time window (the loader's pruning)."""
    read = read or _read_options(spec)
    return [p for p in files if _partition_in_window(_hive_partitions(p), read.since, read.until)]


def _plan(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    spec: InputSpec,
    keep_raw: bool,
    flags_only: bool = False,
) -> _Plan:
    read = _read_options(spec)
    lo, hi = read.since, read.until
    resolved = resolve_inputs(inputs)
    files = files_in_window(resolved, spec, read)
    if not files:
        raise NoRowsError(
            f"none of the {len(resolved)} input file(s) has a date partition between "
            f"{lo.isoformat() if lo else '-inf'} and {hi.isoformat() if hi else '+inf'}"
        )
    plans = [_plan_file(p, read, keep_raw, flags_only) for p in files]
    _check_mapping_keys(read.mapping, plans)

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
    spec: InputSpec | None = None,
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
    unreadable file raises :class:`InputError`. ``spec`` (:class:`InputSpec`)
    gives every read option at once, instead of ``columns``/``since``/``until``.
    """
    plan = _plan(inputs, as_spec(spec, columns, since, until), keep_raw=False)
    return plan.frame, plan.files


def _failing_file(plan: _Plan, exc: BaseException) -> InputError:
    """Find which file made a collect fail (only runs after a failure)."""
    for fp in plan.file_plans:
        try:
            fp.frame.collect()
        except Exception as inner:
            return InputError(
                f"cannot read input file {fp.path}: {_describe(inner)}; check that it is a "
                "complete, valid Parquet, UTF-8 CSV or Excel file"
            )
    return InputError(f"cannot read the input: {_describe(exc)}")


def load_reviews(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    columns: dict[str, str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    spec: InputSpec | None = None,
) -> LoadedInput:
    """Read reviews and split them into valid rows and rejected rows with reasons.

    ``reviews`` holds the valid rows: contract columns present, in contract order
    and types, then the other columns untouched. ``rejected`` holds the rest:
    ``review_id`` and the other columns as they were read (as strings where
    possible), then ``reason``. Raises :class:`InputError` when no rows remain.
    ``spec`` (:class:`InputSpec`) gives every read option at once.
    """
    spec = as_spec(spec, columns, since, until)
    since, until = spec.since, spec.until
    plan = _plan(inputs, spec, keep_raw=False, flags_only=True)
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
    headers: dict[str, str] = {}
    for fp in plan.file_plans:
        headers.update({h: c for h, c in fp.mapped.items() if h not in headers})
    return LoadedInput(
        reviews=reviews,
        rejected=rejected,
        files=plan.files,
        n_input=df.height,
        present_optional=present_optional,
        claims=claims,
        headers=headers,
        weak_identity=weak_identity(present_optional),
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
