"""The Ray engine: the same feature functions, run through Ray Data.

``review-detector scan INPUT --out OUT --engine ray [--address ADDR]``
(``pip install 'review-detector[ray]'``).

What runs where
---------------
=====================  ==================================================================
load                   on the driver, the one contract loader every scan uses
                       (:func:`detector.input.load.load_reviews`; Polars reads on every core)
user_stats             ``groupby(bucket of user_id).map_groups`` running the table's own
                       Polars function on whole users
product_ratings        ``groupby(bucket of shop block).map_groups`` running the table's own
                       function on whole products
device_stats           Ray aggregation: ``groupby("device_id").aggregate(CountDistinct)``
bursts, ip_bursts,     ``groupby(bucket of shop block).map_groups`` running the table's own
text_windows           function (the numpy window kernels of :mod:`features.windows`) on
                       whole shops. A *shop block* is a connected set of shops and
                       products (a product sold by two shops joins them; found on the
                       driver from the distinct shop-product pairs), so every
                       product, shop and (network, shop/product) group is whole in
                       one call and each value is exactly the one-machine value.
coreview_pairs         users on enough products found with a Ray aggregation, then
                       ``groupby(bucket of product).map_groups`` running
                       :func:`features.cooccurrence.coreview_pairs` on whole products
text_clusters,         on the driver, with the same Polars functions, over narrow
ring_edges, rings,     columns: the template-candidate texts (unique normalised texts,
ring_partners          a few % of reviews) and the small pair/edge tables
any other table        on the driver with its own function; listed as a fallback in
                       ``summary.json`` (``engine.fallbacks``)
fit                    on the driver, once, on the model's own sample
score, explain         Ray tasks over row chunks, the fitted model broadcast once with
                       ``ray.put``
write                  the driver writes Parquet, staged and published atomically
=====================  ==================================================================

Feature steps (joins of the tables back onto reviews), propagation, threshold
and cases run on the driver over narrow columns. Equality with the Polars
engine (same flags, scores within 1e-9) is checked by ``tests/test_engines.py``.

Running on a cluster
--------------------
Start Ray on every node with the same environment (``pip install
'review-detector[ray]'`` of the same version), e.g. ``ray start --head`` on the
head and ``ray start --address=HEAD:6379`` on the workers, then on the head::

    review-detector scan s3-mounted/reviews/ --out /shared/scan --engine ray --address auto

``--address`` also accepts ``ray://HEAD:10001`` (Ray Client) and defaults to
``RAY_ADDRESS``; without either, Ray starts locally on this machine. Input files
are read by the driver. Buckets per groupby default to
twice the cluster's CPUs (``RD_RAY_PARTITIONS`` overrides); a bucket holds
whole shops and must fit in one worker's memory. The shuffle strategy is Ray's
task-based sort shuffle (``RD_RAY_SHUFFLE=hash_shuffle`` picks the actor-based
one, which may suit large clusters better).

Tables of one keying (users; shop blocks; devices) share one shuffle: a scan
runs three Ray passes (``engine.passes`` in ``summary.json``). Each pass ships
every bucket's outputs back as Arrow IPC, one row per table.
"""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np
import polars as pl

from detector.engines.base import Engine
from features.params import RING_MIN_PRODUCTS
from features.registry import REGISTRY, Table

#: Rows per scoring task.
SCORE_CHUNK = 100_000
_ARROW = pl.CompatLevel.oldest()  # large_string etc.: types every Ray version reads
#: How rows are bucketed for a pass: every group a table reads is whole in one bucket.
_KEYINGS = {"user": "user_id", "block": "product_id", "device": "device_id"}
#: Tables with a Ray plan, by keying. ``block`` = connected shops and products, so
#: product, shop and (network, shop/product) groups are all whole.
_TABLE_KEYING = {
    "user_stats": "user",
    "product_ratings": "block",
    "bursts": "block",
    "ip_bursts": "block",
    "text_windows": "block",
    "coreview_pairs": "block",
    "device_stats": "device",
}


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "the Ray engine needs the ray extra: pip install 'review-detector[ray]'"
        ) from exc
    return ray


# --------------------------------------------------------------------------- task functions
# Module-level so Ray pickles them by reference; each runs in a worker.


def _to_arrow(df: pl.DataFrame):
    return df.to_arrow(compat_level=_ARROW)


def _run_pass(batch, jobs, drop):
    """Every job of one keyed pass on one bucket of whole groups.

    ``jobs`` are ``(name, mode, fn, arg)``: mode ``"table"`` runs a registered
    table's own function ``fn(LazyFrame, tables=arg)``, mode ``"frame"`` runs
    ``fn(DataFrame, arg)``. Outputs of different shapes travel back as Arrow IPC
    bytes, one row per job: ``(_table, _ipc)``.
    """
    import pyarrow as pa

    df = pl.DataFrame(batch).drop(drop, strict=False)
    names, blobs = [], []
    for name, mode, fn, arg in jobs:
        out = fn(df.lazy(), arg) if mode == "table" else fn(df, arg)
        names.append(name)
        blobs.append(out.write_ipc(None).getvalue())
    return pa.table({"_table": names, "_ipc": pa.array(blobs, type=pa.large_binary())})


def _add_bucket(batch, key: str, buckets: int, mapping):
    """Append ``_bucket``: a stable bucket of ``key`` (via ``mapping`` when given)."""
    df = pl.DataFrame(batch)
    if mapping is not None:
        df = df.join(mapping, on=key, how="left", maintain_order="left")
        code = pl.col("_block")
    else:
        code = pl.col(key).hash(seed=0)  # in-run bucketing only; never persisted
    df = df.with_columns((code % buckets).cast(pl.Int64).alias("_bucket"))
    if mapping is None:
        df = df.filter(pl.col(key).is_not_null())
    return _to_arrow(df.drop("_block", strict=False))


def _active_users(df: pl.DataFrame, min_products: int) -> pl.DataFrame:
    """Users with reviews on at least ``min_products`` products (whole users in ``df``)."""
    return (
        df.group_by("user_id")
        .agg(pl.col("product_id").n_unique().alias("_np"))
        .filter(pl.col("_np") >= min_products)
        .select("user_id")
    )


#: The pass job finding :func:`_active_users`.
_ACTIVE_USERS_JOB = ("_active_users", "frame", _active_users, RING_MIN_PRODUCTS)


def _coreview_job(df: pl.DataFrame, active: pl.DataFrame) -> pl.DataFrame:
    """Co-review pairs among active users, on whole products."""
    from features.cooccurrence import coreview_pairs

    sub = df.select("review_id", "product_id", "user_id", "_t").join(
        active, on="user_id", how="semi", maintain_order="left"
    )
    return coreview_pairs(sub)


def _call(model, method: str, X):
    return getattr(model, method)(X)


# --------------------------------------------------------------------------- the engine


class RayEngine(Engine):
    """Runs the scan's heavy stages on Ray (local mode without an address).

    Parameters
    ----------
    address : str, optional
        Cluster address for ``ray.init``; ``RAY_ADDRESS`` or a local Ray otherwise.
    num_cpus : int, optional
        CPUs of a *local* Ray (ignored when joining a cluster).
    num_partitions : int, optional
        Buckets per groupby; twice the cluster's CPUs by default.
    """

    name = "ray"
    #: Ray distributes a large scan itself; it never streams one through local shards.
    supports_out_of_core = False
    joins_cluster = True

    def __init__(
        self,
        address: str | None = None,
        progress=None,
        num_cpus: int | None = None,
        num_partitions: int | None = None,
    ):
        super().__init__(progress)
        self.ray = ray = _import_ray()
        self._owns_ray = False
        address = address or os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            kw = dict(
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=True,
            )
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count(), **kw)
            self._owns_ray = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.enable_operator_progress_bars = False
        ctx.enable_auto_log_stats = False
        ctx.print_on_execution_start = False
        # Measured in local mode on 2 cores: the task-based sort shuffle ran a pass in
        # about a third of the time of the actor-based hash shuffle (Ray's default).
        from ray.data.context import ShuffleStrategy

        strategy = os.environ.get("RD_RAY_SHUFFLE", "sort_shuffle_pull_based")
        ctx.shuffle_strategy = ShuffleStrategy(strategy)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        env = os.environ.get("RD_RAY_PARTITIONS")
        self.num_partitions = int(num_partitions or (env and int(env)) or max(2, 2 * cpus))
        self.address = address
        self._ds_key = None
        self._ds = None
        self._blocks: pl.DataFrame | None = None
        self._planned: list[Table] = []
        self._built: dict[str, pl.DataFrame] = {}
        #: The shuffles run, for summary.json: ``{"key": ..., "jobs": [...]}``.
        self.passes: list[dict] = []
        self._remote = ray.remote(_call)
        self._model_refs: dict[int, object] = {}

    def describe(self) -> dict:
        return {
            **super().describe(),
            "address": self.address or "local",
            "partitions": self.num_partitions,
            "passes": list(self.passes),
        }

    def close(self) -> None:
        self._ds = self._ds_key = self._blocks = None
        self._model_refs = {}
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._owns_ray = False

    # -- helpers ---------------------------------------------------------------
    def _gather(self, ds) -> pl.DataFrame:
        import pyarrow as pa

        tables = [t for t in self.ray.get(ds.to_arrow_refs()) if t.num_rows]
        if not tables:
            return pl.DataFrame()
        return pl.DataFrame(pa.concat_tables(tables, promote_options="permissive"))

    def _dataset(self, lf: pl.LazyFrame):
        """The prepared frame as a Ray dataset (built once per feature run; no raw text)."""
        key = id(lf)
        if self._ds_key != key or self._ds is None:
            df = lf.collect()
            # texts stay on the driver: text clusters are built there, keyed by _rid
            keep = [c for c in df.columns if c not in ("text", "_text_norm", "order_id")]
            df = df.select(keep)
            n = max(1, min(self.num_partitions, df.height))
            step = -(-df.height // n) if df.height else 1
            parts = [_to_arrow(df.slice(i, step)) for i in range(0, max(df.height, 1), step)]
            self._ds = self.ray.data.from_arrow(parts)
            self._ds_key = key
            self._blocks = None
        return self._ds

    def _shop_blocks(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """``product_id -> _block``: connected components of the shop-product graph.

        Computed on the driver from the distinct (shop, product) pairs, a table
        the size of the catalogue, not of the reviews.
        """
        if self._blocks is None:
            from scipy.sparse import coo_matrix
            from scipy.sparse.csgraph import connected_components

            pairs = lf.select("shop_id", "product_id").unique().collect()
            shops = pairs["shop_id"].unique().sort()
            prods = pairs["product_id"].unique().sort()
            si = pairs["shop_id"].cast(pl.Enum(shops)).to_physical().to_numpy().astype(np.int64)
            pi = pairs["product_id"].cast(pl.Enum(prods)).to_physical().to_numpy().astype(np.int64)
            n_s = len(shops)
            g = coo_matrix(
                (np.ones(len(si), dtype=np.int8), (si, n_s + pi)), shape=(n_s + len(prods),) * 2
            )
            _, labels = connected_components(g, directed=False)
            self._blocks = pl.DataFrame(
                {"product_id": prods, "_block": pl.Series(labels[n_s:], dtype=pl.Int64)}
            )
        return self._blocks

    def _pass(self, lf: pl.LazyFrame, keying: str, jobs: list) -> dict[str, pl.DataFrame]:
        """One Ray shuffle: bucket rows by ``keying`` and run every job on each bucket."""
        key = _KEYINGS[keying]
        mapping = self._shop_blocks(lf) if keying == "block" else None
        p = self.num_partitions
        keyed = self._dataset(lf).map_batches(
            _add_bucket, batch_format="pyarrow", fn_args=(key, p, mapping), batch_size=None
        )
        rows = self._gather(
            keyed.groupby("_bucket", num_partitions=p).map_groups(
                _run_pass, batch_format="pyarrow", fn_args=(jobs, ["_bucket"])
            )
        )
        self.passes.append({"key": keying, "jobs": [j[0] for j in jobs]})
        out: dict[str, list[pl.DataFrame]] = {j[0]: [] for j in jobs}
        for name, blob in rows.iter_rows():
            out[name].append(pl.read_ipc(blob))
        return {
            name: pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
            for name, parts in out.items()
        }

    @staticmethod
    def _like(out: pl.DataFrame, ref: pl.DataFrame) -> pl.DataFrame:
        """``out`` with the column order and types of ``ref`` (the function on no rows)."""
        if out.height == 0:
            return ref
        if set(out.columns) != set(ref.columns):
            return out
        return out.select(ref.columns).cast(dict(ref.schema))

    # -- stages ----------------------------------------------------------------
    @contextlib.contextmanager
    def building(self, tables: list[Table]):
        # the planned tables, so that tables of one keying share one shuffle
        self._built, self._planned = {}, list(tables)
        try:
            yield
        finally:
            self._built, self._planned = {}, []
            self._ds = self._ds_key = self._blocks = None

    def build_table(
        self, table: Table, lf: pl.LazyFrame, tables: dict[str, pl.DataFrame]
    ) -> pl.DataFrame:
        if table.name not in self._built:
            keying = _TABLE_KEYING.get(table.name)
            if keying is None:
                self.fallbacks.setdefault(table.name, "driver (polars)")
                return table.build(lf, tables)
            self._run_keyed(keying, table, lf, dict(tables))
        return self._built.pop(table.name)

    def _group(self, keying: str, table: Table, lf: pl.LazyFrame, have: dict) -> list[Table]:
        """``table`` and every other planned table of its keying whose inputs are ready.

        A dependency that is a driver table of no dependencies (text clusters)
        is built first, on the driver, into ``have``.
        """
        group = []
        for t in self._planned:
            if _TABLE_KEYING.get(t.name) != keying or t.name in have or t.name in self._built:
                continue
            for d in t.depends:
                dt = REGISTRY.tables.get(d)
                if d not in have and dt is not None and d not in _TABLE_KEYING and not dt.depends:
                    have[d] = self._built[d] = dt.build(lf, have)
                    self.fallbacks.setdefault(d, "driver (polars)")
            if all(d in have for d in t.depends):
                group.append(t)
        return group if table in group else [*group, table]

    def _run_keyed(self, keying: str, table: Table, lf: pl.LazyFrame, have: dict) -> None:
        """Build ``table`` and the tables of its :meth:`_group` in one shuffle."""
        group, jobs = self._group(keying, table, lf, have), []
        if keying == "user" and any(t.name == "coreview_pairs" for t in self._planned):
            if "_active_users" not in self._built:
                jobs.append(_ACTIVE_USERS_JOB)
        for t in group:
            if t.name == "coreview_pairs":
                jobs.append((t.name, "frame", _coreview_job, self._active(lf)))
            else:
                jobs.append((t.name, "table", t.build, {d: have[d] for d in t.depends}))
        self._keep(self._pass(lf, keying, jobs), {t.name: t for t in group}, lf, have)

    def _keep(self, outs: dict, tables: dict[str, Table], lf: pl.LazyFrame, have: dict) -> None:
        """Keep a pass's outputs as the tables their functions give on the driver."""
        for name, df in outs.items():
            t = tables.get(name)
            if t is None:  # the active users
                self._built[name] = df if df.height else pl.DataFrame(schema={"user_id": pl.String})
            elif name == "coreview_pairs":
                nonempty = df.height > 0 and "user_a" in df.columns
                self._built[name] = (
                    df.select("product_id", "user_a", "user_b") if nonempty else t.build(lf, have)
                )
            else:
                self._built[name] = self._like(df, t.build(lf.head(0), have))

    def _active(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """Users on enough products for co-review pairs (a user-keyed pass, cached)."""
        if "_active_users" not in self._built:
            self._keep(self._pass(lf, "user", [_ACTIVE_USERS_JOB]), {}, lf, {})
        return self._built["_active_users"]

    # -- model -----------------------------------------------------------------
    def _model_ref(self, model):
        key = id(model)
        if key not in self._model_refs:
            self._model_refs = {key: self.ray.put(model)}  # broadcast once per fitted model
        return self._model_refs[key]

    def _chunked(self, method: str, model, X: np.ndarray, stage: str):
        n = X.shape[0]
        with self.progress.stage(stage, total=n) as st:
            ref = self._model_ref(model)
            slices = [slice(i, min(i + SCORE_CHUNK, n)) for i in range(0, n, SCORE_CHUNK)]
            futs = [self._remote.remote(ref, method, X[sl]) for sl in slices]
            parts = []
            for sl, fut in zip(slices, futs, strict=True):
                parts.append(self.ray.get(fut))
                st.advance(sl.stop - sl.start)
        return parts

    def score_samples(self, model, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 0:
            return super().score_samples(model, X)
        return np.concatenate(self._chunked("score_samples", model, X, "score"))

    def contributions(self, model, X: np.ndarray) -> tuple[float, np.ndarray]:
        if X.shape[0] == 0:
            return super().contributions(model, X)
        parts = self._chunked("contributions", model, X, "explain")
        return parts[0][0], np.concatenate([c for _, c in parts])
