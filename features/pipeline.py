"""Runs the registered tables and steps over a review frame.

The pipeline decides *what* runs (steps whose input columns are present,
tables those steps need, in dependency order); an engine decides *how* a
table is built. Steps that need absent columns are skipped and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import polars as pl

import features.burst  # noqa: F401  (registers)
import features.cooccurrence  # noqa: F401
import features.history  # noqa: F401
import features.identity  # noqa: F401
import features.prompt  # noqa: F401
import features.rating  # noqa: F401
import features.region  # noqa: F401
import features.text  # noqa: F401
from features.prepare import (
    PER_ACCOUNT,
    READ_AS_DERIVED,
    WEAK_USER_REASON,
    account_features_withheld,
    prepare_frame,
)
from features.registry import FAMILIES, REGISTRY, Registry, Step, Table

TableBuilder = Callable[[Table, pl.LazyFrame, dict[str, pl.DataFrame]], pl.DataFrame]


def _build_local(table: Table, lf: pl.LazyFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return table.build(lf, tables)


class Handoff:
    """Reviews handed to :func:`compute_features` together with their only reference.

    The feature stage keeps the input columns it reads (without copying them)
    and drops the frame once the prepared frame is built, so columns no
    feature reads (texts, order ids ...) are freed for the rest of the scan.
    """

    def __init__(self, frame: pl.DataFrame):
        self._frame: pl.DataFrame | None = frame
        self.columns = list(frame.columns)
        self.height = frame.height

    def take(self) -> pl.DataFrame:
        """The frame, once; the handoff forgets it."""
        if self._frame is None:
            raise RuntimeError("the reviews of this Handoff were already taken")
        frame, self._frame = self._frame, None
        return frame


@dataclass
class FeatureResult:
    """What the feature stage produced.

    Attributes
    ----------
    frame : pl.DataFrame
        ``_rid``, ``review_id`` and one Float64 column per computed feature.
    features : list of str
        Computed feature names, in registry order.
    unavailable : dict
        Feature name -> the input columns it needed and did not get.
    tables : dict
        The global tables that were built, by name; empty unless
        ``compute_features(keep_tables=True)``.
    keys : pl.DataFrame
        Per review the identities that link reviews into cases: ``_rid``,
        ``review_id``, ``shop_id``, ``product_id``, ``user_id``, ``rating``,
        ``_t``, ``_pol`` and, when available, ``_ip``, ``_net``, ``device_id``, ``ip_region``,
        ``text_cluster``, ``ring_id`` and ``ring_excess``.
    timings : dict
        Seconds spent per table and step.
    matrix : ndarray, optional
        Fortran-ordered float64 values of the features, columns
        ``matrix_columns`` (the scored ones first); ``frame``'s feature
        columns are views of it.
    matrix_columns : list of str
    """

    frame: pl.DataFrame
    features: list[str]
    unavailable: dict[str, list[str]]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    keys: pl.DataFrame | None = None
    matrix: np.ndarray | None = None
    matrix_columns: list[str] = field(default_factory=list)

    @property
    def scored(self) -> list[str]:
        """Computed features the scorer uses (context features left out)."""
        return [n for n in self.features if REGISTRY.get(n).scored]

    def scored_matrix(self) -> np.ndarray:
        """The scored features as a float64 matrix, columns in :attr:`scored` order.

        A view of :attr:`matrix` (which ``frame``'s columns also view) when
        it holds them first and in order; a copy otherwise.
        """
        names = self.scored
        if self.matrix is not None and self.matrix_columns[: len(names)] == names:
            return self.matrix[:, : len(names)]
        if not names:
            return np.zeros((self.frame.height, 0))
        return self.frame.select(names).to_numpy(order="fortran")


def plan(
    columns: Iterable[str], families: Iterable[str] | None = None, registry: Registry = REGISTRY
) -> tuple[list[Step], list[Table], dict[str, list[str]]]:
    """Choose the steps and tables that can run on ``columns``.

    Returns
    -------
    steps, tables, unavailable
        Steps to run, the tables they need in dependency order, and for every
        feature that cannot be computed the input columns it lacks. With a weak
        ``user_id`` (:func:`features.prepare.account_features_withheld`) the
        per-account features (:data:`features.prepare.PER_ACCOUNT`) are withheld
        and listed as lacking a real ``user_id``.
    """
    cols = set(columns)
    fams = set(FAMILIES if families is None else families)
    unknown = fams - set(FAMILIES)
    if unknown:
        raise ValueError(
            f"unknown feature families {sorted(unknown)}; choose from {list(FAMILIES)}"
        )
    steps: list[Step] = []
    unavailable: dict[str, list[str]] = {}
    weak_user = account_features_withheld(cols)
    for step in registry.steps.values():
        wanted = [f for f in step.features if f.family in fams]
        if weak_user:  # masked nicknames: no account to describe
            for f in wanted:
                if f.name in PER_ACCOUNT:
                    unavailable[f.name] = [WEAK_USER_REASON]
            wanted = [f for f in wanted if f.name not in PER_ACCOUNT]
        if not wanted:
            continue
        missing = sorted(set(step.requires) - cols)
        if missing:
            for f in wanted:
                unavailable[f.name] = missing
            continue
        steps.append(step)
    order: list[Table] = []

    def visit(name: str) -> None:
        table = registry.tables[name]
        for dep in table.depends:
            visit(dep)
        if table not in order:
            order.append(table)

    for step in steps:
        for name in step.tables:
            visit(name)
    return steps, order, unavailable


def compute_features(
    reviews: pl.DataFrame | pl.LazyFrame | Handoff,
    families: Iterable[str] | None = None,
    registry: Registry = REGISTRY,
    build_table: TableBuilder = _build_local,
    keep_tables: bool = False,
    table_workers: int | Callable[[int], int] = 1,
) -> FeatureResult:
    """Compute every available feature for ``reviews`` (contract columns).

    Parameters
    ----------
    reviews : DataFrame, LazyFrame or Handoff
        Valid reviews as produced by :func:`detector.input.load.load_reviews`; a
        :class:`Handoff` lets the stage free the input once it is prepared.
    families : iterable of str, optional
        Restrict to these feature families (ablations); all by default.
    build_table : callable, optional
        How a global table is built; engines pass their own.
    keep_tables : bool
        Keep the global tables in the result (for inspection); dropped by
        default to free their memory before scoring.
    table_workers : int or callable
        Tables built at once, each as soon as the tables it reads are done
        (threads: the kernels are Polars and numpy, which release the GIL), or
        a function of the number of reviews giving it. Every table is computed
        the same way whatever the number.
    """
    if isinstance(reviews, Handoff):
        reviews = reviews.take()
    lf = reviews.lazy() if isinstance(reviews, pl.DataFrame) else reviews
    steps, tables_needed, unavailable = plan(lf.collect_schema().names(), families, registry)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    # Materialised once: every table reads it, and re-running the scan and
    # normalisation per table would cost more than holding it.
    df = reviews if isinstance(reviews, pl.DataFrame) else lf.collect()
    prepared = prepare_frame(df, kept_inputs(steps, tables_needed))
    del reviews, lf, df  # a handed-over input is freed here, but for the columns kept
    timings["prepare"] = time.perf_counter() - t0
    workers = table_workers(prepared.height) if callable(table_workers) else table_workers
    return features_of_prepared(
        prepared,
        steps,
        tables_needed,
        unavailable,
        families,
        registry,
        build_table,
        keep_tables,
        workers,
        timings,
    )


def kept_inputs(steps: Iterable[Step], tables: Iterable[Table]) -> set[str]:
    """Input columns the prepared frame keeps besides the derived ``_*`` ones.

    Only narrow columns: the inputs a planned step or table names, less those
    read only through derived columns (raw text, times, addresses), so a large
    scan does not hold them twice.
    """
    steps, tables = list(steps), list(tables)
    named = {c for s in steps for c in s.requires} | {c for t in tables for c in t.requires}
    return (named | set(KEY_COLUMNS)) - READ_AS_DERIVED


def features_of_prepared(
    prepared: pl.DataFrame,
    steps: list[Step],
    tables_needed: list[Table],
    unavailable: dict[str, list[str]],
    families: Iterable[str] | None = None,
    registry: Registry = REGISTRY,
    build_table: TableBuilder = _build_local,
    keep_tables: bool = False,
    workers: int = 1,
    timings: dict[str, float] | None = None,
    built: dict[str, pl.DataFrame] | None = None,
) -> FeatureResult:
    """Tables, steps and link keys over a prepared frame (:func:`features.prepare.prepare_frame`).

    ``built`` holds tables built beforehand (an out-of-core scan's global
    tables, built once over every shard); ``tables_needed`` are built here,
    and may read them.
    """
    fams = set(FAMILIES if families is None else families)
    timings = {} if timings is None else timings
    # read after the tables are built: by the steps, and by link_keys
    final = {t for s in steps for t in s.tables} | set(LINK_TABLES)
    tables, prepared = _build_tables(
        tables_needed, prepared, build_table, final, keep_tables, workers, timings, built
    )

    t0 = time.perf_counter()
    keep = [
        f.name for s in steps for f in s.features if f.family in fams and f.name not in unavailable
    ]
    # the scored features lead the matrix, so the scorer's input is a view of it
    order = [n for n in keep if registry.get(n).scored] + [
        n for n in keep if not registry.get(n).scored
    ]
    ids, matrix = _run_steps(steps, prepared, tables, keep_tables, order)
    at = {n: j for j, n in enumerate(order)}
    frame = ids.with_columns(pl.Series(n, matrix[:, at[n]]) for n in keep)
    timings["steps"] = time.perf_counter() - t0
    keys = link_keys(prepared, tables)
    # The global tables can outweigh the features (co-review pairs at 10M
    # reviews: ~1 GB); everything downstream reads the features and keys.
    return FeatureResult(
        frame, keep, unavailable, tables if keep_tables else {}, timings, keys, matrix, order
    )


def _run_steps(
    steps: list[Step],
    prepared: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    keep_tables: bool,
    columns: list[str],
) -> tuple[pl.DataFrame, np.ndarray]:
    """``_rid``, ``review_id`` and the features ``columns``, in ``_rid`` order.

    Each step runs on its own over the prepared frame and only its own
    columns are kept, so no row ever carries every table at once (one chain
    of joins held ~4 GB of intermediate columns at 10M reviews); a table is
    freed after the last step that reads it. The values go straight into one
    Fortran-ordered float64 matrix, ``columns`` in order, and the frame's
    feature columns are views of it: the scorer reads the same memory (one
    copy of the features, not two: 1.5 GB at 10M reviews).
    """
    matrix = np.empty((prepared.height, len(columns)), dtype=np.float64, order="F")
    pos = {name: j for j, name in enumerate(columns)}
    base = prepared.lazy()
    rids = prepared["_rid"].to_numpy()
    if not (rids.size < 2 or (rids[1:] > rids[:-1]).all()):
        raise ValueError("the prepared frame must be in ascending _rid order")
    # a whole input's _rid is its row position; a shard's rows (sorted) are found by search
    dense = rids.size == 0 or (rids[0] == 0 and rids[-1] == rids.size - 1)
    for i, step in enumerate(steps):
        wanted = [f for f in step.features if f.name in pos]
        if wanted:
            part = (
                step.fn(base, tables)
                .select(
                    "_rid",
                    *[
                        pl.col(f.name).cast(pl.Float64).fill_null(f.neutral).fill_nan(f.neutral)
                        for f in wanted
                    ],
                )
                .collect()
            )
            # rows come back in any order (joins on the streaming engine): each
            # value goes to its row by _rid, which must name every row once
            # (a scatter: ten times faster than sorting 10M rows)
            at = part["_rid"].to_numpy()
            if not dense:
                found = np.searchsorted(rids, at).clip(0, max(rids.size - 1, 0))
                at = np.where(rids[found] == at, found, -1) if rids.size else at
            seen = np.zeros(prepared.height, dtype=bool)
            seen[at[(at >= 0) & (at < prepared.height)]] = True
            if at.size != prepared.height or not seen.all():
                raise RuntimeError(
                    f"feature step {step.name!r} returned {part.height:,} rows for "
                    f"{prepared.height:,} reviews; a step must add columns, never rows"
                )
            for f in wanted:
                matrix[at, pos[f.name]] = part[f.name].to_numpy()
            del part, at, seen
        if not keep_tables:
            later = {t for s in steps[i + 1 :] for t in s.tables} | set(LINK_TABLES)
            for name in [n for n in step.tables if n not in later]:
                tables.pop(name, None)
    return prepared.select("_rid", "review_id"), matrix


def _build_tables(
    needed: list[Table],
    prepared: pl.DataFrame | pl.LazyFrame | Callable[[Table], pl.LazyFrame],
    build_table: TableBuilder,
    final: set[str],
    keep_tables: bool,
    workers: int,
    timings: dict[str, float],
    built: dict[str, pl.DataFrame] | None = None,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | pl.LazyFrame | Callable]:
    """Build ``needed`` (in dependency order), up to ``workers`` at once.

    A table starts once every table it depends on is built; with several
    workers the ready table heading the longest chain of :attr:`Table.cost`
    goes first, with one they are built exactly in ``needed`` order. What no
    table still to run reads is freed as soon as it is done (at 10M reviews
    the co-review pairs alone are ~1 GB, the normalised texts more): peak
    memory is the sum of what is alive.

    ``prepared`` may also be a lazy frame, or a function giving each table
    the lazy frame it reads (an out-of-core scan reads its inputs from disk);
    ``built`` are tables already built, which ``needed`` may depend on.

    Returns the tables and ``prepared``, without ``_text_norm`` once no table
    reads texts any more.
    """
    tables: dict[str, pl.DataFrame] = dict(built or {})
    source = prepared if callable(prepared) else None
    running: dict[Future, Table] = {}
    # longest chain first: a table's cost plus that of the costliest chain
    # waiting on it (stable, so equal chains keep dependency order)
    chain: dict[str, float] = {}
    for table in reversed(needed):
        after = [chain[t.name] for t in needed if table.name in t.depends]
        chain[table.name] = table.cost + max(after, default=0.0)
    pending = sorted(needed, key=lambda t: -chain[t.name]) if workers > 1 else list(needed)

    def timed(table: Table, lf: pl.LazyFrame, built: dict[str, pl.DataFrame]):
        t0 = time.perf_counter()
        out = build_table(table, lf, built)
        timings[f"table:{table.name}"] = time.perf_counter() - t0
        return out

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="table")
    try:
        while pending or running:
            for table in list(pending):
                if len(running) >= max(1, workers):
                    break
                if all(d in tables for d in table.depends):
                    pending.remove(table)
                    # every table built so far (an engine may batch later tables with it)
                    lf = source(table) if source is not None else prepared.lazy()
                    running[pool.submit(timed, table, lf, dict(tables))] = table
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                tables[running.pop(fut).name] = fut.result()
            later = pending + list(running.values())
            if not keep_tables:
                needed_later = final | {d for t in later for d in t.depends}
                for name in [n for n in tables if n not in needed_later]:
                    del tables[name]
            if (
                isinstance(prepared, pl.DataFrame)
                and "_text_norm" in prepared.columns
                and not any("text" in t.requires for t in later)
            ):
                prepared = prepared.drop("_text_norm")  # steps and keys join on _rid
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return tables, prepared


KEY_COLUMNS = (
    "_rid",
    "review_id",
    "shop_id",
    "product_id",
    "user_id",
    "rating",
    "_t",
    "_pol",
    "_ip",
    "_net",
    "device_id",
    "_delay_min",
    "ip_region",
)


#: Tables :func:`link_keys` reads.
LINK_TABLES: tuple[str, ...] = ("text_clusters", "rings", "ring_partners")


def link_keys(prepared: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The identities of each review that cases are linked by."""
    keys = prepared.select([c for c in KEY_COLUMNS if c in prepared.columns])
    if "text_clusters" in tables:
        keys = keys.join(
            tables["text_clusters"].select("_rid", "text_cluster"), on="_rid", how="left"
        )
    if "rings" in tables:
        # a review belongs to a ring only where the ring acted with it (its
        # product, within the window), not for a ring account's other reviews
        acted = (
            tables["ring_partners"]
            .select("_rid", "user_id")
            .join(tables["rings"].select("user_id", "ring_id", "ring_excess"), on="user_id")
            .select("_rid", "ring_id", "ring_excess")
        )
        keys = keys.join(acted, on="_rid", how="left")
    return keys.sort("_rid")
