"""File names from untrusted ids, and redaction of personal identifiers.

Ids in a scan (case ids, review ids, shop ids) come from input files an
attacker may have shaped; none of them may steer where a file is written.
:func:`safe_name` turns any string into a plain file name and
:func:`safe_join` refuses any path that would leave the output directory.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 64


class UnsafePathError(ValueError):
    """A file name would have left the output directory."""


def safe_name(value: object, default: str = "item") -> str:
    """A file-name-safe form of ``value``: ``[A-Za-z0-9._-]``, no leading dot, at most 64 chars.

    When anything had to change, a short hash of the original is appended so
    two different ids never map to one name.
    """
    text = "" if value is None else str(value)
    clean = _UNSAFE.sub("_", text).lstrip(".-_")[:_MAX_NAME].rstrip(".")
    if clean != text or not clean:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        clean = f"{clean[: _MAX_NAME - 9] or default}-{digest}"
    return clean


def safe_join(root: str | os.PathLike[str], *names: str) -> Path:
    """``root / name ...`` after :func:`safe_name`, checked to stay inside ``root``."""
    base = Path(root).resolve()
    path = base.joinpath(*(safe_name(n) for n in names)).resolve()
    if path != base and base not in path.parents:
        raise UnsafePathError(f"refusing to write outside {base}: {path}")
    return path


def _pseudonym(prefix: str, value: str, salt: str, length: int) -> str:
    digest = hashlib.sha256(f"{salt}\x1f{prefix}\x1f{value}".encode()).hexdigest()
    return f"{prefix}-{digest[:length]}"


def mask_ip(value: str | None) -> str | None:
    """``203.0.113.7`` -> ``203.0.113.x``; IPv6 -> its first two groups and ``::x``.

    Networks (``203.0.113.0/24``) keep their prefix length:
    ``203.0.113.x/24``. Anything unparseable becomes ``x``.
    """
    if value is None:
        return None
    text = str(value).strip()
    addr, _, plen = text.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return "x"
    if ip.version == 4:
        masked = ".".join(str(ip).split(".")[:3]) + ".x"
    else:
        groups = ip.exploded.split(":")[:2]
        masked = ":".join(g.lstrip("0") or "0" for g in groups) + "::x"
    if plen.isdigit():
        masked += f"/{plen}"
    return masked


class Redactor:
    """Masks IPs and replaces user and device ids with stable short pseudonyms.

    Pseudonyms are ``user-3f2a1c`` / ``device-9b0e44``: a keyed SHA-256 of the
    id, so one account keeps one pseudonym across the packet (links stay
    visible) while the id itself is not shown. The key (``salt``) is derived
    from the input files' hashes, so the same input gives the same packet.
    With ``enabled=False`` every method returns its argument.
    """

    def __init__(self, enabled: bool, salt: str = "", length: int = 6) -> None:
        self.enabled = enabled
        self.salt = salt
        self.length = length
        self._seen: dict[tuple[str, str], str] = {}
        self._taken: dict[str, tuple[str, str]] = {}

    def _alias(self, prefix: str, value: str | None) -> str | None:
        if value is None or not self.enabled:
            return value
        key = (prefix, str(value))
        if key in self._seen:
            return self._seen[key]
        n = self.length
        alias = _pseudonym(prefix, key[1], self.salt, n)
        while alias in self._taken and self._taken[alias] != key:  # collision: lengthen
            n += 2
            alias = _pseudonym(prefix, key[1], self.salt, n)
        self._seen[key] = alias
        self._taken[alias] = key
        return alias

    def user(self, value: str | None) -> str | None:
        return self._alias("user", value)

    def device(self, value: str | None) -> str | None:
        return self._alias("device", value)

    def ip(self, value: str | None) -> str | None:
        return mask_ip(value) if self.enabled else value

    def edge_key(self, type_: str, key: str | None) -> str | None:
        """The shared value of an evidence edge, redacted by its type."""
        if type_ in ("ip", "net"):
            return self.ip(key)
        if type_ == "device":
            return self.device(key)
        if type_ == "user":
            return self.user(key)
        return key


#: Characters no output may carry: C0/C1 controls but tab and line breaks, DEL, the bidi
#: overrides that make text read other than it is, and lone surrogates (unencodable).
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: What stands for each of them (visible, so two ids that differ only there still differ).
REPLACEMENT = "\ufffd"


def printable(text: str) -> str:
    """``text`` with every control character (NUL, ESC, bidi overrides, ...) shown as U+FFFD."""
    return _UNPRINTABLE.sub(REPLACEMENT, text)
