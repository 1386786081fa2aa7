"""The command-line options that say how to read an input (``scan`` and ``monitor``).

One definition for every subcommand that reads reviews: :func:`add_input_arguments`
adds the options, :func:`input_spec` turns the parsed ones into an :class:`InputSpec`.
"""

from __future__ import annotations

import argparse

from detector.input.headers import parse_column_map
from detector.input.spec import InputSpec

__all__ = ["add_input_arguments", "input_spec"]


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The options that say how to read the input (``scan`` and ``monitor``); see :func:`input_spec`."""
    p.add_argument(
        "--columns",
        help="map input headers to contract names, e.g. '评价时间=created_at,评分=rating'",
    )
    p.add_argument(
        "--preset",
        choices=("taobao", "tmall", "jd", "pdd", "douyin"),
        help="read a seller-centre review export of this platform: its usual headers are "
        "mapped onto the contract (--columns overrides), nicknames are masked (not accounts), "
        "naive times are Beijing time",
    )
    p.add_argument(
        "--shop",
        metavar="NAME",
        help="the shop of an export without a shop column (the export is one shop's)",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA time zone of naive times in the input, e.g. Asia/Shanghai (default: "
        "Asia/Shanghai with --preset, else UTC); packets show times in it",
    )
    p.add_argument(
        "--orders",
        metavar="FILE",
        action="append",
        default=[],
        help="an order export (CSV/Excel) joined on the order id for paid, shipped and "
        "received times (repeat for several files)",
    )
    p.add_argument("--since", help="only reviews created at or after this time (ISO-8601)")
    p.add_argument("--until", help="only reviews created before this time (ISO-8601)")


def input_spec(args) -> InputSpec:
    """The :class:`InputSpec` of the options :func:`add_input_arguments` added."""
    return InputSpec(
        columns=parse_column_map(args.columns),
        preset=args.preset,
        shop=args.shop,
        timezone=args.timezone,
        orders=tuple(args.orders),
        since=args.since,
        until=args.until,
    )
