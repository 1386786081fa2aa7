"""The ``review-detector`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from detector import __version__
from detector.contract import InputError, parse_column_map

err = Console(stderr=True)
out = Console()


def _add_scan(sub) -> None:
    p = sub.add_parser("scan", help="score reviews and write scores, features and a summary")
    p.add_argument(
        "input", nargs="+", help="Parquet file, directory (hive partitions ok), glob, or CSV"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--columns",
        help="map input headers to contract names, e.g. '评价时间=created_at,评分=rating'",
    )
    p.add_argument("--since", help="only reviews created at or after this time (ISO-8601)")
    p.add_argument("--until", help="only reviews created before this time (ISO-8601)")
    p.add_argument("--families", help="comma-separated feature families to use (default: all)")
    p.add_argument(
        "--threshold",
        type=float,
        help="flag scores at or above this (default: chosen from the data)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="write a synthetic review set with planted fraud")
    p.add_argument("--reviews", type=int, required=True, help="number of reviews")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", required=True, help="output directory (reviews.parquet, labels.parquet)"
    )


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="generate a small set, scan it and show what was found")
    p.add_argument("--out", default="demo-out", help="where to put the demo data and results")
    p.add_argument("--reviews", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=42)


def _add_bench(sub) -> None:
    from benchmarks.bench_cli import add_arguments

    p = sub.add_parser(
        "bench", help="benchmark review-detector against baselines on labelled data"
    )
    add_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="review-detector",
        description="Find fake and malicious reviews and build appeal evidence.",
    )
    parser.add_argument("--version", action="version", version=f"review-detector {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_scan(sub)
    _add_generate(sub)
    _add_demo(sub)
    _add_bench(sub)
    return parser


def cmd_scan(args) -> int:
    from detector.report import print_scan_summary
    from detector.scan import ScanConfig, run_scan

    config = ScanConfig(
        families=[f.strip() for f in args.families.split(",")] if args.families else None,
        seed=args.seed,
        threshold=args.threshold,
    )
    result = run_scan(
        args.input if len(args.input) > 1 else args.input[0],
        args.out,
        columns=parse_column_map(args.columns),
        since=args.since,
        until=args.until,
        config=config,
    )
    if not args.quiet:
        print_scan_summary(out, result, Path(args.out))
    return 0


def cmd_generate(args) -> int:
    import time

    from benchmarks.generator import generate, write_dataset

    t0 = time.perf_counter()
    reviews, labels = generate(args.reviews, seed=args.seed)
    paths = write_dataset(args.out, reviews, labels)
    out.print(
        f"wrote {reviews.height:,} reviews ({int(labels['is_fake'].sum()):,} planted fakes) "
        f"in {time.perf_counter() - t0:.1f} s:"
    )
    for p in paths:
        out.print(f"  {p}")
    return 0


def cmd_demo(args) -> int:
    from benchmarks.generator import generate, write_dataset
    from detector.report import print_scan_summary
    from detector.scan import run_scan

    root = Path(args.out)
    out.print(f"[bold]1/2[/] generating {args.reviews:,} synthetic reviews (seed {args.seed}) ...")
    reviews, labels = generate(args.reviews, seed=args.seed)
    data_path, labels_path = write_dataset(root / "data", reviews, labels)
    out.print(f"[bold]2/2[/] scanning {data_path} ...")
    result = run_scan(data_path, root / "scan")
    print_scan_summary(out, result, root / "scan", labels=labels)
    return 0


def cmd_bench(args) -> int:
    from benchmarks.bench_cli import main_bench

    return main_bench(args, log=lambda msg: err.print(msg, highlight=False, markup=False))


COMMANDS = {"scan": cmd_scan, "generate": cmd_generate, "demo": cmd_demo, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("[yellow]interrupted; no partial output was left behind[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
