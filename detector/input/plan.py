"""The lazy plan of a load: each file opened, mapped, derived and normalised, then combined.

Every file is scanned on its own, renamed, and its columns normalised to the
contract types (:mod:`detector.input.normalise`); the files are then
concatenated in sorted path order, and that order, then row order within a
file, is the *input order* that decides which copy of a duplicated
``review_id`` is kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.input.derive import (
    DIGEST,
    KEY_TIME,
    ORDER_KEY,
    PendingIds,
    derive,
    finish,
    with_key_columns,
)
from detector.input.files import SUFFIXES, hive_partitions, open_table, resolve_inputs
from detector.input.headers import check_mapping_keys, clean_header, header_renames, missing_message
from detector.input.normalise import (
    FROW,
    PREFIX,
    R_EARLY,
    R_LATE,
    REASON_COLUMN,
    Reading,
    normalise,
)
from detector.input.rejects import DUPLICATE_REASON, NoRowsError, is_later_copy
from detector.input.schema import CONTRACT, REQUIRED, UTC_DATETIME
from detector.input.spec import InputSpec, ReadOptions, read_options
from detector.input.values import castable
from detector.input.windows import partition_in_window, raw_window_filter, to_utc, window_filter

__all__ = [
    "BAD",
    "CLAIM",
    "DUP",
    "FILE",
    "ROW",
    "FilePlan",
    "Plan",
    "describe",
    "first_reviews",
    "plan",
]

ROW = f"{PREFIX}row"
FILE = f"{PREFIX}file"  # position of the file in the input
DUP = f"{PREFIX}dup"
BAD = f"{PREFIX}bad"
CLAIM = f"{PREFIX}claim"  # rejected by checks 5-7 only, and its id's first row passing 1-3


def describe(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _unreadable(path: Path, exc: BaseException) -> InputError:
    return InputError(
        f"cannot read input file {path}: {describe(exc)}; check that it is a complete, "
        "valid Parquet, UTF-8 CSV or Excel file"
    )


@dataclass
class FilePlan:
    path: Path
    frame: pl.LazyFrame
    contract: list[str]  # contract columns present (after mapping)
    carried: list[str]  # other columns, in file order
    raw_types: dict[str, pl.DataType]
    source: pl.LazyFrame  # mapped columns and FROW, before any filter
    how: Reading = field(default_factory=lambda: Reading())
    headers: list[str] = field(default_factory=list)  # as in the file, tidied
    mapped: dict[str, str] = field(default_factory=dict)  # header -> contract column
    given: set[str] = field(default_factory=set)  # --columns keys this file has

    def reasons(self, rows: pl.Series) -> pl.DataFrame:
        """Raw texts and worded reasons of the rows at file positions ``rows``."""
        lf = (
            self.source.filter(pl.col(FROW).is_in(rows.implode()))
            if rows.len()
            else self.source.head(0)
        )
        out = normalise(
            lf, self.raw_types, self.contract, [*self.carried, FROW], keep_raw=True, how=self.how
        )
        return out.collect()


def _renamed(path: Path, lf: pl.LazyFrame, schema: pl.Schema, read: ReadOptions):
    """``lf`` with --columns and the preset applied, its renames and the --columns keys found."""
    renames, given = header_renames(schema.names(), read)
    targets = list(renames.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        sources = [s for s, t in renames.items() if t == dupes[0]]
        raise InputError(
            f"in {path}, columns {', '.join(repr(s) for s in sources)} would all be named "
            f"{dupes[0]!r} after the column mapping; map only one of them"
        )
    return lf.rename({s: t for s, t in renames.items() if s != t}), renames, given


def _open_mapped(path: Path, read: ReadOptions):
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
        raise _unreadable(path, exc) from exc
    lf, renames, given = _renamed(path, lf, schema, read)
    types = {renames[n]: dt for n, dt in schema.items()}
    headers = [clean_header(n) for n in schema.names()]
    mapped = {
        h: renames[n] for h, n in zip(headers, schema.names(), strict=True) if h != renames[n]
    }
    for key, value in hive_partitions(path).items():
        if key not in types:
            target = read.mapping.get(key, key)
            given.add(key)
            if target not in types:
                lf = lf.with_columns(pl.lit(value, pl.String).alias(target))
                types[target] = pl.String()
    reserved = [n for n in types if n.startswith(PREFIX) or n == REASON_COLUMN]
    if reserved:
        raise InputError(
            f"column {reserved[0]!r} in {path} uses a name the loader reserves (names starting "
            f"with {PREFIX!r} and {REASON_COLUMN!r}); rename it with --columns '{reserved[0]}=NEW_NAME'"
        )
    return lf, types, headers, mapped, given


def _check_types(path: Path, types, headers, read: ReadOptions) -> list[str]:
    """The contract columns of a file, after checking the required ones are there and castable."""
    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise InputError(missing_message(path, missing, headers, read.mapping))
    contract = [c for c in CONTRACT if c in types]
    for c in contract:
        if not castable(types[c]) and not isinstance(types[c], pl.Null):
            raise InputError(
                f"column {c!r} in {path} has type {types[c]}, which cannot be read as "
                f"{CONTRACT[c]}; map a different column onto {c!r}"
            )
    return contract


@dataclass
class _Opened:
    """A file opened, mapped and derived: what planning it needs."""

    path: Path
    lf: pl.LazyFrame
    types: dict[str, pl.DataType]
    headers: list[str]
    mapped: dict[str, str]
    given: set[str]
    export: bool  # CSV or spreadsheet
    masked_ips: bool
    pending: PendingIds | None  # review ids still to derive (see _settle_ids)


def _open_file(path: Path, read: ReadOptions) -> _Opened:
    lf, types, headers, mapped, given = _open_mapped(path, read)
    export = SUFFIXES.get(path.suffix.lower()) != "parquet"
    header_of = {t: h for h, t in mapped.items()}
    try:  # the probe reads the whole file: a malformed row shows here first
        lf, types, masked_ips, pending = derive(lf, types, read, path, export, header_of)
    except InputError:
        raise
    except Exception as exc:  # polars raises several error types for a bad file
        raise InputError(
            f"cannot read input file {path}: {describe(exc)}; check that it is a complete, "
            "valid Parquet, Excel or UTF-8 CSV file"
        ) from exc
    return _Opened(path, lf, types, headers, mapped, given, export, masked_ips, pending)


_FIRST_SCHEMA = {"order_id": pl.String, "created_at": UTC_DATETIME, "digest": pl.String}


def _first_reviews(
    pending: list[_Opened], read: ReadOptions, given: pl.DataFrame | None, every: bool = False
):
    """``(need, first)``: the order ids with several reviews in these files (every order
    id, when ``every``; and those of ``given``), and the created_at and digest of each
    one's first review (earliest, then smallest digest). Two passes over the order ids;
    only those orders' rows are parsed and hashed."""
    orders = [o.lf.select(pl.col(ORDER_KEY)) for o in pending]
    counts = pl.concat(orders).filter(pl.col(ORDER_KEY).is_not_null()).group_by(ORDER_KEY).len()
    several = pl.col("len") > (0 if every else 1)
    need = counts.filter(several).select(ORDER_KEY).collect().to_series()
    if given is not None:
        need = pl.concat([need, given["order_id"].alias(ORDER_KEY)]).unique().sort()
    keys = [
        with_key_columns(o.lf, o.pending, need, read.zone)
        .filter(pl.col(ORDER_KEY).is_in(need.implode()))
        .select(
            pl.col(ORDER_KEY).alias("order_id"),
            pl.col(KEY_TIME).alias("created_at"),
            pl.col(DIGEST).alias("digest"),
        )
        for o in pending
    ]
    if given is not None:
        keys.append(given.lazy().select(list(_FIRST_SCHEMA)))
    rows = pl.concat([pl.LazyFrame(schema=_FIRST_SCHEMA), *keys], how="vertical_relaxed")
    rank = [pl.col("created_at"), pl.col("digest")]
    first = (
        rows.group_by("order_id")
        .agg(pl.col(c).sort_by(rank, nulls_last=True).first() for c in ("created_at", "digest"))
        .sort("order_id")
        .collect()
    )
    return need, first


def _settle_ids(opened: list[_Opened], read: ReadOptions, given: pl.DataFrame | None) -> None:
    """Derived review ids of every file, decided over all of them (and ``given``)."""
    pending = [o for o in opened if o.pending is not None]
    if not pending:
        return
    need, first = _first_reviews(pending, read, given)
    for o in pending:
        o.lf, o.types = finish(o.lf, o.types, o.pending, need, first, read, o.path)


def _plan_file(o: _Opened, read: ReadOptions, flags_only: bool = False) -> FilePlan:
    path, lf, types = o.path, o.lf, o.types
    contract = _check_types(path, types, o.headers, read)
    carried = [c for c in types if c not in CONTRACT]

    # positions in the file, to find rejected rows again (see FilePlan.reasons)
    source = lf.with_row_index(FROW)
    lf = source if flags_only else lf
    zone = read.zone
    pushdown = raw_window_filter("created_at", types["created_at"], read.since, read.until, zone)
    if pushdown is not None:
        lf = lf.filter(pushdown)
    extra = [FROW] if flags_only else []
    how = Reading(zone, tidy_ids=o.export, masked_ips=o.masked_ips)
    lf = normalise(lf, types, contract, [*carried, *extra], False, flags_only, how)
    window = window_filter(read.since, read.until)
    if window is not None:
        lf = lf.filter(window)
    return FilePlan(path, lf, contract, carried, types, source, how, o.headers, o.mapped, o.given)


def _planned(
    files: list[Path], read: ReadOptions, flags_only: bool, first: pl.DataFrame | None
) -> list[FilePlan]:
    """Every file planned, derived review ids settled over all of them (and ``first``)."""
    opened = [_open_file(p, read) for p in files]
    _settle_ids(opened, read, first)
    return [_plan_file(o, read, flags_only) for o in opened]


def first_reviews(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    spec: InputSpec,
    given: pl.DataFrame | None = None,
    every_order: bool = False,
) -> pl.DataFrame:
    """``order_id``, ``created_at`` and ``digest`` of the first review of each order with
    several reviews in ``inputs`` (the orders of one review are their own first).

    ``given`` (an earlier result) counts as reviews of ``inputs`` too: the result
    holds its orders, each with the first of its and the inputs' reviews.
    ``every_order`` gives every order of ``inputs``, one review or several: what an
    incremental state keeps, since a later partition may hold an order's second
    review.

    A loader that reads the files of one input one by one (out of core, one task per
    file, an incremental run beside its history) passes this table of the whole input
    to each load (``first_reviews=``), so that every file gives the review ids one
    load of all of them would (:mod:`detector.input.identities`). Empty when every
    file has a review id column.
    """
    read = read_options(spec)
    pending = [o for o in (_open_file(p, read) for p in resolve_inputs(inputs)) if o.pending]
    if not pending:
        return pl.DataFrame(schema=_FIRST_SCHEMA) if given is None else given
    return _first_reviews(pending, read, given, every_order)[1]


@dataclass
class Plan:
    frame: pl.LazyFrame  # contract, carried, REASON_COLUMN (flags: BAD, DUP, CLAIM, FILE, FROW)
    files: list[Path]
    file_plans: list[FilePlan]
    contract: list[str]
    carried: list[str]
    original: list[str]  # columns as found (after mapping), in first-seen order


def files_in_window(files, spec: InputSpec) -> list[Path]:
    """``files`` less those in date partitions outside ``spec``'s time window (the window
    read in the spec's zone), as every load prunes them."""
    zone = spec.effective_timezone
    lo, hi = to_utc(spec.since, "since", zone), to_utc(spec.until, "until", zone)
    return [f for f in files if partition_in_window(hive_partitions(f), lo, hi)]


def _files_in_window(inputs, read: ReadOptions) -> list[Path]:
    resolved = resolve_inputs(inputs)
    files = files_in_window(resolved, read.spec)
    if not files:
        lo, hi = read.since, read.until
        raise NoRowsError(
            f"none of the {len(resolved)} input file(s) has a date partition between "
            f"{lo.isoformat() if lo else '-inf'} and {hi.isoformat() if hi else '+inf'}"
        )
    return files


def _combined(plans: list[FilePlan], flags_only: bool) -> pl.LazyFrame:
    frames = [p.frame for p in plans]
    if flags_only:
        frames = [f.with_columns(pl.lit(i, pl.UInt32).alias(FILE)) for i, f in enumerate(frames)]
    frame = pl.concat(frames, how="diagonal_relaxed")
    try:
        frame.collect_schema()
    except Exception as exc:
        raise InputError(
            f"cannot combine the input files: {describe(exc)}; a column has incompatible "
            "types in different files"
        ) from exc
    return frame


def _flagged(frame: pl.LazyFrame, contract: list[str], carried: list[str]) -> pl.LazyFrame:
    """Boolean flags per row: bad, duplicate of an earlier id, claiming its id (see LoadedInput)."""
    ok_early = ~pl.col(R_EARLY)
    dup = is_later_copy(pl.col(ROW), ok_early)
    return frame.with_row_index(ROW).select(
        *[pl.col(c) for c in contract],
        *[pl.col(c) for c in carried],
        (pl.col(R_EARLY) | dup | pl.col(R_LATE)).alias(BAD),
        dup.alias(DUP),
        (ok_early & ~dup & pl.col(R_LATE)).fill_null(False).alias(CLAIM),
        pl.col(FILE),
        pl.col(FROW),
    )


def _worded(frame: pl.LazyFrame, contract: list[str], carried: list[str]) -> pl.LazyFrame:
    """Each row's reject reason worded (null for a valid row)."""
    later = is_later_copy(pl.col(ROW), pl.col(R_EARLY).is_null())
    duplicate = pl.when(later).then(pl.lit(DUPLICATE_REASON))
    reason = pl.coalesce(pl.col(R_EARLY), duplicate, pl.col(R_LATE)).alias(REASON_COLUMN)
    return frame.with_row_index(ROW).select(
        *[pl.col(c) for c in contract], *[pl.col(c) for c in carried], reason
    )


def plan(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    spec: InputSpec,
    flags_only: bool = False,
    first: pl.DataFrame | None = None,
) -> Plan:
    """The lazy load of ``inputs`` as ``spec`` says: worded reasons, or flags (``flags_only``).

    ``first`` (:func:`first_reviews` of a larger input) adds the first reviews of
    orders in files this load does not read.
    """
    read = read_options(spec)
    files = _files_in_window(inputs, read)
    plans = _planned(files, read, flags_only, first)
    check_mapping_keys(read.mapping, plans)

    contract_set = {c for p in plans for c in p.contract}
    contract = [c for c in CONTRACT if c in contract_set]
    carried: list[str] = []
    original: list[str] = []
    for p in plans:
        carried.extend(c for c in p.carried if c not in carried)
        original.extend(c for c in p.raw_types if c not in original)
    frame = _combined(plans, flags_only)
    select = _flagged if flags_only else _worded
    return Plan(select(frame, contract, carried), files, plans, contract, carried, original)
