"""The time a command stamps on what it generates: now, or ``SOURCE_DATE_EPOCH``.

Honouring the reproducible-builds variable lets an evidence packet be rebuilt byte for byte (its
cards print this time in their footers), e.g. to show a platform that a resubmitted packet is the
one filed before.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from detector.errors import InputError

VARIABLE = "SOURCE_DATE_EPOCH"


def generation_time() -> datetime:
    """Now (UTC), or the time ``SOURCE_DATE_EPOCH`` gives when it is set.

    Raises
    ------
    InputError
        When the variable is set but is not a Unix time in whole seconds. The CLI checks this
        before anything else runs, because numpy's f2py also parses the variable at import time
        and would fail with a bare traceback.
    """
    epoch = os.environ.get(VARIABLE)
    if epoch is None:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(int(epoch), UTC)
    except (ValueError, OverflowError, OSError):
        raise InputError(
            f"{VARIABLE}={epoch!r} is not a Unix time in whole seconds; "
            f"unset it or give one, e.g. {VARIABLE}=1767225600 for 2026-01-01 00:00 UTC"
        ) from None
