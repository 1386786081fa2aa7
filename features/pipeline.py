"""Runs the registered tables and steps over a review frame.

The pipeline decides *what* runs (steps whose input columns are present,
tables those steps need, in dependency order); an engine decides *how* a
table is built. Steps that need absent columns are skipped and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

import features.burst  # noqa: F401  (registers)
import features.cooccurrence  # noqa: F401
import features.history  # noqa: F401
import features.identity  # noqa: F401
import features.text  # noqa: F401
from features.prepare import prepare
from features.registry import FAMILIES, REGISTRY, Registry, Step, Table

TableBuilder = Callable[[Table, pl.LazyFrame, dict[str, pl.DataFrame]], pl.DataFrame]


def _build_local(table: Table, lf: pl.LazyFrame, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return table.build(lf, tables)


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
        ``_t``, ``_pol`` and, when available, ``_ip``, ``_net``, ``device_id``,
        ``text_cluster`` and ``ring_id``.
    timings : dict
        Seconds spent per table and step.
    """

    frame: pl.DataFrame
    features: list[str]
    unavailable: dict[str, list[str]]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    keys: pl.DataFrame | None = None

    @property
    def scored(self) -> list[str]:
        """Computed features the scorer uses (context features left out)."""
        return [n for n in self.features if REGISTRY.get(n).scored]


def plan(
    columns: Iterable[str], families: Iterable[str] | None = None, registry: Registry = REGISTRY
) -> tuple[list[Step], list[Table], dict[str, list[str]]]:
    """Choose the steps and tables that can run on ``columns``.

    Returns
    -------
    steps, tables, unavailable
        Steps to run, the tables they need in dependency order, and for every
        feature that cannot be computed the input columns it lacks.
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
    for step in registry.steps.values():
        wanted = [f for f in step.features if f.family in fams]
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
    reviews: pl.DataFrame | pl.LazyFrame,
    families: Iterable[str] | None = None,
    registry: Registry = REGISTRY,
    build_table: TableBuilder = _build_local,
    keep_tables: bool = False,
) -> FeatureResult:
    """Compute every available feature for ``reviews`` (contract columns).

    Parameters
    ----------
    reviews : DataFrame or LazyFrame
        Valid reviews as produced by :func:`detector.contract.load_reviews`.
    families : iterable of str, optional
        Restrict to these feature families (ablations); all by default.
    build_table : callable, optional
        How a global table is built; engines pass their own.
    keep_tables : bool
        Keep the global tables in the result (for inspection); dropped by
        default to free their memory before scoring.
    """
    lf = reviews.lazy() if isinstance(reviews, pl.DataFrame) else reviews
    steps, tables_needed, unavailable = plan(lf.collect_schema().names(), families, registry)
    fams = set(FAMILIES if families is None else families)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    # Materialised once: every table reads it, and re-running the scan and
    # normalisation per table would cost more than holding it. Only narrow
    # columns are kept: the derived ``_*`` columns and the inputs a planned step
    # or table names, less the raw ``text`` (tables and steps read
    # ``_text_norm``), so a large scan does not hold its texts twice.
    named = {c for s in steps for c in s.requires} | {c for t in tables_needed for c in t.requires}
    named = (named | set(KEY_COLUMNS)) - {"text"}
    prepared_lf = prepare(lf)
    narrow = [c for c in prepared_lf.collect_schema().names() if c.startswith("_") or c in named]
    prepared = prepared_lf.select(narrow).collect()
    timings["prepare"] = time.perf_counter() - t0
    plf = prepared.lazy()

    tables: dict[str, pl.DataFrame] = {}
    # read after the tables are built: by the steps, and by link_keys
    final = {t for s in steps for t in s.tables} | set(LINK_TABLES)
    for i, table in enumerate(tables_needed):
        t0 = time.perf_counter()
        tables[table.name] = build_table(table, plf, tables)
        timings[f"table:{table.name}"] = time.perf_counter() - t0
        # Free what no later table reads (at 10M reviews the co-review pairs
        # alone are ~1 GB, the normalised texts more): peak memory is the sum
        # of what is alive.
        later = tables_needed[i + 1 :]
        if not keep_tables:
            needed = final | {d for t in later for d in t.depends}
            for name in [n for n in tables if n not in needed]:
                del tables[name]
        if "_text_norm" in prepared.columns and not any("text" in t.requires for t in later):
            prepared = prepared.drop("_text_norm")  # steps and keys join on _rid
            plf = prepared.lazy()

    out = plf
    names: list[str] = []
    t0 = time.perf_counter()
    for step in steps:
        out = step.fn(out, tables)
        names += [f.name for f in step.features]
    feats = [registry.get(n) for n in names]
    frame = (
        out.select(
            "_rid",
            "review_id",
            *[
                pl.col(f.name).cast(pl.Float64).fill_null(f.neutral).fill_nan(f.neutral)
                for f in feats
            ],
        )
        .collect()
        .sort("_rid")
    )
    timings["steps"] = time.perf_counter() - t0
    keep = [f.name for f in feats if f.family in fams]
    frame = frame.select("_rid", "review_id", *keep)
    keys = link_keys(prepared, tables)
    # The global tables can outweigh the features (co-review pairs at 10M
    # reviews: ~1 GB); everything downstream reads the features and keys.
    return FeatureResult(frame, keep, unavailable, tables if keep_tables else {}, timings, keys)


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
        # a review belongs to a ring only where the ring acted on its product,
        # not for a ring account's camouflage reviews elsewhere
        acted = (
            tables["ring_partners"]
            .select("product_id", "user_id")
            .join(tables["rings"].select("user_id", "ring_id"), on="user_id")
        )
        keys = keys.join(acted, on=["product_id", "user_id"], how="left")
    return keys.sort("_rid")
