"""Where the web app keeps its scans: one directory per scan under ``DATA/scans``.

Layout of a scan ``ID`` (every name here is made by the server; the client's
file name is only recorded, never used in a path)::

    DATA/scans/ID/status.json     state, progress, form options, error
    DATA/scans/ID/input/export.X  the uploaded file (X from a fixed list of suffixes)
    DATA/scans/ID/scan/           the output of ``review-detector scan``
    DATA/scans/ID/packets/NAME/   appeal packets built from it (NAME made here)
    DATA/scans/.deleted-ID-*/     a scan being deleted (renamed away first, then removed)
    DATA/scans/forgotten.json     imported scans deleted in the app: not imported again

An id is ``YYYYmmdd-HHMMSS-`` plus 8 hex digits; anything else is refused
before it comes near the file system (:func:`check_id`), and a valid id is
looked up among the scan directories that exist, never joined raw.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from detector.atomic import write_json

#: The only shape a scan id has.
ID_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
#: Upload suffixes the scan reads; the stored file gets one of these, nothing else.
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".parquet")
STATES = ("queued", "running", "done", "failed")
#: Where a scan goes, in one rename, while its files are removed (never listed).
DELETED_PREFIX = ".deleted-"
#: Imported scans deleted in the app (their directory and its summary's SHA-256).
FORGOTTEN = "forgotten.json"


class UnknownScan(LookupError):
    """No scan has this id (or the id is not one the server could have made)."""


class ScanBusy(RuntimeError):
    """The scan is queued or running: it cannot be deleted now."""


def check_id(scan_id: str) -> str:
    """``scan_id`` when it has the server's id shape, else :class:`UnknownScan`."""
    if not isinstance(scan_id, str) or not ID_PATTERN.fullmatch(scan_id):
        raise UnknownScan(scan_id)
    return scan_id


def new_id(now: datetime | None = None) -> str:
    """A fresh scan id: creation time (UTC, sorts by age) and 32 random bits."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def upload_suffix(filename: str | None) -> str | None:
    """The stored suffix for a client file name, or None when the scan cannot read it."""
    name = (filename or "").strip().lower()
    return next((s for s in UPLOAD_SUFFIXES if name.endswith(s)), None)


class ScanStore:
    """The scans under ``root/scans``; status files are written atomically.

    Parameters
    ----------
    root : path
        The ``--data`` directory (created when missing).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.scans = self.root / "scans"
        self.scans.mkdir(parents=True, exist_ok=True)
        self.exports = self.root / "exports"
        self._lock = threading.Lock()
        for left in self.scans.glob(f"{DELETED_PREFIX}*"):  # deletions a stop cut short
            self._rmtree_inside(left)

    # -- lookup ----------------------------------------------------------------
    def ids(self) -> list[str]:
        """Every scan id with a status file, newest first."""
        found = [
            p.name for p in self.scans.iterdir() if ID_PATTERN.fullmatch(p.name) and p.is_dir()
        ]
        return sorted(
            (i for i in found if (self.scans / i / "status.json").is_file()), reverse=True
        )

    def dir(self, scan_id: str) -> Path:
        """The directory of an existing scan (looked up, never built from raw input)."""
        check_id(scan_id)
        for name in self.ids():
            if secrets.compare_digest(name, scan_id):
                return self.scans / name
        raise UnknownScan(scan_id)

    def status(self, scan_id: str) -> dict:
        """The status record of a scan."""
        path = self.dir(scan_id) / "status.json"
        return json.loads(path.read_text(encoding="utf-8"))

    def list(self) -> list[dict]:
        """Status records of every scan, newest first."""
        out = []
        for i in self.ids():
            try:
                out.append(self.status(i))
            except (OSError, ValueError, UnknownScan):
                continue  # being removed, or a status from another version
        return out

    # -- writing ---------------------------------------------------------------
    def create(self, options: dict, filename: str | None, source: str) -> tuple[str, Path]:
        """A new scan directory with its first status ("queued"); returns id and directory."""
        with self._lock:
            while True:
                scan_id = new_id()
                path = self.scans / scan_id
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
        (path / "input").mkdir()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.write_status(
            path,
            {
                "id": scan_id,
                "state": "queued",
                "created_at": now,
                "updated_at": now,
                "source": source,
                "filename": filename,
                "options": options,
                "progress": {"fraction": 0.0, "stage": None, "stages": []},
                "error": None,
            },
        )
        return scan_id, path

    def write_status(self, path: Path, status: dict) -> None:
        status["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        write_json(status, path / "status.json")

    def update(self, scan_id: str, **changes) -> dict:
        """Merge ``changes`` into a scan's status and write it."""
        with self._lock:
            path = self.dir(scan_id)
            status = self.status(scan_id)
            status.update(changes)
            self.write_status(path, status)
            return status

    def remove(self, path: Path) -> None:
        """Remove a scan directory that never got past its upload (a refused file)."""
        shutil.rmtree(path, ignore_errors=True)

    def delete(self, scan_id: str) -> dict:
        """Delete a finished or failed scan: its upload, outputs, packets and status.

        The directory is renamed out of the listing in one step (a reader sees
        the scan or nothing), then removed. Only a real directory directly under
        ``DATA/scans`` is ever removed, and links in it are unlinked, never
        followed: nothing outside the data folder is touched, whatever the id or
        the folder holds. An imported scan's own directory (``--scan``, the demo)
        is not the app's and stays; it is not imported again at the next start
        (:data:`FORGOTTEN`) unless a new scan is written into it.
        Raises :class:`UnknownScan`, or :class:`ScanBusy` while it is queued or running.
        """
        with self._lock:
            path = self.dir(scan_id)
            status = self.status(scan_id)
            if status.get("state") in ("queued", "running"):
                raise ScanBusy(scan_id)
            if path.is_symlink() or path.resolve().parent != self.scans:
                raise UnknownScan(scan_id)  # not a directory this store made
            if status.get("scan_dir"):  # an import: not shown again at the next start
                self._forget(Path(status["scan_dir"]))
            gone = self.scans / f"{DELETED_PREFIX}{path.name}-{secrets.token_hex(4)}"
            os.rename(path, gone)
        self._rmtree_inside(gone)
        return status

    def _forgotten(self) -> list[dict]:
        try:
            return json.loads((self.scans / FORGOTTEN).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []

    def _forget(self, scan_dir: Path) -> None:
        """Remember that the import of ``scan_dir`` (as its summary is now) was deleted."""
        entry = {"scan_dir": str(scan_dir), "summary_sha256": _summary_digest(scan_dir)}
        forgotten = [e for e in self._forgotten() if e.get("scan_dir") != entry["scan_dir"]]
        write_json([*forgotten, entry], self.scans / FORGOTTEN)

    def _rmtree_inside(self, path: Path) -> None:
        """Remove ``path`` (a real directory directly under ``DATA/scans``) and what is in it."""
        if path.is_symlink():
            path.unlink(missing_ok=True)  # the link only, never where it leads
            return
        if path.resolve().parent != self.scans:
            return
        shutil.rmtree(path, ignore_errors=True)  # unlinks links inside, never follows them

    def fail(self, scan_id: str, error: str) -> dict:
        """Mark a scan failed and keep nothing of it but its status (the error)."""
        path = self.dir(scan_id)
        for entry in path.iterdir():  # the upload, the scan's output link and its versions
            if entry.name == "status.json":
                continue
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink(missing_ok=True)
            else:
                shutil.rmtree(entry, ignore_errors=True)
        return self.update(scan_id, state="failed", error=error, finished_at=_now())

    def import_scan(self, scan_dir: Path) -> str | None:
        """Show a finished scan directory made elsewhere (the CLI, the demo); idempotent.

        The scan stays where it is (its status records the path); packets built
        from it go under this data folder. None when this scan was deleted in the
        app (a new scan written into the directory is imported again).
        """
        scan_dir = Path(scan_dir).resolve()
        summary = json.loads((scan_dir / "summary.json").read_text(encoding="utf-8"))
        for status in self.list():
            if status.get("scan_dir") == str(scan_dir):
                return status["id"]
        digest = _summary_digest(scan_dir)
        if {"scan_dir": str(scan_dir), "summary_sha256": digest} in self._forgotten():
            return None
        made = datetime.fromtimestamp((scan_dir / "summary.json").stat().st_mtime, UTC)
        scan_id, path = self.create({}, scan_dir.name, "import")
        shutil.rmtree(path / "input", ignore_errors=True)
        rows = summary.get("rows") or {}
        self.update(
            scan_id,
            state="done",
            scan_dir=str(scan_dir),
            started_at=made.isoformat(timespec="seconds"),
            finished_at=made.isoformat(timespec="seconds"),
            progress={"fraction": 1.0, "stage": None, "stages": []},
            rows={k: rows.get(k) for k in ("input", "scored", "rejected", "flagged")},
            cases=int((summary.get("cases") or {}).get("linked", 0)),
        )
        return scan_id

    def scan_dir(self, scan_id: str) -> Path:
        """Where a scan's outputs are: its own ``scan/`` or the imported directory."""
        status = self.status(scan_id)
        return Path(status["scan_dir"]) if status.get("scan_dir") else self.dir(scan_id) / "scan"

    # -- folders of exports ------------------------------------------------------
    def export_folders(self) -> list[str]:
        """Folders under ``DATA/exports`` that hold files the scan reads (by name)."""
        if not self.exports.is_dir():
            return []
        out = []
        for p in sorted(self.exports.iterdir()):
            if p.is_dir() and not p.name.startswith("."):
                if any(upload_suffix(f.name) for f in p.rglob("*") if f.is_file()):
                    out.append(p.name)
        return out

    def export_folder(self, name: str) -> Path:
        """The folder ``name`` from :meth:`export_folders` (looked up, never joined raw)."""
        for n in self.export_folders():
            if n == name:
                return self.exports / n
        raise UnknownScan(name)


def _summary_digest(scan_dir: Path) -> str | None:
    """SHA-256 of a scan directory's ``summary.json`` (None when it cannot be read)."""
    try:
        return hashlib.sha256((scan_dir / "summary.json").read_bytes()).hexdigest()
    except OSError:
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def elapsed(status: dict) -> float | None:
    """Seconds from start to finish (or to now while running)."""
    try:
        start = datetime.fromisoformat(status["started_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    end = status.get("finished_at")
    stop = datetime.fromisoformat(end).timestamp() if end else time.time()
    return max(0.0, stop - start)
