"""``review-detector bench``: every method on the same data, in one run, with one metric module.

Suites
------
``quality`` (default)
    Generated fraud sets (every attack family and honest trap present) at a
    few sizes and *reporting* seeds (1001+; seeds 0-9 are for development),
    plus YelpChi when its file is present. Every method of
    :data:`benchmarks.baselines.METHODS` scores every review; figures come from
    :mod:`benchmarks.metrics`; review-detector is also run with each feature
    family removed (and alone, in the full suite) for the ablation.
``scale``
    Owned by :mod:`benchmarks.scale` (``run_scale(out_dir, quick) -> dict``),
    imported only when asked for; reported as not available while that module
    does not exist.

Measurement
-----------
Each (dataset, method) run happens in a fresh child process forked from a
forkserver that has already imported the libraries, so neither import time nor
another method's memory is counted. In the child: the dataset is read from a
temporary Parquet file, the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs``), the method runs under :func:`time.perf_counter`,
and ``VmHWM`` is read: **peak RSS** is the process's resident-memory high-water
mark while the method ran (including the interpreter, libraries and the loaded
data, reported separately as *base*). Where the reset is not possible the
lifetime ``ru_maxrss`` is used and that is recorded. Runs are sequential (no
two methods share the two cores) and, when repeated, interleaved across
methods; times are medians of the repeats.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import importlib
import importlib.metadata
import importlib.util
import math
import multiprocessing as mp
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks import matrix, metrics
from benchmarks.baselines import METHODS
from benchmarks.generator import ATTACK_FAMILIES, TRAPS, generate

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "latest"
DEV_SEEDS = matrix.DEV_SEEDS  # one definition of the development seeds for every suite
WARMUP_ROWS = 500
RESULTS_SCHEMA = 1

Log = Callable[[str], None]


# ----------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class SuiteSpec:
    """What a quality suite runs."""

    name: str
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    large: tuple[int, ...] = ()  # extra sizes, first seed only, no ablation, one repeat
    yelpchi: bool = True
    ablation_synthetic: str = "drop"  # "none" | "drop" | "drop+alone"
    ablation_yelpchi: str = "none"
    repeats: int = 1  # timing repeats on datasets up to repeat_max_rows
    repeat_max_rows: int = 200_000


QUICK = SuiteSpec("quick", sizes=(20_000,), seeds=(1001,), ablation_synthetic="drop")
FULL = SuiteSpec(
    "full",
    sizes=(20_000, 100_000),
    seeds=(1001, 1002, 1003),
    large=(300_000,),
    ablation_synthetic="drop+alone",
    ablation_yelpchi="drop+alone",
    repeats=3,
)


# ----------------------------------------------------------------------------- datasets


@dataclass
class Dataset:
    """One labelled benchmark dataset."""

    name: str
    kind: str  # "synthetic" or "yelpchi"
    reviews: pl.DataFrame
    labels: pl.DataFrame
    meta: dict = field(default_factory=dict)


def _size_tag(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n / 1000:g}k"


def synthetic_dataset(n_reviews: int, seed: int) -> Dataset:
    """A generated market (:func:`benchmarks.generator.generate`) with its labels."""
    reviews, labels = generate(n_reviews, seed=seed)
    attack = labels.filter(pl.col("is_fake")).group_by("attack_type").len().sort("attack_type")
    trap = labels.drop_nulls("trap").group_by("trap").len().sort("trap")
    attacks = dict(zip(attack["attack_type"].to_list(), attack["len"].to_list(), strict=True))
    traps = dict(zip(trap["trap"].to_list(), trap["len"].to_list(), strict=True))
    missing = [a for a in ATTACK_FAMILIES if a not in attacks] + [
        t for t in TRAPS if t not in traps
    ]
    return Dataset(
        name=f"synthetic-{_size_tag(n_reviews)}-s{seed}",
        kind="synthetic",
        reviews=reviews,
        labels=labels,
        meta={
            "source": f"benchmarks.generator.generate({n_reviews}, seed={seed})",
            "n_reviews": reviews.height,
            "seed": seed,
            "attack_counts": attacks,
            "trap_counts": traps,
            "missing_groups": missing,
        },
    )


def yelpchi_dataset(path=None) -> Dataset:
    """YelpChi converted to the contract (raises ``FileNotFoundError`` when absent)."""
    from benchmarks import yelpchi

    p = Path(path) if path else yelpchi.yelpchi_path()
    reviews, labels = yelpchi.load_yelpchi(p)
    return Dataset(
        name="yelpchi",
        kind="yelpchi",
        reviews=reviews,
        labels=labels,
        meta={
            "source": yelpchi.SOURCE,
            "path": str(p),
            "n_reviews": reviews.height,
            "seed": None,
            "columns": reviews.columns,
        },
    )


# ----------------------------------------------------------------------------- isolation


def _vm_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak-RSS mark (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _vm_kb("VmHWM") is not None


def _max_rss_kb() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r


def measure(task: dict) -> dict:
    """Run one method on one dataset file and measure it (called in the child)."""
    method = METHODS[task["method"]]
    reviews = pl.read_parquet(task["data"])
    params = task.get("params", {})
    # One untimed call on a small slice first: numba compilation (PyOD's HBOS
    # spends seconds there), lazy imports and first-call caches are paid once
    # per process by any user and are not what a method costs per review.
    warm_err = None
    t0 = time.perf_counter()
    try:
        method.fn(reviews.head(WARMUP_ROWS), seed=task["seed"], **params)
    except Exception as exc:  # a slice too small for a method is not a failure
        warm_err = f"{type(exc).__name__}: {exc}"
    warm_seconds = time.perf_counter() - t0
    gc.collect()
    reset = _reset_peak()
    base_kb = _vm_kb("VmRSS")
    if base_kb is None:
        import psutil

        base_kb = psutil.Process().memory_info().rss // 1024
    t0 = time.perf_counter()
    out = method.fn(reviews, seed=task["seed"], **params)
    seconds = time.perf_counter() - t0
    peak_kb = _vm_kb("VmHWM") if reset else None
    if peak_kb is None:
        peak_kb = _max_rss_kb()
    scores = np.asarray(out.scores, dtype=np.float64)
    flagged = np.asarray(out.flagged, dtype=bool)
    if scores.shape[0] != reviews.height or flagged.shape[0] != reviews.height:
        raise RuntimeError(
            f"{task['method']} returned {scores.shape[0]} scores for {reviews.height} reviews"
        )
    return {
        "seconds": seconds,
        "base_rss_mb": base_kb / 1024,
        "peak_rss_mb": peak_kb / 1024,
        "memory_method": "VmHWM after reset" if reset else "ru_maxrss (process lifetime)",
        "warmup_seconds": warm_seconds,
        "warmup_error": warm_err,
        "scores": scores,
        "flagged": flagged,
        "info": out.info,
    }


def _child(conn, task: dict, alive=None) -> None:
    if alive is not None:
        from detector.engines.polars_engine import exit_with_parent

        exit_with_parent(alive)  # a killed bench leaves no measured run behind
    try:
        conn.send({"ok": True, **measure(task)})
    except BaseException as exc:  # report everything, including MemoryError
        conn.send(
            {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        )
    finally:
        conn.close()


def _preload() -> list[str]:
    mods = [
        "numpy",
        "polars",
        "sklearn.ensemble",
        "detector.scan",
        "features.pipeline",
        "models.threshold",
        "benchmarks.baselines",
        "benchmarks.runner",
    ]
    if importlib.util.find_spec("pyod") is not None:
        mods += ["pyod.models.ecod", "pyod.models.hbos", "benchmarks._forkserver_warm"]
    return mods


class Isolator:
    """Runs :func:`measure` in a fresh forked child per task (or in-process)."""

    def __init__(self, isolate: bool = True):
        self.isolate = isolate
        self.ctx = None
        if isolate:
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            self.ctx = mp.get_context(method)
            if method == "forkserver":
                self.ctx.set_forkserver_preload(_preload())
        self.how = (
            f"child process per run ({self.ctx.get_start_method()})" if isolate else "in-process"
        )
        # liveness pipe: the write end stays here, so each child ends when this process does
        self._alive = self.ctx.Pipe(duplex=False) if isolate else None

    def run(self, task: dict) -> dict:
        if not self.isolate:
            try:
                return {"ok": True, **measure(task)}
            except Exception as exc:
                return {
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(),
                }
        parent, child = self.ctx.Pipe(duplex=False)
        # not daemonic: joblib refuses worker processes inside daemonic ones and would
        # silently run the methods' n_jobs > 1 parts single-threaded
        proc = self.ctx.Process(target=_child, args=(child, task, self._alive[0]), daemon=False)
        proc.start()
        child.close()
        try:
            result = parent.recv()
        except EOFError:
            proc.join()
            result = {
                "ok": False,
                "error": f"child process exited with code {proc.exitcode} before reporting "
                "(killed for memory, or a script calling the bench without "
                "`if __name__ == '__main__':`)",
            }
        finally:
            parent.close()
        proc.join()
        return result


# ----------------------------------------------------------------------------- ablation


def _scan_fields() -> dict[str, dataclasses.Field]:
    from detector.scan import ScanConfig

    return {f.name: f for f in dataclasses.fields(ScanConfig)}


def ablation_variants(
    families_used: Sequence[str], mode: str, graph_kinds: Sequence[str] = ()
) -> list[dict]:
    """review-detector variants: without each family used, alone, each graph node kind removed, propagation toggled."""
    from features.registry import FAMILIES

    if mode == "none":
        return []
    out = []
    for fam in families_used:
        out.append(
            {
                "variant": f"without {fam}",
                "removed": fam,
                "params": {"families": [f for f in FAMILIES if f != fam]},
            }
        )
    if mode == "drop+alone" and len(families_used) > 1:
        for fam in families_used:
            out.append({"variant": f"only {fam}", "only": fam, "params": {"families": [fam]}})
    if len(graph_kinds) > 1:
        for kind in graph_kinds:
            out.append(
                {
                    "variant": f"without {kind} nodes",
                    "params": {"graph_kinds": [k for k in graph_kinds if k != kind]},
                }
            )
    fields = _scan_fields()
    if "propagate" in fields:
        default = fields["propagate"].default
        if isinstance(default, bool):
            out.append(
                {
                    "variant": "no propagation" if default else "with propagation",
                    "params": {"propagate": not default},
                }
            )
    return out


# ----------------------------------------------------------------------------- the quality suite


@dataclass
class QualityRun:
    """Figures (JSON-ready) plus the scores the plots need."""

    results: dict
    scores: dict[str, dict[str, dict]]  # dataset -> method label -> {"scores", "flagged"}
    labels: dict[str, pl.DataFrame]
    datasets: list[dict]


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def _evaluate(ds: Dataset, scores: np.ndarray, flagged: np.ndarray) -> dict:
    synthetic = ds.kind == "synthetic"
    return metrics.evaluate(
        ds.labels,
        scores,
        flagged,
        attack_families=ATTACK_FAMILIES if synthetic else (),
        traps=TRAPS if synthetic else (),
        ks=(100,),
    )


def _halves(ds: Dataset, scores: np.ndarray) -> dict:
    """ROC-AUC and AP on each half of YelpChi's businesses (:func:`benchmarks.yelpchi.product_halves`)."""
    from benchmarks.yelpchi import product_halves

    half = product_halves(ds.reviews["product_id"])
    y = ds.labels["is_fake"].to_numpy().astype(bool)
    out = {}
    for h, name in ((0, "A"), (1, "B")):
        m = half == h
        out[name] = {
            "n_reviews": int(m.sum()),
            "roc_auc": metrics.roc_auc(y[m], scores[m]),
            "average_precision": metrics.average_precision(y[m], scores[m]),
        }
    return out


def _summarise_runs(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["ok"]]
    first = ok[0]
    same = all(
        np.array_equal(r["scores"], first["scores"])
        and np.array_equal(r["flagged"], first["flagged"])
        for r in ok[1:]
    )
    return {
        "status": "ok",
        "seconds": _median([r["seconds"] for r in ok]),
        "seconds_runs": [round(r["seconds"], 4) for r in ok],
        "peak_rss_mb": _median([r["peak_rss_mb"] for r in ok]),
        "base_rss_mb": _median([r["base_rss_mb"] for r in ok]),
        "memory_method": first["memory_method"],
        "warmup_seconds": _median([r["warmup_seconds"] for r in ok]),
        "repeats_identical": same if len(ok) > 1 else None,
    }


def run_quality(
    datasets: Sequence[Dataset] | None = None,
    methods: Sequence[str] | None = None,
    *,
    spec: SuiteSpec = QUICK,
    seeds: Sequence[int] | None = None,
    sizes: Sequence[int] | None = None,
    ablation: str | Sequence[str] | None = None,
    repeats: int | None = None,
    include_yelpchi: bool | None = None,
    isolate: bool = True,
    log: Log = print,
) -> QualityRun:
    """Run every method on every dataset and compute every figure.

    Parameters
    ----------
    datasets : sequence of Dataset, optional
        Use these instead of the suite's generated sets (tests pass tiny ones);
        YelpChi is then only added when ``include_yelpchi`` is True.
    methods : sequence of str, optional
        Method ids from :data:`benchmarks.baselines.METHODS` (default: all).
    spec : SuiteSpec
        :data:`QUICK` or :data:`FULL`; ``seeds``, ``sizes``, ``ablation``
        (applied to every dataset) and ``repeats`` override it. ``ablation`` is
        ``"none"``, ``"drop"`` (each family removed), ``"drop+alone"`` (and
        each family alone) or a list of variant names such as
        ``["without history", "no propagation"]``.
    isolate : bool
        Measure each run in a fresh child process (default). In-process runs
        are for debugging: their memory figures include earlier runs.
    """
    skipped: list[dict] = []
    warnings: list[str] = []
    seeds = tuple(seeds) if seeds else spec.seeds
    method_ids = list(methods) if methods else list(METHODS)
    unknown = [m for m in method_ids if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    for s in seeds:
        if s in DEV_SEEDS:
            warnings.append(
                f"seed {s} is a development seed (0-9); reported figures should use held-out seeds"
            )

    # ---- datasets
    plan: list[tuple[Dataset, str, int]] = []  # dataset, ablation mode, repeats
    reps = repeats if repeats is not None else spec.repeats
    if datasets is None:
        for n in sizes or spec.sizes:
            for s in seeds:
                t0 = time.perf_counter()
                ds = synthetic_dataset(n, s)
                log(f"generated {ds.name} in {time.perf_counter() - t0:.1f} s")
                plan.append(
                    (
                        ds,
                        ablation or spec.ablation_synthetic,
                        reps if n <= spec.repeat_max_rows else 1,
                    )
                )
        if sizes is None:
            for n in spec.large:
                ds = synthetic_dataset(n, seeds[0])
                log(f"generated {ds.name}")
                plan.append((ds, "none", 1))
    else:
        plan = [(ds, ablation or "none", repeats or 1) for ds in datasets]
    want_yelp = (
        include_yelpchi if include_yelpchi is not None else (datasets is None and spec.yelpchi)
    )
    if want_yelp:
        from benchmarks import yelpchi

        path = yelpchi.yelpchi_path()
        if yelpchi.available(path):
            ds = yelpchi_dataset(path)
            plan.append((ds, ablation or spec.ablation_yelpchi, reps))
            log(f"loaded YelpChi ({ds.reviews.height:,} reviews) from {path}")
        else:
            skipped.append(
                {
                    "what": "dataset yelpchi",
                    "reason": f"file not found at {path} (set {yelpchi.ENV_VAR} to its path)",
                }
            )
            log(f"YelpChi skipped: not found at {path}")
    for ds, _, _ in plan:
        if ds.meta.get("missing_groups"):
            warnings.append(f"{ds.name} lacks {ds.meta['missing_groups']}")

    # ---- methods available
    runnable = []
    for mid in method_ids:
        missing = METHODS[mid].missing()
        if missing:
            skipped.append(
                {
                    "what": f"method {mid}",
                    "reason": f"{', '.join(missing)} not installed (pip install 'review-detector[pyod]')",
                }
            )
            log(f"{METHODS[mid].label} skipped: {', '.join(missing)} not installed")
        else:
            runnable.append(mid)

    iso = Isolator(isolate)
    per_dataset: dict[str, dict] = {}
    score_store: dict[str, dict[str, dict]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="review-detector-bench-"))
    try:
        for ds, abl_mode, n_rep in plan:
            data_path = tmp / f"{ds.name}.parquet"
            ds.reviews.write_parquet(data_path, compression="lz4")
            runs: dict[str, list[dict]] = {m: [] for m in runnable}
            for rep in range(n_rep):  # interleaved: each repeat runs every method once
                for mid in runnable:
                    r = iso.run({"data": str(data_path), "method": mid, "seed": 0})
                    runs[mid].append(r)
                    if r["ok"]:
                        log(
                            f"{ds.name:<22} {METHODS[mid].label:<32} "
                            f"{r['seconds']:7.2f} s {r['peak_rss_mb']:7.0f} MB"
                            + (f"  (repeat {rep + 1}/{n_rep})" if n_rep > 1 else "")
                        )
                    else:
                        log(f"{ds.name:<22} {METHODS[mid].label:<32} FAILED: {r['error']}")
            methods_out: dict[str, dict] = {}
            score_store[ds.name] = {}
            for mid in runnable:
                m = METHODS[mid]
                entry = {
                    "label": m.label,
                    "threshold_rule": m.threshold_rule,
                    "description": m.description,
                }
                ok = [r for r in runs[mid] if r["ok"]]
                if not ok:
                    errs = [r for r in runs[mid] if not r["ok"]]
                    entry.update(
                        status="failed", error=errs[0]["error"], trace=errs[0].get("trace")
                    )
                    methods_out[mid] = entry
                    continue
                entry.update(_summarise_runs(runs[mid]))
                entry["info"] = ok[0]["info"]
                entry["metrics"] = _evaluate(ds, ok[0]["scores"], ok[0]["flagged"])
                if ds.kind == "yelpchi":
                    entry["halves"] = _halves(ds, ok[0]["scores"])
                methods_out[mid] = entry
                score_store[ds.name][m.label] = {
                    "scores": ok[0]["scores"],
                    "flagged": ok[0]["flagged"],
                }

            # ---- ablation of review-detector
            ablation_rows: list[dict] = []
            rd = methods_out.get("review_detector")
            if abl_mode != "none" and rd and rd["status"] == "ok":
                from features.registry import FAMILIES

                used = rd["info"]["families_used"]
                full = rd["metrics"]
                ablation_rows.append(_ablation_row("all families", rd, full, full, list(FAMILIES)))
                for fam in FAMILIES:
                    if fam not in used:
                        ablation_rows.append(
                            {
                                "variant": f"without {fam}",
                                "status": "not applicable",
                                "reason": "no feature of this family can be computed on this data",
                            }
                        )
                kinds = rd["info"].get("graph_kinds") or []
                if isinstance(abl_mode, str):
                    variants = ablation_variants(used, abl_mode, kinds)
                else:
                    wanted = set(abl_mode)
                    variants = [
                        v
                        for v in ablation_variants(used, "drop+alone", kinds)
                        if v["variant"] in wanted
                    ]
                for var in variants:
                    r = iso.run(
                        {
                            "data": str(data_path),
                            "method": "review_detector",
                            "seed": 0,
                            "params": var["params"],
                        }
                    )
                    if not r["ok"]:
                        ablation_rows.append(
                            {"variant": var["variant"], "status": "failed", "error": r["error"]}
                        )
                        log(f"{ds.name:<22} ablation {var['variant']:<24} FAILED: {r['error']}")
                        continue
                    ev = _evaluate(ds, r["scores"], r["flagged"])
                    summary = {**_summarise_runs([r]), "info": r["info"]}
                    ablation_rows.append(
                        _ablation_row(
                            var["variant"],
                            summary,
                            ev,
                            full,
                            var["params"].get("families"),
                            var["params"],
                        )
                    )
                    log(
                        f"{ds.name:<22} ablation {var['variant']:<24} {r['seconds']:7.2f} s "
                        f"ROC-AUC {ev['roc_auc']:.3f}"
                    )
            ablation_rows.sort(key=_ablation_order)
            references = []
            if ds.kind == "yelpchi":
                from benchmarks.yelpchi import SPEAGLE_REFERENCE

                references.append(dict(SPEAGLE_REFERENCE))
            per_dataset[ds.name] = {
                "kind": ds.kind,
                "n_reviews": ds.reviews.height,
                "n_fake": int(ds.labels["is_fake"].sum()),
                "repeats": n_rep,
                "methods": methods_out,
                "references": references,
                "ablation": ablation_rows,
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    dataset_meta = [
        {
            "name": ds.name,
            "kind": ds.kind,
            "n_fake": int(ds.labels["is_fake"].sum()),
            "fake_share": float(ds.labels["is_fake"].mean()),
            "ablation": abl,
            "repeats": n_rep,
            **ds.meta,
        }
        for ds, abl, n_rep in plan
    ]
    results = {
        "datasets": dataset_meta,
        "methods": {
            mid: {
                "label": METHODS[mid].label,
                "description": METHODS[mid].description,
                "threshold_rule": METHODS[mid].threshold_rule,
            }
            for mid in method_ids
        },
        "results": per_dataset,
        "aggregate": aggregate(per_dataset, dataset_meta),
        "skipped": skipped,
        "warnings": warnings,
        "measurement": {
            "isolation": iso.how,
            "time": "time.perf_counter around the method call only (data already in memory, "
            f"libraries imported, one untimed warm-up call on the first {WARMUP_ROWS} rows to "
            "exclude JIT compilation and first-call costs); median of repeats, repeats "
            "interleaved across methods",
            "memory": "peak resident set size (VmHWM) of the child while the method ran, after "
            "resetting the mark; base = resident size before the method (interpreter, libraries, data)",
            "metrics": "benchmarks/metrics.py on every review; per family = that family's fakes vs "
            "all honest reviews; trap flag rate = share of the trap's honest reviews flagged",
        },
    }
    return QualityRun(results, score_store, {ds.name: ds.labels for ds, _, _ in plan}, dataset_meta)


def _ablation_order(row: dict) -> tuple[int, int]:
    """all families, without <family> (registry order), only <family>, anything else."""
    from features.registry import FAMILIES

    v = row["variant"]
    for rank, prefix in ((1, "without "), (2, "only ")):
        if v.startswith(prefix) and v[len(prefix) :] in FAMILIES:
            return rank, FAMILIES.index(v[len(prefix) :])
    return (0, 0) if v == "all families" else (3, 0)


def _ablation_row(variant, run: dict, ev: dict, full: dict, families, params=None) -> dict:
    per_fam = {k: v["roc_auc"] for k, v in ev.get("per_family", {}).items()}
    return {
        "variant": variant,
        "status": "ok",
        "families": list(families) if families else None,
        "params": params or {},
        "features": len(run.get("info", {}).get("features", [])),
        "roc_auc": ev["roc_auc"],
        "average_precision": ev["average_precision"],
        "precision_at_n_fake": ev["precision_at_n_fake"],
        "recall_at_threshold": ev["at_threshold"]["recall"],
        "precision_at_threshold": ev["at_threshold"]["precision"],
        "flag_rate": ev["at_threshold"]["flag_rate"],
        "delta_roc_auc": ev["roc_auc"] - full["roc_auc"],
        "delta_average_precision": ev["average_precision"] - full["average_precision"],
        "per_family_roc_auc": per_fam,
        "trap_flag_rate": {k: v["flag_rate"] for k, v in ev.get("per_trap", {}).items()},
        "seconds": run["seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
    }


def aggregate(per_dataset: dict, dataset_meta: list[dict]) -> list[dict]:
    """Synthetic results grouped by size over seeds: mean, sd, min, max of each figure."""
    groups: dict[int, list[str]] = {}
    for d in dataset_meta:
        if d["kind"] == "synthetic":
            groups.setdefault(d["n_reviews"], []).append(d["name"])
    out = []
    for n, names in sorted(groups.items()):
        methods_here: list[str] = []
        for name in names:
            for mid in per_dataset[name]["methods"]:
                if mid not in methods_here:
                    methods_here.append(mid)
        for mid in methods_here:
            rows = [
                per_dataset[name]["methods"][mid]
                for name in names
                if per_dataset[name]["methods"].get(mid, {}).get("status") == "ok"
            ]
            if not rows:
                continue

            def stat(get, rows=rows):
                vals = [get(r) for r in rows]
                vals = [v for v in vals if v is not None and not math.isnan(v)]
                if not vals:
                    return None
                return {
                    "mean": float(np.mean(vals)),
                    "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
                    "min": float(np.min(vals)),
                    "max": float(np.max(vals)),
                }

            out.append(
                {
                    "n_reviews": n,
                    "method": mid,
                    "label": rows[0]["label"],
                    "datasets": [
                        name
                        for name in names
                        if per_dataset[name]["methods"].get(mid, {}).get("status") == "ok"
                    ],
                    "roc_auc": stat(lambda r: r["metrics"]["roc_auc"]),
                    "average_precision": stat(lambda r: r["metrics"]["average_precision"]),
                    "precision_at_n_fake": stat(lambda r: r["metrics"]["precision_at_n_fake"]),
                    "recall_at_threshold": stat(lambda r: r["metrics"]["at_threshold"]["recall"]),
                    "precision_at_threshold": stat(
                        lambda r: r["metrics"]["at_threshold"]["precision"]
                    ),
                    "flag_rate": stat(lambda r: r["metrics"]["at_threshold"]["flag_rate"]),
                    "seconds": stat(lambda r: r["seconds"]),
                    "peak_rss_mb": stat(lambda r: r["peak_rss_mb"]),
                    "per_family_roc_auc": {
                        fam: stat(
                            lambda r, fam=fam: (
                                r["metrics"]["per_family"].get(fam, {}).get("roc_auc")
                            )
                        )
                        for fam in ATTACK_FAMILIES
                    },
                    "trap_flag_rate": {
                        t: stat(lambda r, t=t: r["metrics"]["per_trap"].get(t, {}).get("flag_rate"))
                        for t in TRAPS
                    },
                }
            )
    return out


# ----------------------------------------------------------------------------- scale hook


def run_scale_suite(out_dir: Path, quick: bool, sizes: Sequence[int] | None = None) -> dict:
    """Call ``benchmarks.scale.run_scale(out_dir, quick, sizes=sizes)`` when that module exists
    (``sizes`` None: the suite's own).

    The returned dict is stored under ``"scale"`` in ``results.json`` and its
    ``"sizes"`` rows (``reviews``, ``seconds``, ``peak_gb``, ``quality`` ...) are
    tabulated in ``results.md``; the module writes its own ``scale.json`` and
    ``time_vs_size.png`` into ``out_dir``.
    """
    try:
        mod = importlib.import_module("benchmarks.scale")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.scale":
            raise
        return {
            "status": "not available",
            "reason": "benchmarks/scale.py is not part of this version",
        }
    res = mod.run_scale(Path(out_dir), quick, sizes=sizes)
    return {"status": "ok", **(res if isinstance(res, dict) else {"result": res})}


# ----------------------------------------------------------------------------- environment


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in (
        "review-detector",
        "polars",
        "scikit-learn",
        "numpy",
        "pyarrow",
        "rapidfuzz",
        "networkx",
        "pyod",
        "matplotlib",
        "psutil",
    ):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _machine() -> dict:
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        mem = psutil.virtual_memory().total
    except Exception:
        mem = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": model or platform.processor() or None,
        "memory_gb": round(mem / 2**30, 1) if mem else None,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _git() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", "-C", str(REPO_ROOT), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None}
    status = git("status", "--porcelain", "--untracked-files=no") or ""
    # porcelain v1: two status letters, a space, the path
    changed = [line[3:] for line in status.splitlines() if len(line) > 3]
    return {
        "commit": commit.strip(),
        "branch": (git("rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
        "dirty": bool(changed),
        "changed_files": changed,
    }


def environment(command: str | None = None) -> dict:
    """What every results file records about its run: tool, command, start time, machine, versions, git."""
    return {
        "schema": RESULTS_SCHEMA,
        "tool": "review-detector bench",
        "command": command or shlex.join(["review-detector", *sys.argv[1:]]),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "versions": _versions(),
        "git": _git(),
    }


def json_ready(obj):
    """JSON-ready copy: nan/inf -> None, numpy scalars -> Python, tuples -> lists."""
    return _clean(obj)


def _clean(obj):
    """JSON-ready copy: nan/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


# ----------------------------------------------------------------------------- outputs


OWN_FILES = ("results.json", "results.md")
#: Plots this module writes (and removes when a later run does not make them again).
#: ``time_vs_size.png`` and ``scale.json`` belong to :mod:`benchmarks.scale` and are
#: never touched here.
OWN_PATTERNS = ("pr_curves_*.png", "score_dist_*.png", "time_vs_size_methods.png")


def time_points(per_dataset: dict) -> list[dict]:
    """(method, n_reviews, median seconds) of every method on every generated set."""
    pts = []
    for name, d in per_dataset.items():
        if d["kind"] != "synthetic":
            continue
        for m in d["methods"].values():
            if m.get("status") == "ok":
                pts.append(
                    {
                        "label": m["label"],
                        "n_reviews": d["n_reviews"],
                        "seconds": m["seconds"],
                        "source": name,
                    }
                )
    return pts


def write_outputs(results: dict, run: QualityRun | None, out_dir: Path) -> list[Path]:
    """Write results.json, results.md and the PNGs into ``out_dir``, all or nothing.

    Everything is staged in a hidden directory inside ``out_dir`` and renamed
    into place at the end; plots a previous run left and this run did not make
    are removed. Files other than these (e.g. the scale suite's) are left alone.
    """
    from benchmarks import plots, report
    from detector.atomic import staging_dir, write_json, write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    with staging_dir(out_dir, ".bench-staging-") as staging:
        names = []
        if run is not None:
            for ds_name, by_method in run.scores.items():
                if not by_method:
                    continue
                refs = results["quality"]["results"][ds_name].get("references", [])
                p = staging / f"pr_curves_{ds_name}.png"
                plots.pr_curves(p, ds_name, run.labels[ds_name], by_method, refs)
                names.append(p.name)
                p = staging / f"score_dist_{ds_name}.png"
                plots.score_distributions(p, ds_name, run.labels[ds_name], by_method)
                names.append(p.name)
        pts = time_points(results.get("quality", {}).get("results", {}))
        if len({p["n_reviews"] for p in pts}) >= 2:
            plots.time_vs_size(staging / "time_vs_size_methods.png", pts)
            names.append("time_vs_size_methods.png")
        scale = results.get("scale") or {}
        scale_files = [
            f
            for f in ("scale.json", "time_vs_size.png")
            if scale.get("status") == "ok" and (out_dir / f).is_file()
        ]
        if (results.get("matrix") or {}).get("status") == "ok":
            scale_files += [f for f in ("matrix.json", "matrix.md") if (out_dir / f).is_file()]
        results["outputs"] = sorted([*OWN_FILES, *names, *scale_files])
        write_text(report.render_markdown(results), staging / "results.md")
        write_json(_clean(results), staging / "results.json")
        keep = set(names) | set(OWN_FILES)
        for pattern in OWN_PATTERNS:
            for old in out_dir.glob(pattern):
                if old.name not in keep:
                    old.unlink()
        final = []
        for name in sorted(keep):
            os.replace(staging / name, out_dir / name)
            final.append(out_dir / name)
        return final


SUITES = ("quality", "scale", "matrix", "all")
#: Where ``--suite matrix`` writes when no ``--out`` is given (its own directory, so a
#: matrix run never replaces the quality suite's results.json).
MATRIX_OUT = REPO_ROOT / "benchmarks" / "results" / "matrix"


def _run_matrix_only(out_dir, quick, seeds, sizes, cells, update_readme, readme, command, log):
    """``--suite matrix``: :func:`benchmarks.matrix.run_matrix_suite`, and the README section."""
    from benchmarks import report
    from benchmarks.matrix import run_matrix_suite

    out = Path(out_dir) if out_dir is not None else MATRIX_OUT
    t0 = time.perf_counter()
    res = run_matrix_suite(
        out,
        seeds=seeds,
        n_reviews=sizes[0] if sizes else None,
        cells=cells,
        quick=quick,
        command=command,
        log=log,
    )
    if update_readme is None:  # the canonical run: every cell on the reporting seeds
        update_readme = not quick and cells is None and res["seed_kind"] == "reporting"
    if update_readme:
        path = Path(readme) if readme else REPO_ROOT / "README.md"
        if report.update_matrix_readme(path, res, out):
            log(f"updated the matrix section of {path}")
        else:
            log(
                f"README not updated: {path} has no {report.MATRIX_START} ... {report.MATRIX_END} markers"
            )
    return {"suite": "matrix", "matrix": res, "wall_seconds": round(time.perf_counter() - t0, 2)}


def run_bench(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    suite: str = "quality",
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    sizes: Sequence[int] | None = None,
    datasets: Sequence[Dataset] | None = None,
    methods: Sequence[str] | None = None,
    ablation: str | Sequence[str] | None = None,
    repeats: int | None = None,
    include_yelpchi: bool | None = None,
    update_readme: bool | None = None,
    readme: str | os.PathLike[str] | None = None,
    command: str | None = None,
    isolate: bool = True,
    cells=None,
    log: Log = print,
) -> dict:
    """Run the chosen suite(s), write the outputs and return ``results.json``'s content.

    ``update_readme`` None means: update the README section for the full
    (non-quick) quality suite, not for ``--quick``. ``suite="matrix"`` runs
    :mod:`benchmarks.matrix` alone (``seeds`` and ``cells`` as there, the
    first of ``sizes`` as the reviews per cell) into ``out_dir`` (default
    :data:`MATRIX_OUT`) and returns ``{"suite", "matrix", "wall_seconds"}``.
    """
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {', '.join(SUITES)}")
    if suite == "matrix":
        return _run_matrix_only(
            out_dir, quick, seeds, sizes, cells, update_readme, readme, command, log
        )
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    spec = QUICK if quick else FULL
    t0 = time.perf_counter()
    env = environment(command)
    results: dict = {
        "schema": env.pop("schema"),
        "tool": env.pop("tool"),
        "command": env.pop("command"),
        "suite": suite,
        "quick": quick,
        **env,
        "seeds": list(seeds or spec.seeds)
        if datasets is None
        else sorted({d.meta.get("seed") for d in datasets if d.meta.get("seed") is not None}),
        "model_seed": 0,
    }
    run = None
    if suite in ("quality", "all"):
        run = run_quality(
            datasets,
            methods,
            spec=spec,
            seeds=seeds,
            sizes=sizes,
            ablation=ablation,
            repeats=repeats,
            include_yelpchi=include_yelpchi,
            isolate=isolate,
            log=log,
        )
        results["quality"] = run.results
    else:
        results["quality"] = {"status": "not run", "reason": f"--suite {suite}"}
    if suite == "all":
        from benchmarks.matrix import run_matrix_suite

        m = run_matrix_suite(out, quick=quick, command=results["command"], log=log)
        results["matrix"] = {
            "status": "ok",
            "file": "matrix.json",
            "cells": len(m["cells"]),
            "seeds": m["seeds"],
            "cells_meeting_target": sum(1 for r in m["summary"] if r["meets_target"]),
        }
    if suite in ("scale", "all"):
        # --sizes are the scale suite's sizes when it runs alone (with "all", quality's)
        results["scale"] = run_scale_suite(out, quick, sizes if suite == "scale" else None)
        if results["scale"]["status"] != "ok":
            log(f"scale suite: {results['scale']['status']} ({results['scale'].get('reason')})")
    else:
        results["scale"] = {"status": "not run", "reason": f"--suite {suite}"}
    results["wall_seconds"] = round(time.perf_counter() - t0, 2)
    if hasattr(os, "getloadavg"):
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
    results["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written = write_outputs(results, run, out)
    for p in written:
        log(f"wrote {p}")
    if update_readme is None:  # only the canonical full suite updates the README by itself
        update_readme = (
            run is not None
            and not quick
            and datasets is None
            and sizes is None
            and methods is None
            and include_yelpchi is not False
        )
    if update_readme and run is not None:
        from benchmarks import report

        path = Path(readme) if readme else REPO_ROOT / "README.md"
        if report.update_readme(path, results, out):
            log(f"updated the benchmark section of {path}")
        else:
            log(f"README not updated: {path} has no {report.START} ... {report.END} markers")
    return results
