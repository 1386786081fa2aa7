"""The error type of bad input, kept apart so that every reader can raise it without cycles."""

from __future__ import annotations


class InputError(Exception):
    """A problem with the input; the message names the file or column and what to do."""

    exit_code = 2
