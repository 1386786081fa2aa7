"""The ``review-detector monitor`` subcommand (registered by :mod:`detector.cli`)."""

from __future__ import annotations

import argparse

from rich.console import Console

from detector.input.arguments import add_input_arguments, input_spec

DESCRIPTION = (
    "Scan INPUT, compute per shop and per day (in the input's time zone) reviews, 好评率, 差评率, "
    "mean rating and each DSR dimension, with and without the reviews in cases, and evaluate "
    "alert rules. Publishes OUT/daily.parquet, OUT/alerts.json and the scan in OUT/scan together "
    "(a reader sees one run's three or the next run's, never a mix). Exit "
    "codes: 0 no alert, 4 alerts (with --state: new alerts), 2 bad input, rules file or state."
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``monitor`` and its options to ``subparsers``."""

    p = subparsers.add_parser(
        "monitor",
        help="daily shop figures and alerts (attack, quality, platform lines)",
        description=DESCRIPTION,
    )
    p.add_argument(
        "input", nargs="+", help="review exports: Excel, CSV, Parquet, directories or globs"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--state",
        metavar="DIR",
        help="incremental: remember days and alerts here; days already alerted are not "
        "alerted again, the same files again change nothing",
    )
    p.add_argument(
        "--rules", metavar="FILE", help="TOML rules file overriding or adding to the defaults"
    )
    add_input_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="the scan's seed")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the printout")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def run(args) -> int:
    """Run ``monitor``; the exit code (0 no alert, 4 alerts; errors raise InputError: 2)."""
    from detector.monitor.runner import run_monitor
    from detector.scan import ScanConfig

    result = run_monitor(
        args.input if len(args.input) > 1 else args.input[0],
        args.out,
        state=args.state,
        rules=args.rules,
        spec=input_spec(args),
        config=ScanConfig(seed=args.seed),
    )
    if not args.quiet:
        print_result(Console(), result, args.lang, args.out)
    return result.exit_code


def print_result(console: Console, result, lang: str, out) -> None:
    """What a run found: days, shops, the rules skipped and the new alerts."""
    d = result.daily
    shops = d["shop_id"].n_unique() if d.height else 0
    console.print(
        f"{d.height} shop-day(s) of {shops} shop(s), days in {result.timezone}; "
        f"{len(result.new_alerts)} new alert(s), {len(result.alerts)} in {out}/alerts.json",
        highlight=False,
        markup=False,  # the path is the user's
    )
    by_why: dict[str, list[str]] = {}
    for s in result.skipped:
        by_why.setdefault(s.why, []).append(s.rule)
    for why, names in by_why.items():
        console.print(
            f"note: not evaluated ({why}): {', '.join(names)}", highlight=False, markup=False
        )
    for a in result.new_alerts:
        console.print(f"{a['kind']:8} {a['message'][lang]}", highlight=False, markup=False)
