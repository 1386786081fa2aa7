"""Out-of-core scans: inputs larger than memory, one shard of whole shops at a time.

An in-core scan (:func:`detector.scan.run_scan`) holds every review, its
features and its keys at once: about 0.7 GB per million reviews with text and
IP addresses. Here a scan streams instead:

1. **stage** - each input file is loaded and validated on its own and its
   valid rows are written, in contract types, to a Parquet file of the scan's
   work directory, with ``_rid`` (the review's position among all valid
   reviews, as in an in-core scan) and a bucket of its shop (rows sorted by
   bucket, so a shard reads only its own row groups). A review id repeated
   across files is decided as in one load of every file: its first copy
   passing the key, rating and time checks is the one kept, even when a
   later check (IP, DSR score, delivery time) rejects it;
2. **global tables** over all staged reviews, lazily, each reading only its
   columns (:func:`features.sharded.build_global_tables`);
3. **features** per shard of whole shops (contiguous buckets of at most
   ``shard_rows`` reviews), written to disk with the shard's link keys and the
   64-bit hashes of its review-graph nodes;
4. **fit** the forest on the rows an in-core fit samples (read back by
   ``_rid``), **score** shard by shard, **propagate** over the node hashes of
   every review (9 bytes per review and node kind), choose the threshold;
5. **explain and link** the flagged reviews only, then write scores and
   features shard by shard (streamed into one file, or into the month
   partitions).

Everything per review but the scores and the graph's node ids is bounded by
the largest shard. The results are those of an in-core scan of the same input
and seed: the same features, scores (to the last bit), flags, reasons, cases
and explanations (``tests/test_outofcore.py``); only the row order of
``scores.parquet`` and ``features.parquet`` differs (by shard, input order
within one).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from detector.cases import attach_candidates, attach_case_ids, build_cases
from detector.engines import Engine
from detector.errors import InputError
from detector.input.files import resolve_inputs
from detector.input.load import LoadedInput, load_reviews, scan_reviews, weak_identities
from detector.input.plan import files_in_window, first_reviews
from detector.input.rejects import (
    DUPLICATE_REASON,
    NoRowsError,
    all_rejected_error,
    as_duplicates,
    is_later_copy,
    no_rows_error,
)
from detector.input.schema import CONTRACT, OPTIONAL, REQUIRED
from detector.input.spec import as_spec
from detector.scan.feature_step import global_tables, shard_features
from detector.scan.output import (
    Findings,
    ScanResult,
    timed,
    write_common,
    write_partitions,
    write_summary,
)
from detector.scan.scoring import (
    fit_model,
    flag_and_explain,
    graph_kinds,
    propagated,
    scores_frame,
    to_prior,
    with_review_ids,
)
from features.registry import REGISTRY
from features.sharded import GLOBAL_ONLY_INPUTS
from models.content import content_keys
from models.graph import node_hashes

#: Shop buckets of the staged input; a shard is a run of whole buckets.
BUCKETS = 4096
#: Rows per row group of a staged file, so a shard's read skips other buckets.
ROW_GROUP_ROWS = 65_536
#: Compression of the scan's own work files (read back once or twice, then deleted):
#: lz4 writes and reads faster than the outputs' zstd.
WORK_COMPRESSION = "lz4"
#: Peak memory of an in-core scan per review, measured here (7.3 GB for 10M generated
#: reviews with texts and IP addresses); what :func:`choose_out_of_core` budgets.
IN_CORE_BYTES_PER_REVIEW = 750
#: An in-core scan is chosen while its estimate stays under this share of the free memory.
IN_CORE_SHARE = 0.6


def available_memory() -> int:
    """Bytes this process may still use: free memory, or less under a cgroup limit."""
    import psutil

    free = psutil.virtual_memory().available
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:
                free = min(free, int(limit) - int(Path(usage_file).read_text()))
            break
        except (OSError, ValueError):
            continue
    return max(free, 0)


def choose_out_of_core(inputs, spec=None) -> tuple[bool, str]:
    """Whether a scan of ``inputs`` should stream out of core, and why.

    Out of core when an in-core scan's estimated peak (rows from the Parquet
    footers times :data:`IN_CORE_BYTES_PER_REVIEW`) passes
    :data:`IN_CORE_SHARE` of the memory available. CSV row counts are unknown
    before reading, so CSV input stays in core unless asked.
    """
    spec = as_spec(spec)
    try:
        files = files_in_window(resolve_inputs(inputs), spec)
    except InputError:
        return False, "in core (the loader reports the input's problem)"
    if any(p.suffix.lower() != ".parquet" for p in files):
        return False, "in core (CSV or Excel input: its size is unknown before reading)"
    try:
        rows = sum(pl.scan_parquet(p, glob=False).select(pl.len()).collect().item() for p in files)
    except Exception:  # noqa: BLE001 - unreadable files are worded by the loader
        return False, "in core (the loader reports the input's problem)"
    need, free = rows * IN_CORE_BYTES_PER_REVIEW, available_memory()
    why = (
        f"{rows:,} input rows need about {need / 1e9:.1f} GB in core; "
        f"{free / 1e9:.1f} GB of memory is available"
    )
    if need > IN_CORE_SHARE * free:
        return True, f"out of core: {why}"
    return False, f"in core: {why}"


@dataclass
class StagedInput:
    """Valid reviews of every input file, staged as Parquet in shop buckets.

    Attributes
    ----------
    paths : list of Path
        The staged files (one per input file with valid rows).
    files : list of Path
        The input files read.
    n_input : int
        Rows read from the inputs (valid and rejected).
    rejected : pl.DataFrame
        Rejected rows with their ``reason``.
    present_optional : list of str
        Optional contract columns some input file has.
    bucket_rows : ndarray
        Valid reviews per shop bucket.
    dropped : ndarray
        Sorted staged ``_rid`` of later copies of a review id (rejected).
    """

    paths: list[Path]
    files: list[Path]
    n_input: int
    rejected: pl.DataFrame
    present_optional: list[str]
    bucket_rows: np.ndarray
    dropped: np.ndarray

    @property
    def n_valid(self) -> int:
        return int(self.bucket_rows.sum())

    @property
    def columns(self) -> list[str]:
        """Contract columns of the staged reviews, in contract order."""
        present = set(REQUIRED) | set(self.present_optional)
        return [c for c in CONTRACT if c in present]

    def _valid(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """``lf`` without the dropped copies, ``_rid`` renumbered to positions among valid reviews."""
        if self.dropped.size == 0:
            return lf
        dropped = pl.Series("_d", self.dropped, dtype=pl.Int64)
        return lf.filter(~pl.col("_rid").is_in(dropped.implode())).with_columns(
            (pl.col("_rid") - pl.lit(dropped).search_sorted(pl.col("_rid"))).cast(pl.Int64)
        )

    def scan(self) -> pl.LazyFrame:
        """Every valid review, lazily: ``_rid`` and the contract columns."""
        return self._valid(pl.scan_parquet(self.paths, glob=False)).select("_rid", *self.columns)

    def shards(self, shard_rows: int) -> list[tuple[int, int]]:
        """Runs ``[lo, hi)`` of buckets holding at most ``shard_rows`` reviews each.

        A bucket larger than that (one very large shop) is a shard of its own.
        """
        out: list[tuple[int, int]] = []
        lo, rows = 0, 0
        for b, n in enumerate(self.bucket_rows.tolist()):
            if rows and rows + n > shard_rows:
                out.append((lo, b))
                lo, rows = b, 0
            rows += n
        if rows:
            out.append((lo, len(self.bucket_rows)))
        return out

    def read_shard(self, lo: int, hi: int, skip: Iterable[str] = ()) -> pl.DataFrame:
        """The reviews of buckets ``[lo, hi)``, in ``_rid`` order, without the columns ``skip``."""
        skip = set(skip)
        lf = pl.scan_parquet(self.paths, glob=False).filter(
            pl.col("_bucket").is_between(lo, hi - 1)
        )
        cols = [c for c in self.columns if c not in skip]
        return self._valid(lf).select("_rid", *cols).collect().sort("_rid")

    def loaded(self) -> LoadedInput:
        """What :class:`detector.scan.ScanResult` records about the input (no reviews held)."""
        empty = pl.DataFrame(schema={c: CONTRACT[c] for c in self.columns})
        return LoadedInput(
            empty, self.rejected, list(self.files), self.n_input, list(self.present_optional)
        )


def _bucket(shop: pl.Expr) -> pl.Expr:
    # in-process only: staged files live for one scan (Polars hashes change between versions)
    return (shop.hash(seed=0) % BUCKETS).cast(pl.UInt16)


def stage_inputs(inputs, root: Path, spec=None, progress=None) -> StagedInput:
    """Load and validate ``inputs`` file by file into staged Parquet under ``root``.

    Memory is bounded by the largest input file. Raises
    :class:`detector.errors.InputError` as the loader does (a bad file, no
    rows at all).
    """
    spec = as_spec(spec)
    root.mkdir(parents=True, exist_ok=True)
    files = files_in_window(resolve_inputs(inputs), spec)
    if not files:
        scan_reviews(inputs, spec=spec)  # words the error
        raise NoRowsError("no input file in the time window", files=files)
    if progress is not None:
        progress.set_total(len(files))
    # review ids derived from order ids are decided over every file, as in one load
    first = first_reviews(files, spec)
    paths, rejected, claims, present = [], [], [], set()
    starts: list[tuple[int, int]] = []  # (first _rid, input file) of each staged file
    bucket_rows = np.zeros(BUCKETS, dtype=np.int64)
    n_input = offset = 0
    for i, path in enumerate(files):
        try:
            part = load_reviews(path, spec=spec, first_reviews=first)
        except NoRowsError:
            part = None  # an empty file (or none in the window) among others
        if progress is not None:
            progress.advance(1)
        if part is None:
            continue
        n_input += part.n_input
        present |= set(part.present_optional)
        _keep_rejected(part, i, rejected, claims)
        if part.reviews.height:
            paths.append(root / f"input-{i:06d}.parquet")
            starts.append((offset, i))
            bucket_rows += _stage_file(part.reviews, offset, paths[-1])
            offset += part.reviews.height
        del part
    if offset == 0:
        if rejected:
            raise all_rejected_error(files, n_input, concat_rejected(rejected))
        raise no_rows_error(files, spec.since, spec.until)
    dropped = np.zeros(0, dtype=np.int64)
    if len(files) > 1:
        dropped, dup_buckets = _drop_later_copies(paths, starts, claims, rejected, present)
        bucket_rows -= dup_buckets
    optional = [c for c in OPTIONAL if c in present]
    return StagedInput(
        paths, files, n_input, concat_rejected(rejected), optional, bucket_rows, dropped
    )


def _keep_rejected(part: LoadedInput, i: int, rejected: list, claims: list) -> None:
    """Append input file ``i``'s rejects to ``rejected`` and the rows of them that claim an
    id (:attr:`detector.input.load.LoadedInput.claims`) to ``claims``."""
    if part.rejected.height == 0:
        return
    if part.claims is not None and part.claims.height:
        at = [pl.lit(len(rejected), pl.Int64).alias("_part"), pl.lit(i, pl.Int64).alias("_file")]
        claims.append(part.claims.with_columns(at))
    rejected.append(part.rejected)


def _stage_file(valid: pl.DataFrame, offset: int, out: Path) -> np.ndarray:
    """Write one file's valid reviews to ``out`` from ``_rid`` ``offset``; reviews per bucket."""
    n = valid.height
    # every file staged with every contract column, so the staged files share one schema
    staged = valid.select(
        pl.int_range(offset, offset + n, dtype=pl.Int64).alias("_rid"),
        _bucket(pl.col("shop_id")).alias("_bucket"),
        *[
            pl.col(c) if c in valid.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in CONTRACT.items()
        ],
    ).sort("_bucket", "_rid")
    staged.write_parquet(
        out, compression=WORK_COMPRESSION, row_group_size=ROW_GROUP_ROWS, statistics=True
    )
    return np.bincount(staged["_bucket"].to_numpy(), minlength=BUCKETS)


def _drop_later_copies(paths, starts, claims, rejected: list, present: set):
    """Reject later copies of review ids across files (in place in ``rejected``), as one load
    of every file would; the sorted staged ``_rid`` dropped and the reviews per bucket dropped."""
    dropped, dup_rows, late = _later_copies(paths, starts, pl.concat(claims) if claims else None)
    buckets = np.zeros(BUCKETS, dtype=np.int64)
    if dropped.size:
        buckets = np.bincount(dup_rows["_bucket"].to_numpy(), minlength=BUCKETS)
        rejected.append(_as_rejected(dup_rows.drop("_rid", "_bucket", "_file"), present))
    for k, rows in late.items():
        # rejected copies of an id an earlier file holds: duplicates, as in one load
        is_late = pl.int_range(pl.len(), dtype=pl.Int64).is_in(pl.Series(rows).implode())
        rejected[k] = rejected[k].with_columns(
            pl.when(is_late).then(pl.lit(DUPLICATE_REASON)).otherwise("reason").alias("reason")
        )
    return dropped, buckets


def concat_rejected(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Rejected rows of several files as one frame, ``reason`` last (empty: ``review_id``, ``reason``)."""
    parts = [r for r in parts if r.height]
    if not parts:
        return pl.DataFrame(schema={"review_id": pl.String, "reason": pl.String})
    out = pl.concat(parts, how="diagonal_relaxed")
    return out.select(pl.exclude("reason"), pl.col("reason")) if "reason" in out.columns else out


def _later_copies(
    paths: list[Path], starts: list[tuple[int, int]], claims: pl.DataFrame | None
) -> tuple[np.ndarray, pl.DataFrame, dict[int, list[int]]]:
    """Rows repeating a review id that an earlier input file holds.

    A file's copy of an id counts when it is staged or when it claims the id
    (rejected by a late check only, see :attr:`detector.input.load.LoadedInput.claims`):
    as in one load of every file, the first file's copy is the one kept. Ids are
    compared by a 64-bit hash first (8 bytes a review, not the ids themselves),
    then the few candidates by their text.

    Returns the sorted staged ``_rid`` of later copies, those rows (with their
    input ``_file``), and per part of the rejects the positions of its claiming
    rows that are later copies.
    """
    lf = pl.scan_parquet(paths, glob=False)
    hashes = lf.select(pl.col("review_id").hash(seed=0).alias("_h"), "_rid").collect()
    if claims is not None:
        claims = claims.with_columns(pl.col("review_id").hash(seed=0).alias("_h"))
        hashes = pl.concat([hashes, claims.select("_h", pl.lit(None, pl.Int64).alias("_rid"))])
    dup_h = hashes.filter(pl.col("_h").is_duplicated())["_h"].unique().implode()
    cand = hashes.filter(pl.col("_h").is_in(dup_h))["_rid"].drop_nulls()
    rows = lf.filter(pl.col("_rid").is_in(cand.implode())).collect()
    # a staged row's input file: that of the last staged file starting at or before it
    first_rid = np.array([r for r, _ in starts], dtype=np.int64)
    file_of = np.array([f for _, f in starts], dtype=np.int64)
    at = np.searchsorted(first_rid, rows["_rid"].to_numpy(), side="right") - 1
    rows = rows.with_columns(pl.Series("_file", file_of[at], dtype=pl.Int64))
    copies = [rows.select("review_id", "_file", "_rid")]
    if claims is not None:
        claims = claims.filter(pl.col("_h").is_in(dup_h))
        copies.append(claims.select("review_id", "_file", "_part", "row"))
    copies = pl.concat(copies, how="diagonal").filter(is_later_copy(pl.col("_file")))
    staged = copies.filter(pl.col("_rid").is_not_null())["_rid"].implode()
    later = rows.filter(pl.col("_rid").is_in(staged)).sort("_rid")
    late: dict[int, list[int]] = {}
    if claims is not None:
        for part, row in copies.filter(pl.col("_rid").is_null())[["_part", "row"]].iter_rows():
            late.setdefault(part, []).append(row)
    return later["_rid"].to_numpy(), later, late


def _as_rejected(rows: pl.DataFrame, present: set[str]) -> pl.DataFrame:
    """Dropped copies in the rejects' form, with the columns the input had."""
    return as_duplicates(rows.select([c for c in rows.columns if c in REQUIRED or c in present]))


def _gather(paths: list[Path], rids: np.ndarray, columns: list[str]) -> pl.DataFrame:
    """Rows ``rids`` (``_rid`` values) of the shard files ``paths``, in ``_rid`` order."""
    wanted = pl.Series("_rid", rids, dtype=pl.Int64).implode()
    if rids.size == 0 or not paths:
        return pl.scan_parquet(paths, glob=False).select("_rid", *columns).head(0).collect()
    parts = [
        pl.scan_parquet(p, glob=False)
        .filter(pl.col("_rid").is_in(wanted))
        .select("_rid", *columns)
        .collect()
        for p in paths
    ]
    return pl.concat(parts).sort("_rid")


@dataclass
class Shards:
    """The features of every shard, on disk, and what scoring needs of them in memory."""

    features: list[Path]
    keys: list[Path]
    #: Content keys of every review, by ``_rid``.
    row_keys: np.ndarray
    #: 64-bit node hashes of every review (with ``_rid``), per shard; none without propagation.
    nodes: list[pl.DataFrame]
    names: list[str]
    used: list[str]
    unavailable: dict[str, list[str]]


def _shard_features(staged: StagedInput, work: Path, config, engine: Engine, timings) -> Shards:
    """Global tables over every staged review, then features shard by shard to ``work``."""
    progress, n = engine.progress, staged.n_valid
    with timed(timings, "global_tables"):
        glob = global_tables(engine, staged.scan(), config.families, n)
    t0 = time.perf_counter()
    names = [f for f in glob.features if REGISTRY.get(f).scored]
    kinds = graph_kinds(config, names, glob.features, glob.unavailable)
    out = Shards([], [], np.zeros(n, dtype=np.uint64), [], names, glob.features, glob.unavailable)
    shards = staged.shards(config.shard_rows)
    with progress.stage(f"features ({len(shards)} shards)", total=n) as st:
        for k, (lo, hi) in enumerate(shards):
            shard = staged.read_shard(lo, hi, skip=GLOBAL_ONLY_INPUTS)
            if shard.height == 0:
                continue
            fr = shard_features(engine, shard, config.families, glob)
            del shard
            out.features.append(work / f"features-{k:05d}.parquet")
            out.keys.append(work / f"keys-{k:05d}.parquet")
            fr.frame.write_parquet(out.features[-1], compression=WORK_COMPRESSION)
            fr.keys.write_parquet(out.keys[-1], compression=WORK_COMPRESSION)
            out.row_keys[fr.keys["_rid"].to_numpy()] = content_keys(fr.keys["review_id"])
            if kinds:
                out.nodes.append(node_hashes(fr.keys, kinds).with_columns(fr.keys["_rid"]))
            st.advance(fr.frame.height)
            del fr
    timings.update({f"features.{k}": v for k, v in glob.timings.items()})
    timings["features"] = time.perf_counter() - t0
    glob.tables.clear()  # done with once every shard has its features
    return out


def _score_shards(
    sh: Shards, config, engine: Engine
) -> tuple[object, np.ndarray, np.ndarray, list]:
    """Fit on the rows the model samples, score shard by shard, propagate over every review.

    Returns the model, the priors, the final scores and the graph's node kinds.
    """
    progress, n, names = engine.progress, sh.row_keys.size, sh.names

    def sample(rows: np.ndarray):
        got = _gather(sh.features, rows, names)
        return got.select(names).to_numpy(order="fortran"), got["_rid"].to_numpy()

    with progress.stage("fit", total=n):
        model = fit_model(names, config, sh.row_keys, sample)
    score = np.zeros(n)
    if names:
        with progress.stage(f"score ({len(sh.features)} shards)", total=n) as st:
            for path in sh.features:
                part = pl.read_parquet(path, columns=["_rid", *names], glob=False)
                with progress.muted():  # one line for all shards
                    X = part.select(names).to_numpy(order="fortran")
                    score[part["_rid"].to_numpy()] = engine.score_samples(model, X)
                st.advance(part.height)
                del part
    prior, hashes = to_prior(score, config), None
    if sh.nodes:
        hashes = pl.concat(sh.nodes).sort("_rid").drop("_rid")
        sh.nodes.clear()
    score, kinds = propagated(prior, hashes, config)
    return model, prior, score, kinds


def _cases(sh: Shards, idx: np.ndarray, weak: list[str]):
    """Cases of the flagged reviews ``idx``, with the reviews a case may attach, and their keys."""
    key_cols = pl.scan_parquet(sh.keys[0], glob=False).collect_schema().names() if sh.keys else []
    flagged_keys = _gather(sh.keys, idx, [c for c in key_cols if c != "_rid"])
    # with the reviews a case may attach (same product and polarity, same template)
    near = attach_candidates(flagged_keys)
    cand_keys = pl.concat(
        [pl.scan_parquet(p, glob=False).filter(near).collect() for p in sh.keys]
    ).sort("_rid")
    burst = ["product_burst"] if "product_burst" in sh.used else []
    cand_features = _gather(sh.features, cand_keys["_rid"].to_numpy(), ["review_id", *burst])
    is_flagged = pl.col("_rid").is_in(pl.Series(idx).implode()).alias("flagged")
    cases = build_cases(
        cand_keys.select("review_id", is_flagged),
        cand_keys.drop("_rid"),
        cand_features.drop("_rid"),
        weak,
    )
    return cases, flagged_keys


def _write_shards(directory: Path, work: Path, sh: Shards, scored, config, progress) -> None:
    """Scores and features shard by shard: streamed into one file each, or month partitions.

    ``scored(keys) -> scores`` gives a shard's scores table from its keys.
    """
    parts, partition_by = [], config.partition_by
    with progress.stage("write", total=sh.row_keys.size) as st:
        for k, (fpath, kpath) in enumerate(zip(sh.features, sh.keys, strict=True)):
            keys = pl.read_parquet(kpath, columns=["_rid", "review_id", "rating", "_t"], glob=False)
            scores = scored(keys.drop("_t"))
            if partition_by is None:
                parts.append(work / f"scores-{k:05d}.parquet")
                scores.write_parquet(parts[-1], compression=WORK_COMPRESSION)
            else:
                features = pl.read_parquet(fpath, glob=False).drop("_rid")
                frames = {"scores": scores, "features": features}
                write_partitions(directory, frames, keys, partition_by, f"part-{k:05d}.parquet")
            st.advance(keys.height)
    if partition_by is None:
        for name, files, drop in (
            ("scores.parquet", parts, []),
            ("features.parquet", sh.features, ["_rid"]),
        ):
            pl.scan_parquet(files, glob=False).drop(drop).sink_parquet(
                directory / name, compression="zstd"
            )


def run_out_of_core(inputs, directory: Path, config, engine: Engine, mode: dict, run_id: str):
    """Stage, shard, score and write a scan into ``directory`` (published by the caller).

    Returns a :class:`detector.scan.output.ScanResult` whose ``scores`` hold
    the flagged reviews only (a large scan never holds every score row) and
    whose ``features`` is None.
    """
    if config.shard_rows < 1:
        raise ValueError(f"shard_rows must be at least 1, not {config.shard_rows}")
    timings, t_all, work = {}, time.perf_counter(), directory / ".work"
    with timed(timings, "load"):
        staged = _staged(inputs, work, config, engine)
    sh = _shard_features(staged, work, config, engine, timings)
    with timed(timings, "score"):
        model, prior, score, kinds = _score_shards(sh, config, engine)

    def features_of(rows: np.ndarray) -> np.ndarray:
        return _gather(sh.features, rows, sh.names).select(sh.names).to_numpy(order="fortran")

    with timed(timings, "explain"):
        fl = flag_and_explain(model, sh.names, prior, score, config, engine, features_of)
    choice, flagged, idx, explained, why = fl.choice, fl.flagged, fl.rows, fl.explained, fl.reasons
    with timed(timings, "cases"), engine.progress.stage("cases"):
        cases, flagged_keys = _cases(sh, idx, weak_identities(staged.loaded()))

    def scored(keys: pl.DataFrame) -> pl.DataFrame:
        rid = keys["_rid"].to_numpy()
        frame = scores_frame(keys, score[rid], flagged[rid], why)
        return attach_case_ids(frame, cases.review_case)

    with timed(timings, "write"):
        explained = with_review_ids(explained, flagged_keys)
        write_common(directory, cases.cases, explained, staged.rejected)
        _write_shards(directory, work, sh, scored, config, engine.progress)
    timings["total"] = time.perf_counter() - t_all
    loaded, flagged_scores = (
        staged.loaded(),
        scored(flagged_keys.select("_rid", "review_id", "rating")),
    )
    found = Findings(
        staged.n_valid, flagged_scores, sh.used, sh.unavailable, choice, kinds, cases.cases
    )
    shards = {"shards": len(sh.features), "shard_rows": config.shard_rows}
    run = {"engine": {**engine.describe(), "out_of_core": shards}, "mode": mode, "run_id": run_id}
    summary = write_summary(directory, config, loaded, found, timings, run)
    shutil.rmtree(work, ignore_errors=True)
    return ScanResult(flagged_scores, None, model, float(choice.value), summary, loaded, timings)


def _staged(inputs, work: Path, config, engine: Engine) -> StagedInput:
    """The input staged file by file under ``work``; the scoring workers started."""
    with engine.progress.stage("load (staged file by file)", unit="files") as st:
        try:
            staged = stage_inputs(inputs, work / "input", config.input, st)
        except NoRowsError:
            # an all-rejected input publishes its rejects from this directory: no work files
            shutil.rmtree(work, ignore_errors=True)
            raise
    engine.progress.rows = staged.n_valid
    engine.warm(staged.n_valid)  # the scoring workers start while the features are computed
    return staged
