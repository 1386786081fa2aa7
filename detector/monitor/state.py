"""The state of an incremental monitor: days seen, alerts raised, files read.

``--state DIR`` holds two files::

    state.json                 format, version, run, timezone, files (path, sha256),
                               daily (file name, sha256), alerts raised, output (the
                               version of OUT published with it, and the one before), checksum
    daily-<sha256[:16]>.parquet  the daily table of every shop-day seen so far

``state.json`` is written last, atomically: it is the commit point, and it
names the daily file by its hash, so a run killed before the commit leaves
the previous state whole. Its ``checksum`` is the SHA-256 of the rest of the
record (canonical JSON); a state whose checksum, version or daily file does
not match is *damaged* and refused with :class:`StateError` (exit code 2).

Merging days: a shop-day both in the state and in the new scan keeps the
figures of the scan that saw more reviews of it (an export that starts or
ends inside a day holds part of it; a later export of the whole day replaces
it); on a tie the state's figures stay, so re-running on the same files
changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.atomic import atomic_path, write_json
from detector.errors import InputError
from detector.input.schema import DSR_COLUMNS
from detector.monitor.daily import DAILY_KEYS, daily_columns

__all__ = ["MonitorState", "StateError", "alert_key", "load_state", "merge_daily"]

FORMAT = "review-detector monitor state"
VERSION = 1
STATE_FILE = "state.json"


class StateError(InputError):
    """A monitor state directory that cannot be used; the message says what to do."""


def alert_key(alert: dict) -> tuple[str, str, str]:
    """What makes an alert the same alert: its day, shop and rule."""
    return (alert["date"], alert["shop"], alert["rule"])


@dataclass
class MonitorState:
    """What an incremental monitor remembers between runs."""

    root: Path
    run: int = 0
    timezone: str | None = None
    files: list[dict] = field(default_factory=list)
    daily: pl.DataFrame | None = None
    alerts: list[dict] = field(default_factory=list)
    #: The version of OUT this state was committed with (``version``) and the one it
    #: replaces (``previous``): a run stopped between the commit and the switch is finished.
    output: dict = field(default_factory=dict)

    def raised(self) -> set[tuple[str, str, str]]:
        """Keys of the alerts already raised."""
        return {alert_key(a) for a in self.alerts}


def _checksum(body: dict) -> str:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _damaged(root: Path, why: str) -> StateError:
    return StateError(
        f"monitor state {root} is damaged ({why}); move the directory aside and run monitor "
        "again with every export you have: the state is rebuilt from them (alerts already "
        "raised are raised once more)"
    )


def load_state(root: str | Path) -> MonitorState:
    """The state in ``root``, or a fresh one when ``root`` has no ``state.json``.

    Raises :class:`StateError` when ``root`` is a file, or when its
    ``state.json`` or daily file is damaged.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise StateError(f"--state {root} is a file; give a directory (it is created if missing)")
    path = root / STATE_FILE
    if not path.is_file():
        return MonitorState(root)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(root, f"{STATE_FILE} is not readable JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise _damaged(root, f"{STATE_FILE} is not a monitor state")
    if record.get("version") != VERSION:
        raise StateError(
            f"monitor state {root} has version {record.get('version')!r}; this review-detector "
            f"reads version {VERSION}: use a new --state directory"
        )
    body = {k: v for k, v in record.items() if k != "checksum"}
    if record.get("checksum") != _checksum(body):
        raise _damaged(root, f"the checksum of {STATE_FILE} does not match its content")
    daily = None
    if record["daily"] is not None:
        daily = _read_daily(root, record["daily"])
    return MonitorState(
        root,
        record["run"],
        record["timezone"],
        record["files"],
        daily,
        record["alerts"],
        record.get("output") or {},  # states written before OUT was published as one
    )


def _read_daily(root: Path, ref: dict) -> pl.DataFrame:
    path = root / ref["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _damaged(root, f"its daily file {ref['file']} is missing") from exc
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise _damaged(root, f"{ref['file']} does not match the SHA-256 in {STATE_FILE}")
    return pl.read_parquet(io.BytesIO(data))


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd")
    return buf.getvalue()


def commit_state(state: MonitorState) -> None:
    """Write ``state`` into its directory: the daily file, then ``state.json``, then tidy up."""
    root = state.root
    root.mkdir(parents=True, exist_ok=True)
    ref = None
    if state.daily is not None:
        data = _parquet_bytes(state.daily)
        digest = hashlib.sha256(data).hexdigest()
        ref = {"file": f"daily-{digest[:16]}.parquet", "sha256": digest}
        with atomic_path(root / ref["file"]) as tmp:
            tmp.write_bytes(data)
    body = {
        "format": FORMAT,
        "version": VERSION,
        "run": state.run,
        "timezone": state.timezone,
        "files": state.files,
        "daily": ref,
        "alerts": state.alerts,
        "output": state.output,
    }
    write_json({**body, "checksum": _checksum(body)}, root / STATE_FILE)
    for old in root.glob("daily-*.parquet"):
        if ref is None or old.name != ref["file"]:
            old.unlink(missing_ok=True)


def merge_daily(old: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """Shop-days of ``old`` and ``new``; a day in both keeps the figures with more reviews (ties: ``old``)."""
    if old is None:
        return new
    both = pl.concat(
        [old.with_columns(pl.lit(0).alias("_src")), new.with_columns(pl.lit(1).alias("_src"))],
        how="diagonal_relaxed",
    )
    dsr = [d for d in DSR_COLUMNS if d in both.columns]
    return (
        both.sort([*DAILY_KEYS, "reviews", "_src"], descending=[False, False, True, False])
        .unique(subset=list(DAILY_KEYS), keep="first", maintain_order=True)
        .select(daily_columns(dsr))
        .sort(*DAILY_KEYS)
    )
