"""Options and entry point of ``review-detector bench`` (kept light: the runner is imported on use)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest"
MATRIX_OUT = Path(__file__).resolve().parent / "results" / "matrix"
METHOD_IDS = (
    "review_detector",
    "iforest_raw",
    "pyod_ecod",
    "pyod_hbos",
    "rank_average",
    "speagle",
)


def _ints(text: str) -> list[int]:
    try:
        return [int(x.strip().replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise SystemExit(f"expected comma-separated integers, got {text!r}") from exc


def _seeds(text: str) -> list[int] | str:
    """Integers, or a named seed set (``dev``, ``report``, ``dev:N``, ``report:N``) left for the suite."""
    if text.partition(":")[0] in ("dev", "report"):
        count = text.partition(":")[2]
        if count and not count.isdigit():
            raise SystemExit(f"expected dev:N or report:N with a number N, got {text!r}")
        return text
    return _ints(text)


def add_arguments(p) -> None:
    """Add the ``bench`` subcommand's options to parser ``p``."""
    p.add_argument(
        "--suite",
        choices=("quality", "scale", "matrix", "all"),
        default="quality",
        help="quality: methods side by side on labelled data; scale: benchmarks.scale; "
        "matrix: review-detector on the scenario matrix (benchmarks.matrix) (default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the CI smoke suite: one 20k generated set (+ YelpChi when present), under 2 minutes; "
        "with --suite matrix: 7 cells, one seed, 4,000 reviews",
    )
    p.add_argument(
        "--out",
        default=None,
        help=f"output directory (default: {DEFAULT_OUT}; --suite matrix: {MATRIX_OUT})",
    )
    p.add_argument(
        "--seeds",
        type=_seeds,
        help="seeds: 'report' (1001, 1002, 1003; the default), 'dev' (0, 1, 2), 'report:N' / "
        "'dev:N' (the first N of either), or integers such as 1001,1002 (0-9 are for development)",
    )
    p.add_argument(
        "--sizes",
        type=_ints,
        help="generated set sizes, e.g. 20000,100000 (--suite scale: the sizes scanned, default "
        "100k, 1M and 10M; --suite matrix: reviews per cell, default 10000)",
    )
    p.add_argument(
        "--cells",
        help="--suite matrix: cells to run, e.g. boost/aged,honest/campus or whole families "
        "(boost, smear, ring, pro_negative, signal, honest); default all",
    )
    p.add_argument(
        "--against",
        metavar="REF",
        help="--suite scale: scan the same generated sets with this checkout and with git "
        "revision REF, alternating, and report time and memory ratios (benchmarks.scale_against; "
        "--sizes default 1000000,10000000)",
    )
    p.add_argument(
        "--pairs",
        type=_ints,
        help="--against: pairs of scans per size and mode, one number or one per size "
        "(default 3 at 100k and 1M, 2 at 10M)",
    )
    p.add_argument("--methods", help=f"comma-separated subset of {','.join(METHOD_IDS)}")
    p.add_argument("--no-yelpchi", action="store_true", help="leave YelpChi out even when present")
    p.add_argument(
        "--update-readme",
        action="store_true",
        default=None,
        help="rewrite README's bench section (default: only after the full quality suite)",
    )


def _bench_against(args, out: str, log: Callable[[str], None]) -> int:
    """``bench --suite scale --against REF``: this checkout and REF side by side."""
    from benchmarks.scale_against import run_against

    if args.suite != "scale":
        raise SystemExit(
            f"--against compares scale runs: use it with --suite scale, not {args.suite}"
        )
    sizes = args.sizes or (1_000_000, 10_000_000)
    pairs = args.pairs[0] if args.pairs and len(args.pairs) == 1 else args.pairs
    if pairs is not None and not isinstance(pairs, int) and len(pairs) != len(sizes):
        raise SystemExit(
            f"--pairs gives {len(pairs)} counts for {len(sizes)} sizes: give one, or one per size"
        )
    res = run_against(args.against, out, sizes=sizes, pairs=pairs, log=log)
    for r in res["rows"]:
        log(
            f"{r['reviews']:>10,} {r['mode']:<11} time x{r['time_ratio']} "
            f"({r['this_seconds']} s vs {r['ref_seconds']} s), memory x{r['memory_ratio']}"
        )
    log(f"outputs in {out}")
    return 0


def main_bench(args, log: Callable[[str], None] = print) -> int:
    """Run the benchmark for parsed ``args``; 1 when any method failed."""
    from benchmarks.matrix import resolve_seeds
    from benchmarks.runner import run_bench

    out = args.out or str(MATRIX_OUT if args.suite == "matrix" else DEFAULT_OUT)
    if args.against:
        return _bench_against(args, out, log)
    seeds = list(resolve_seeds(args.seeds)) if isinstance(args.seeds, str) else args.seeds
    results = run_bench(
        out,
        suite=args.suite,
        quick=args.quick,
        seeds=seeds,
        sizes=args.sizes,
        cells=getattr(args, "cells", None),
        methods=[m.strip() for m in args.methods.split(",")] if args.methods else None,
        include_yelpchi=False if args.no_yelpchi else None,
        update_readme=args.update_readme,
        log=log,
    )
    failed = [
        f"{ds}/{mid}"
        for ds, d in results.get("quality", {}).get("results", {}).items()
        for mid, m in d["methods"].items()
        if m.get("status") == "failed"
    ]
    log(f"bench finished in {results['wall_seconds']:.1f} s; outputs in {out}")
    if failed:
        log(f"failed runs: {', '.join(failed)}")
        return 1
    return 0
