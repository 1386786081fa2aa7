"""SHA-256 of input files, for reproducibility records."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path, bufsize: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()
