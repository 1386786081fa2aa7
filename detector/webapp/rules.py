"""The alert rules the app's dashboards and ``/api/scans/{id}/alerts`` use, chosen in the app.

A merchant uploads a rules file (the TOML of ``review-detector monitor --rules``,
checked by the same :func:`detector.monitor.rules_from_text`) or goes back to
the defaults. The file is kept in the data folder under a name of the server's::

    DATA/rules/rules-<sha256[:16]>.toml  the chosen file's text
    DATA/rules/rules.json                its original name, when it was chosen, its SHA-256
                                         (absent: the default rules)

``rules.json`` is written last and names the text by its hash (the commit
point): a stop between the writes leaves the previous choice, and a text that
does not match its hash is not used.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from detector.atomic import atomic_path, write_json
from detector.monitor import Rule, rules_from_text

#: Largest rules file accepted (the defaults are 6 kB).
MAX_RULES_BYTES = 256 * 1024
DEFAULTS = "defaults"


class RulesChoice:
    """The rules file chosen for a data folder (the defaults until one is chosen).

    Parameters
    ----------
    root : Path
        The data folder.
    """

    def __init__(self, root: Path):
        self.dir = Path(root) / "rules"
        self._lock = threading.Lock()
        self._cache: tuple[str, list[Rule]] | None = None

    def info(self) -> dict:
        """``file`` (the chosen file's name, None for the defaults), ``chosen_at``, ``sha256``."""
        return self._read()[0]

    def _read(self) -> tuple[dict, str | None]:
        """The choice's record and its text (None: the defaults)."""
        defaults = {"file": None, "chosen_at": None, "sha256": DEFAULTS}
        try:
            meta = json.loads((self.dir / "rules.json").read_text(encoding="utf-8"))
            data = (self.dir / _text_name(meta["sha256"])).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return defaults, None
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            return defaults, None  # edited by hand: not the file that was checked
        return {k: meta.get(k) for k in defaults}, data.decode("utf-8")

    def rules(self) -> tuple[str, list[Rule]]:
        """The key of the choice (its SHA-256, or ``defaults``) and its enabled rules."""
        info, text = self._read()
        key = info["sha256"]
        with self._lock:
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, rules_from_text(text, info["file"] or "default_rules.toml"))
            return self._cache

    def choose(self, data: bytes, filename: str | None) -> dict:
        """Check and keep an uploaded rules file; :class:`detector.monitor.RulesError` when bad."""
        from detector.monitor import RulesError

        name = (filename or "rules.toml").strip() or "rules.toml"
        if len(data) > MAX_RULES_BYTES:
            raise RulesError(f"{name}: a rules file is at most {MAX_RULES_BYTES // 1024} kB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RulesError(f"{name}: not UTF-8 text ({exc})") from None
        rules_from_text(text, name)  # every rule and key checked before it is kept
        meta = {
            "file": name,
            "chosen_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.dir / _text_name(meta["sha256"])) as tmp:
                tmp.write_bytes(data)
            write_json(meta, self.dir / "rules.json")
            self._tidy(meta["sha256"])
        return meta

    def reset(self) -> None:
        """Back to the default rules."""
        with self._lock:
            (self.dir / "rules.json").unlink(missing_ok=True)  # the commit point first
            self._tidy(None)

    def _tidy(self, keep: str | None) -> None:
        for old in self.dir.glob("rules-*.toml"):
            if keep is None or old.name != _text_name(keep):
                old.unlink(missing_ok=True)


def _text_name(sha256: str) -> str:
    return f"rules-{sha256[:16]}.toml"


def describe(rules: list[Rule]) -> list[dict]:
    """The rules in effect as JSON-ready records, by name."""
    return sorted((r.describe() for r in rules), key=lambda r: r["name"])
