"""Options and entry point of ``review-detector bench`` (kept light: the runner is imported on use)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest"
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


def add_arguments(p) -> None:
    """Add the ``bench`` subcommand's options to parser ``p``."""
    p.add_argument(
        "--suite",
        choices=("quality", "scale", "all"),
        default="quality",
        help="quality: methods side by side on labelled data; scale: benchmarks.scale (default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the CI smoke suite: one 20k generated set (+ YelpChi when present), under 2 minutes",
    )
    p.add_argument(
        "--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)"
    )
    p.add_argument(
        "--seeds", type=_ints, help="reporting seeds, e.g. 1001,1002 (0-9 are for development)"
    )
    p.add_argument("--sizes", type=_ints, help="generated set sizes, e.g. 20000,100000")
    p.add_argument("--methods", help=f"comma-separated subset of {','.join(METHOD_IDS)}")
    p.add_argument("--no-yelpchi", action="store_true", help="leave YelpChi out even when present")
    p.add_argument(
        "--update-readme",
        action="store_true",
        default=None,
        help="rewrite README's bench section (default: only after the full quality suite)",
    )


def main_bench(args, log: Callable[[str], None] = print) -> int:
    """Run the benchmark for parsed ``args``; 1 when any method failed."""
    from benchmarks.runner import run_bench

    results = run_bench(
        args.out,
        suite=args.suite,
        quick=args.quick,
        seeds=args.seeds,
        sizes=args.sizes,
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
    log(f"bench finished in {results['wall_seconds']:.1f} s; outputs in {args.out}")
    if failed:
        log(f"failed runs: {', '.join(failed)}")
        return 1
    return 0
