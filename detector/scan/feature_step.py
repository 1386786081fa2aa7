"""The scan's feature step, once for every route: the features of one shard of whole shops.

In core the shard is every review, held in memory, and its global tables are
built with it (over the stored history too in an incremental scan); out of
core the global tables are built once over every staged review
(:func:`global_tables`) and each shard read from disk is given them. An engine
decides only *how* a table is built (:meth:`detector.engines.Engine.build_table`,
``table_workers``, ``building``), never which tables and steps run.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from features.pipeline import FeatureResult, Handoff, TableBuilder, compute_features, plan
from features.sharded import GlobalTables, build_global_tables
from features.sharded import shard_features as features_of_shard


def _shown(engine) -> TableBuilder:
    """``engine.build_table``, each table a stage of the engine's progress."""

    def build(table, lf, tables):
        with engine.progress.stage(f"  table {table.name}"):
            return engine.build_table(table, lf, tables)

    return build


def _columns(reviews) -> list[str]:
    if isinstance(reviews, pl.LazyFrame):
        return reviews.collect_schema().names()
    return list(reviews.columns)


def global_tables(engine, source: pl.LazyFrame, families, n_rows: int) -> GlobalTables:
    """The global tables of the ``n_rows`` reviews of ``source`` (with their ``_rid``)."""
    with engine.progress.stage("global tables"):
        with engine.building(plan(_columns(source), families)[1]):
            return build_global_tables(
                source, families, build_table=_shown(engine), workers=engine.table_workers(n_rows)
            )


def shard_features(
    engine, shard, families, glob: GlobalTables | None = None, history: pl.DataFrame | None = None
) -> FeatureResult:
    """The features of ``shard``, reviews of whole shops with their ``_rid`` in ``_rid`` order.

    ``glob`` holds the global tables built over every shard (out of core);
    without it the shard is the whole input (a frame, lazy frame or
    :class:`features.pipeline.Handoff`) and its global tables are built here,
    over ``history`` + ``shard`` when an incremental scan's history is given.
    """
    if glob is not None:
        workers = engine.table_workers(shard.height)
        return features_of_shard(
            shard, glob, families, build_table=engine.build_table, workers=workers
        )
    if history is not None and history.height:
        return _over_history(engine, shard, families, history)
    with engine.progress.stage("features"), engine.building(plan(_columns(shard), families)[1]):
        return compute_features(
            shard, families, build_table=_shown(engine), table_workers=engine.table_workers
        )


def _over_history(engine, reviews, families, history: pl.DataFrame) -> FeatureResult:
    """The features of ``reviews``, their global tables built over ``history`` + ``reviews``."""
    reviews = reviews.take() if isinstance(reviews, Handoff) else reviews
    hist = history.select([c for c in history.columns if c in reviews.columns])
    hist = hist.cast({c: reviews.schema[c] for c in hist.columns})
    fr = shard_features(engine, pl.concat([hist, reviews], how="diagonal"), families)
    # the part that belongs to the new reviews (_rid >= offset), renumbered from 0
    offset, rid = hist.height, pl.col("_rid")

    def cut(df: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if df is None else df.filter(rid >= offset).with_columns(rid - offset)

    matrix = None if fr.matrix is None else fr.matrix[offset:]  # rows in _rid order
    return dataclasses.replace(fr, frame=cut(fr.frame), keys=cut(fr.keys), matrix=matrix)
