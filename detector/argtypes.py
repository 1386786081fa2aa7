"""Argument types shared by the command line's subcommands (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse

__all__ = ["positive_int"]


def positive_int(text: str) -> int:
    """``text`` as a whole number of at least 1, else :class:`argparse.ArgumentTypeError`
    (argparse then exits 2 naming the option and the value)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value
