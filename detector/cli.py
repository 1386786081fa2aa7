"""The ``review-detector`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from detector import __version__, monitor
from detector.argtypes import positive_int
from detector.clock import generation_time
from detector.errors import InputError
from detector.input.arguments import add_input_arguments, input_spec
from detector.interrupts import stop_on_signals, stop_signal
from detector.webapp import command as webapp

err = Console(stderr=True)
out = Console()


def _say(console: Console, label: str, style: str, message: object) -> None:
    """``label`` styled, then ``message`` as plain text: user strings (paths, ids, column
    names, error messages quoting them) are never read as Rich markup, and a long
    path is not broken across lines."""
    console.print(Text.assemble((label, style), " ", str(message)), highlight=False, soft_wrap=True)


def _error(message: object) -> None:
    _say(err, "error:", "bold red", message)


def _add_lang(p, what: str) -> None:
    p.add_argument(
        "--lang",
        choices=("zh", "en"),
        default=None,
        help=f"{what} (default: zh when LC_ALL/LC_MESSAGES/LANG is Chinese, else en)",
    )


def _lang(args) -> str:
    from detector.wording import default_lang

    return args.lang or default_lang()


def _plain(console: Console, text: str, style: str = "") -> None:
    """A line of plain text (ids, paths and texts are never read as markup), never broken by Rich."""
    console.print(Text(text, style=style), soft_wrap=True, highlight=False)


def _add_scan(sub) -> None:
    p = sub.add_parser("scan", help="score reviews and write scores, features and a summary")
    p.add_argument(
        "input", nargs="+", help="Parquet file, directory (hive partitions ok), glob, or CSV"
    )
    p.add_argument("--out", required=True, help="output directory")
    add_input_arguments(p)
    _add_model_arguments(p)
    p.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (no progress display)"
    )
    _add_engine_arguments(p)
    _add_incremental_arguments(p)
    _add_mode_arguments(p)
    _add_lang(p, "the summary's language")
    p.add_argument(
        "--partition-by",
        choices=("month",),
        help="write scores/ and features/ as hive partitions (month=YYYY-MM/part-*.parquet)",
    )


def _add_model_arguments(p) -> None:
    """``scan``'s options of the model: families, threshold, seed."""
    p.add_argument(
        "--families",
        type=_families,
        help="comma-separated feature families to use (default: all)",
    )
    p.add_argument(
        "--threshold",
        type=_finite,
        help="flag scores at or above this (default: chosen from the data)",
    )
    p.add_argument("--seed", type=_seed, help="random seed (default 0)")


def _add_engine_arguments(p) -> None:
    """``scan``'s options of the engine that runs it."""
    p.add_argument(
        "--engine",
        choices=("polars", "ray"),
        default="polars",
        help="polars: this machine, in core or --out-of-core (default); ray: a Ray cluster "
        "(needs the ray extra)",
    )
    p.add_argument(
        "--address",
        help="Ray cluster to join with --engine ray, e.g. 'auto' or 'ray://head:10001' "
        "(default: RAY_ADDRESS, else a local Ray on this machine)",
    )


def _add_incremental_arguments(p) -> None:
    """``scan``'s options of an incremental run."""
    p.add_argument(
        "--incremental",
        metavar="STATE_DIR",
        help="score only input partitions not seen before, reusing the model and history in "
        "STATE_DIR (created on the first run); output accumulates in month partitions",
    )
    p.add_argument(
        "--rebuild-state",
        action="store_true",
        help="with --incremental: discard STATE_DIR (damaged, or built with other options) and "
        "scan every input partition afresh, replacing the incremental output in --out",
    )


def _add_mode_arguments(p) -> None:
    """``scan``'s options of the mode: in core, out of core and its shard size."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--out-of-core",
        dest="out_of_core",
        action="store_const",
        const=True,
        help="stream the scan through shards of whole shops, for inputs larger than memory "
        "(same results; memory bounded by the shard size). Default: chosen from the input's "
        "size and the memory available",
    )
    mode.add_argument(
        "--in-core",
        dest="out_of_core",
        action="store_const",
        const=False,
        help="hold the whole input in memory (the fastest while it fits)",
    )
    p.add_argument(
        "--shard-rows",
        type=positive_int,
        metavar="N",
        help="reviews per shard of an --out-of-core scan (default 1,000,000; smaller uses less memory)",
    )


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="write a synthetic review set with planted fraud")
    p.add_argument("--reviews", type=int, required=True, help="number of reviews")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument(
        "--out", required=True, help="output directory (reviews.parquet, labels.parquet)"
    )


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="generate a small set, scan it and show what was found")
    p.add_argument("--out", default="demo-out", help="where to put the demo data and results")
    p.add_argument("--reviews", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=42)
    _add_lang(p, "the summary's language")


def _add_bench(sub) -> None:
    from benchmarks.bench_cli import add_arguments

    p = sub.add_parser("bench", help="benchmark review-detector against baselines on labelled data")
    add_arguments(p)


def _add_evidence(sub) -> None:
    p = sub.add_parser(
        "evidence",
        help="build an appeal evidence packet for one shop from a scan",
        description=(
            "Write packet.json, packet.html, PNG evidence cards, appeals.csv and (with several "
            "cases) overview.png for the cases that harm SHOP. Exit codes: 0 packet written, "
            "2 bad input (missing scan files, input changed since the scan, unknown shop, "
            "unsafe --out), 3 no case to file (nothing written)."
        ),
    )
    p.add_argument("scan_dir", help="directory written by `review-detector scan`")
    p.add_argument("--shop", required=True, help="shop_id to build the packet for")
    p.add_argument(
        "--out", required=True, help="packet directory (new, empty or an earlier packet)"
    )
    _add_lang(p, "packet language")
    p.add_argument(
        "--platform",
        choices=("generic", "douyin", "taobao", "jd", "pdd"),
        default="generic",
        help="fit the packet to this platform's appeal form (douyin: 6 images, 100 characters)",
    )
    p.add_argument(
        "--redact", action="store_true", help="mask IPs and replace user/device ids by pseudonyms"
    )
    p.add_argument(
        "--all",
        action="store_true",
        dest="include_all",
        help="include every case with a review at the shop, not only attacks on it",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _families(text: str) -> list[str] | None:
    from features.registry import FAMILIES

    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown feature family {unknown[0]!r}; choose from {', '.join(FAMILIES)}"
        )
    return names or None


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**32-1, got {text!r}")
    return value


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
    _add_evidence(sub)
    monitor.add_parser(sub)
    webapp.add_parser(sub)
    return parser


def _scan_config(args):
    """The scan's configuration from the flags; with ``--incremental``, the flags given
    over the configuration the earlier runs recorded in ``--out``'s summary.json."""
    from detector.scan import ScanConfig

    base = ScanConfig()
    if args.incremental and not args.rebuild_state:
        from detector.scan.incremental import recorded_config

        base = recorded_config(args.out) or base
    flags = input_spec(args)
    given = {
        f.name: getattr(flags, f.name)
        for f in dataclasses.fields(flags)
        if getattr(flags, f.name) not in (None, ())
    }
    config = dataclasses.replace(base, input=dataclasses.replace(base.input, **given))
    config = config.with_options(
        families=args.families,
        seed=args.seed,
        threshold=args.threshold,
        partition_by=args.partition_by,
        shard_rows=args.shard_rows,
    )
    return dataclasses.replace(config, out_of_core=args.out_of_core)  # None: chosen by size


def cmd_scan(args) -> int:
    from detector.engines import engine_class, get_engine
    from detector.progress import ScanProgress
    from detector.scan.run import check_mode

    config = _scan_config(args)
    if not _scan_flags_agree(args):
        return 2
    check_mode(config, engine_class(args.engine))  # before starting the engine
    with ScanProgress.create(quiet=args.quiet, console=err) as progress:
        try:
            engine = get_engine(args.engine, address=args.address, progress=progress)
        except (ImportError, ValueError) as exc:
            _error(exc)
            return 2
        with engine:
            result = _scan_with(args, config, engine)
    if not args.quiet:
        _print_scan(args, result)
    return 0


def _scan_flags_agree(args) -> bool:
    """False (after saying why) when ``scan``'s flags contradict each other."""
    if args.rebuild_state and not args.incremental:
        err.print(
            "[bold red]error:[/] --rebuild-state rebuilds the state of --incremental STATE_DIR; "
            "give --incremental too",
            highlight=False,
        )
        return False
    if args.incremental and args.out_of_core:
        _error(
            "--incremental and --out-of-core cannot be combined: an "
            "incremental run scans only new partitions (each small) against its state"
        )
        return False
    return True


def _scan_with(args, config, engine):
    """Run the scan (incremental or not) on ``engine``; None when an incremental run had
    nothing new to scan."""
    from detector.scan import run_scan

    inputs = args.input if len(args.input) > 1 else args.input[0]
    if args.incremental:
        from detector.scan.incremental import run_incremental

        return run_incremental(
            inputs,
            args.out,
            args.incremental,
            config=config,
            engine=engine,
            partition_by=args.partition_by or "month",
            rebuild=args.rebuild_state,
        )
    # the summary below re-reads the few texts it quotes
    result = run_scan(inputs, args.out, config=config, engine=engine, keep_reviews=False)
    mode = result.summary.get("mode") or {}
    if mode.get("out_of_core") and mode.get("chosen") and not args.quiet:
        _say(err, "note:", "bold", f"{mode['why']} (--in-core to override)")
    return result


def _print_scan(args, result) -> None:
    """What the scan found (or that an incremental run had nothing to do)."""
    from detector.report import print_scan_summary

    if result is None:
        _plain(
            out,
            f"无需处理：自上次检测以来没有新增或变更的输入（{args.incremental}）"
            if _lang(args) == "zh"
            else f"nothing to do: no new or changed input since the last scan ({args.incremental})",
        )
        return
    print_scan_summary(out, result, Path(args.out), lang=_lang(args))


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
        out.print(f"  {p}", markup=False, highlight=False)
    return 0


def cmd_demo(args) -> int:
    from benchmarks.generator import generate, write_dataset
    from detector.report import print_scan_summary
    from detector.scan import run_scan

    lang = _lang(args)
    root = Path(args.out)
    n = f"{args.reviews:,}"
    _plain(
        out,
        f"1/2 生成{n}条合成评价（种子{args.seed}）…"
        if lang == "zh"
        else f"1/2 generating {n} synthetic reviews (seed {args.seed}) ...",
        "bold",
    )
    reviews, labels = generate(args.reviews, seed=args.seed)
    data_path, labels_path = write_dataset(root / "data", reviews, labels)
    _plain(
        out, f"2/2 检测 {data_path} …" if lang == "zh" else f"2/2 scanning {data_path} ...", "bold"
    )
    result = run_scan(data_path, root / "scan")
    print_scan_summary(out, result, root / "scan", labels=labels, lang=lang)
    return 0


def cmd_bench(args) -> int:
    from benchmarks.bench_cli import main_bench

    return main_bench(
        args, log=lambda msg: err.print(msg, highlight=False, markup=False, soft_wrap=True)
    )


def cmd_evidence(args) -> int:
    import time

    from detector.evidence import NoCasesError, PacketOptions, build_packet, write_packet
    from detector.evidence.scanload import load_scan

    t0 = time.perf_counter()
    bundle = load_scan(args.scan_dir)
    lang = _lang(args)
    options = PacketOptions(
        shop=args.shop,
        lang=lang,
        platform=args.platform,
        redact=args.redact,
        include_all=args.include_all,
    )
    try:
        packet = build_packet(bundle, options)
    except NoCasesError as exc:
        _plain(err, f"{'没有生成申诉材料' if lang == 'zh' else 'no packet'}: {exc}", "yellow")
        return exc.exit_code
    result = write_packet(packet, args.out)
    d = packet.data
    for w in d["warnings"]:  # expired appeal windows and missing fonts matter even with --quiet
        _plain(err, f"{'注意' if lang == 'zh' else 'warning'}: {w}", "yellow")
    if not args.quiet:
        secs = f"{time.perf_counter() - t0:.1f}"
        _plain(out, d["summary"])
        n_cases, n_cited = len(d["cases"]), d["impact"]["n_cited"]
        n_cards = len(result["files"]["cards"])
        _plain(
            out,
            f"{n_cases}起案件，引用{n_cited}条评价，{n_cards}张卡片，用时{secs}秒"
            if lang == "zh"
            else f"{n_cases} case(s), {n_cited} cited review(s), {n_cards} card(s) in {secs} s",
        )
        where = Path(args.out)
        _plain(
            out,
            f"申诉材料位于 {where}：打开 {where / 'packet.html'} 核对；上传 cards/ 中的图片，"
            f"逐条申诉见 {where / 'appeals.csv'}"
            if lang == "zh"
            else f"packet in {where}: check {where / 'packet.html'}, upload the images in "
            f"cards/, appeal each review with its line of {where / 'appeals.csv'}",
            "bold",
        )
    return 0


COMMANDS = {
    "scan": cmd_scan,
    "generate": cmd_generate,
    "demo": cmd_demo,
    "bench": cmd_bench,
    "evidence": cmd_evidence,
    "monitor": monitor.run,
    "serve": webapp.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        generation_time()  # a bad SOURCE_DATE_EPOCH is reported before numpy trips over it
        with stop_on_signals():
            return COMMANDS[args.command](args)
    except InputError as exc:
        _error(exc)
        return exc.exit_code
    except BaseException as exc:
        stop = stop_signal(exc)
        if stop is None:
            raise
        what = "terminated (SIGTERM)" if stop == signal.SIGTERM else "interrupted"
        err.print(f"[yellow]{what}; no partial output was left behind[/]")
        return 128 + stop


if __name__ == "__main__":
    sys.exit(main())
