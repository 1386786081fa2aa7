"""Loading reviews into the input contract: valid rows to score, and rejected rows with reasons.

Inputs are Parquet (one file, a directory - hive partitions such as
``dt=2025-01-01/part.parquet`` allowed - or a glob), UTF-8 CSV (Chinese
headers and a BOM allowed) or Excel (:mod:`detector.input.files`), whose
headers are renamed onto contract names with a column mapping such as
``"订单号=order_id,评价时间=created_at"`` and/or a seller-centre preset
(:mod:`detector.input.headers`, :mod:`detector.input.presets`). How to read
them is one :class:`detector.input.spec.InputSpec` (mapping, preset, shop,
time zone, order exports, time window). Columns an export leaves out are
derived (:mod:`detector.input.derive`: review id, shop, pseudo-accounts behind
masked nicknames) or joined from order exports (:mod:`detector.input.orders`).

Every file is scanned on its own, renamed, and its columns normalised to the
contract types (:data:`detector.input.schema.CONTRACT`) with non-strict casts,
so files with different physical types (integer ids here, string ids there)
mix freely. The files are then concatenated in sorted path order; that order,
then row order within a file, is the *input order* that decides which copy of
a duplicated ``review_id`` is kept (:mod:`detector.input.plan`).

Every row is either scored or rejected with one reason, never dropped: a bad
row gets a ``_reject_reason`` (the first that applies, in this order):

1. null or empty key (``review_id``, ``shop_id``, ``product_id``, ``user_id``)
2. rating missing, not an integer, or outside 1-5 (words such as 五星 or 好评 are
   read as :data:`detector.input.presets.RATING_WORDS` says)
3. ``created_at`` null or unparseable
4. duplicate ``review_id`` (the first occurrence among rows passing 1-3 is kept)
5. invalid ``ip`` (null is fine; a masked ``117.136.*.*`` is kept)
6. a DSR score outside 1-5 or not an integer (null is fine)
7. unparseable ``delivered_at`` (null is fine)

Problems with a whole file (missing required column, unreadable or corrupt
file, nonexistent path, nothing matched, no rows) raise :class:`InputError`,
whose message names the file or column and says what to do. An input whose
every row is rejected raises :class:`detector.input.rejects.NoRowsError` (an
``InputError``) holding the rejected rows, so the scan still writes
``rejected.parquet`` with the reasons.

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

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.hashing import file_sha256
from detector.input.files import open_table
from detector.input.headers import clean_header, header_renames
from detector.input.normalise import FROW, PREFIX, R_EARLY, R_LATE, REASON_COLUMN, raw_name
from detector.input.plan import BAD, CLAIM, DUP, FILE, Plan, describe, plan
from detector.input.presets import PRESETS
from detector.input.rejects import DUPLICATE_REASON, no_rows_error
from detector.input.schema import OPTIONAL
from detector.input.spec import InputSpec, ReadOptions, as_spec, tidy_mapping
from detector.input.values import castable

__all__ = [
    "LoadedInput",
    "header_mapping",
    "input_record",
    "load_reviews",
    "scan_reviews",
    "weak_identities",
    "weak_identity",
]

_ID = f"{PREFIX}id"  # review_id as normalised (the rejects show it as read)

Inputs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


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


def weak_identity(present: Sequence[str]) -> list[str]:
    """Identity columns read as weak, from the columns a load produced (``user_nick``: masked
    nicknames, so ``user_id`` holds pseudo-accounts; see :mod:`detector.input.identities`)."""
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
    read = ReadOptions(spec, tidy_mapping(spec), PRESETS[spec.preset] if spec.preset else None)
    out: dict[str, str] = {}
    for path in files:
        try:
            names = open_table(Path(path)).collect_schema().names()
        except Exception:  # noqa: BLE001 - the file was read by the scan; a record only
            continue
        renames, _ = header_renames(names, read)
        for name, target in renames.items():
            clean = clean_header(name)
            if clean != target:
                out.setdefault(clean, target)
    return out


def scan_reviews(
    inputs: Inputs,
    columns: dict[str, str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    spec: InputSpec | None = None,
    first_reviews: pl.DataFrame | None = None,
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
    gives every read option at once, instead of ``columns``/``since``/``until``;
    ``first_reviews`` as in :func:`load_reviews`.
    """
    p = plan(inputs, as_spec(spec, columns, since, until), first=first_reviews)
    return p.frame, p.files


def _failing_file(p: Plan, exc: BaseException) -> InputError:
    """Find which file made a collect fail (only runs after a failure)."""
    for fp in p.file_plans:
        try:
            fp.frame.collect()
        except Exception as inner:
            return InputError(
                f"cannot read input file {fp.path}: {describe(inner)}; check that it is a "
                "complete, valid Parquet, UTF-8 CSV or Excel file"
            )
    return InputError(f"cannot read the input: {describe(exc)}")


def load_reviews(
    inputs: Inputs,
    columns: dict[str, str] | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    spec: InputSpec | None = None,
    first_reviews: pl.DataFrame | None = None,
) -> LoadedInput:
    """Read reviews and split them into valid rows and rejected rows with reasons.

    ``reviews`` holds the valid rows: contract columns present, in contract order
    and types, then the other columns untouched. ``rejected`` holds the rest:
    ``review_id`` and the other columns as they were read (as strings where
    possible), then ``reason``. Raises :class:`InputError` when no rows remain.
    ``spec`` (:class:`InputSpec`) gives every read option at once.
    ``first_reviews`` (:func:`detector.input.plan.first_reviews` of the whole input)
    is for loading one file of a larger input: review ids derived from order ids are
    then those one load of the whole input gives.
    """
    spec = as_spec(spec, columns, since, until)
    p = plan(inputs, spec, flags_only=True, first=first_reviews)
    try:
        df = p.frame.collect()
    except Exception as exc:
        raise _failing_file(p, exc) from exc
    if df.height == 0:
        raise no_rows_error(p.files, spec.since, spec.until)

    bad = df.get_column(BAD)
    reviews = df.select(*p.contract, *p.carried)
    if bad.any():
        # filtering copies every column: only pay for it when rows are rejected
        reviews = reviews.filter(~bad)
    rejected, claims = _rejected(
        p, df.filter(bad).select(FILE, FROW, DUP, CLAIM, pl.col("review_id").alias(_ID))
    )
    present_optional = [c for c in OPTIONAL if c in p.contract]
    headers: dict[str, str] = {}
    for fp in p.file_plans:
        headers.update({h: c for h, c in fp.mapped.items() if h not in headers})
    return LoadedInput(
        reviews=reviews,
        rejected=rejected,
        files=p.files,
        n_input=df.height,
        present_optional=present_optional,
        claims=claims,
        headers=headers,
        weak_identity=weak_identity(present_optional),
    )


def _worded_rejects(p: Plan, bad: pl.DataFrame) -> pl.DataFrame:
    """The rejected rows re-read from their files, with raw texts and the reason worded."""
    parts = []
    for i, fp in enumerate(p.file_plans):
        rows = bad.filter(pl.col(FILE) == i)
        part = fp.reasons(rows.get_column(FROW)).join(
            rows.select(FROW, DUP, CLAIM, _ID), on=FROW, how="left"
        )
        duplicate = pl.when(pl.col(DUP)).then(pl.lit(DUPLICATE_REASON))
        reason = pl.coalesce(pl.col(R_EARLY), duplicate, pl.col(R_LATE))
        parts.append(part.with_columns(reason.alias(REASON_COLUMN)).sort(FROW))
    return pl.concat(parts, how="diagonal_relaxed")


def _rejected(p: Plan, bad: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rejected rows as read (strings where possible), with the reason for each,
    and which of them claim their ``review_id`` (see :attr:`LoadedInput.claims`).

    ``bad`` holds the file and file position of each rejected row, whether
    it repeats an earlier ``review_id`` and whether it claims its id; the
    reasons are worded here, for those rows only.
    """
    df = _worded_rejects(p, bad)
    order = ["review_id"] + [c for c in p.original if c != "review_id"]
    # the input's own "reason" column is kept under a free name: "reason" is ours
    input_reason = next(
        n
        for n in ("input_reason", *(f"input_reason_{i}" for i in range(2, len(order) + 2)))
        if n not in order
    )
    rejected_cols: list[pl.Expr] = []
    for c in order:
        if c in p.contract:
            rejected_cols.append(pl.col(raw_name(c)).alias(c))
        else:
            name = input_reason if c == "reason" else c
            expr = pl.col(c).cast(pl.String) if castable(df.schema[c]) else pl.col(c)
            rejected_cols.append(expr.alias(name))
    claims = df.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), pl.col(_ID).alias("review_id")
    )
    claims = claims.filter(df.get_column(CLAIM).fill_null(False))
    return df.select(*rejected_cols, pl.col(REASON_COLUMN).alias("reason")), claims
