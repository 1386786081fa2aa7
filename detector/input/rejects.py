"""Rejected rows: their reasons counted by kind, and the errors of an input with no row to score."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from detector.errors import InputError
from detector.input.values import castable

__all__ = [
    "DUPLICATE_REASON",
    "NoRowsError",
    "all_rejected_error",
    "as_duplicates",
    "is_later_copy",
    "no_rows_error",
    "reason_counts",
    "reason_kind",
]

DUPLICATE_REASON = "duplicate review_id (first kept)"


def as_duplicates(rows: pl.DataFrame) -> pl.DataFrame:
    """Later copies of review ids in the rejects' form: columns as strings where they can
    be, then ``reason`` (:data:`DUPLICATE_REASON`)."""
    return rows.select(
        *[pl.col(c).cast(pl.String) if castable(t) else pl.col(c) for c, t in rows.schema.items()],
        pl.lit(DUPLICATE_REASON).alias("reason"),
    )


def is_later_copy(order: pl.Expr, eligible: pl.Expr | None = None) -> pl.Expr:
    """The first-copy rule: True for a row whose ``review_id`` an eligible row earlier
    in ``order`` holds (only eligible rows count as copies; ties are not later).

    One rule for every place copies meet: the rows of one load (``order`` = input
    row), staged files out of core (input file) and new partitions against the
    stored history (history first).
    """
    ok = pl.lit(True) if eligible is None else eligible
    first = pl.when(ok).then(order).min().over("review_id")
    return (ok & (order > first)).fill_null(False)


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
