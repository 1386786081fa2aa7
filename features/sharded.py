"""The feature stage over shards of whole shops, for inputs larger than memory.

:func:`features.pipeline.compute_features` holds every review at once. Here
the same tables and steps run in two passes:

1. :func:`build_global_tables` builds the ``"global"`` tables (a user's whole
   history, product ratings, devices, text clusters, co-review rings) from a
   lazy frame of all reviews, reading for each table only the columns it
   names;
2. :func:`shard_features` computes the features of one shard of whole shops:
   it prepares the shard, builds the ``"shop"`` tables (bursts, IP and
   template windows, whose values depend only on the shop's own reviews and
   on the global tables) and runs the steps.

A review's features are the same value for value as in one pass over all
reviews, whatever the shards, because every shop-scoped window group lies
inside one shop (:func:`features.frames.by_shop_shard` relies on the same)
and ``_rid`` is the review's position in the whole input.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from features.pipeline import (
    LINK_TABLES,
    FeatureResult,
    TableBuilder,
    _build_local,
    _build_tables,
    features_of_prepared,
    kept_inputs,
    plan,
)
from features.prepare import prepare, prepare_frame
from features.registry import FAMILIES, REGISTRY, Registry, Step, Table

#: Inputs no shard reads: only global tables use them (the text clusters read the
#: texts; the template windows and features join the clusters by ``_rid``), so a
#: shard is read and prepared without them (no second normalisation of every text).
GLOBAL_ONLY_INPUTS: frozenset[str] = frozenset({"text"})


@dataclass
class GlobalTables:
    """What :func:`build_global_tables` built, and the plan the shards follow.

    Attributes
    ----------
    tables : dict
        The global tables the steps, the shop tables and the link keys read.
    steps : list of Step
        Steps that run on every shard.
    needed : list of Table
        Every table the steps need (global and shop), in dependency order.
    unavailable : dict
        Feature name -> the input columns it needed and did not get.
    features : list of str
        The features every shard computes, in registry order.
    timings : dict
        Seconds per global table.
    """

    tables: dict[str, pl.DataFrame]
    steps: list[Step]
    needed: list[Table]
    unavailable: dict[str, list[str]]
    features: list[str]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def shop_tables(self) -> list[Table]:
        """The tables each shard builds for itself."""
        return [t for t in self.needed if t.scope == "shop"]

    def nbytes(self) -> int:
        """Memory held by the global tables."""
        return sum(t.estimated_size() for t in self.tables.values())


def build_global_tables(
    source: pl.LazyFrame,
    families: Iterable[str] | None = None,
    registry: Registry = REGISTRY,
    build_table: TableBuilder = _build_local,
    workers: int = 1,
) -> GlobalTables:
    """Build the global tables of every review in ``source``.

    Parameters
    ----------
    source : LazyFrame
        All valid reviews in the contract columns and their ``_rid`` (their
        positions in the whole input), typically a scan of Parquet files:
        each table reads only the columns it names from it, lazily.
    families, registry, build_table, workers
        As in :func:`features.pipeline.compute_features`.
    """
    families = list(FAMILIES if families is None else families)
    columns = source.collect_schema().names()
    if "_rid" not in columns:
        raise ValueError("the reviews of a sharded scan need their _rid (position in the input)")
    steps, needed, unavailable = plan(columns, families, registry)
    for table in needed:
        if table.scope == "global" and any(
            registry.tables[d].scope == "shop" for d in table.depends
        ):
            raise ValueError(f"global table {table.name!r} depends on a shop-scoped table")
    glob = [t for t in needed if t.scope == "global"]
    # kept for the shards: what the steps, the shop tables and the link keys read
    final = (
        {t for s in steps for t in s.tables}
        | set(LINK_TABLES)
        | {d for t in needed if t.scope == "shop" for d in t.depends}
    )
    # the contract's required columns (every table may read them)
    base = {"_rid", "review_id", "shop_id", "product_id", "user_id", "rating", "created_at"}

    def source_for(table: Table) -> pl.LazyFrame:
        # only the optional inputs the table names: no IP parsing or text
        # normalisation for tables that do not read them
        wanted = [c for c in columns if c in base or c in table.requires]
        return prepare(source.select(wanted), keyed=True)

    timings: dict[str, float] = {}
    tables, _ = _build_tables(glob, source_for, build_table, final, False, workers, timings)
    fams = set(families)
    features = [
        f.name for s in steps for f in s.features if f.family in fams and f.name not in unavailable
    ]
    return GlobalTables(tables, steps, needed, unavailable, features, timings)


def shard_features(
    shard: pl.DataFrame,
    glob: GlobalTables,
    families: Iterable[str] | None = None,
    registry: Registry = REGISTRY,
    build_table: TableBuilder = _build_local,
    workers: int = 1,
) -> FeatureResult:
    """Features of one shard of whole shops, given the global tables.

    ``shard`` holds the shard's reviews (every review of each of its shops)
    with their ``_rid``, in ``_rid`` order; it need not hold
    :data:`GLOBAL_ONLY_INPUTS`. The result is the shard's part of
    what :func:`features.pipeline.compute_features` gives for all reviews.
    """
    if "_rid" not in shard.columns:
        raise ValueError("a shard needs the _rid of its reviews in the whole input")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    shard = shard.drop([c for c in GLOBAL_ONLY_INPUTS if c in shard.columns])
    prepared = prepare_frame(shard, kept_inputs(glob.steps, glob.needed), keyed=True)
    timings["prepare"] = time.perf_counter() - t0
    return features_of_prepared(
        prepared,
        glob.steps,
        glob.shop_tables,
        glob.unavailable,
        families,
        registry,
        build_table,
        False,
        workers,
        timings,
        built=glob.tables,
    )
