"""The scans behind the pages and the API: created from uploads or folders, read back, packets.

One service object (:class:`Scans`) serves both the server-rendered pages
(:mod:`detector.webapp.pages`) and the JSON API (:mod:`detector.webapp.api`),
so a form and a script go through the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from detector.errors import InputError
from detector.evidence import NoCasesError
from detector.evidence.platforms import PLATFORMS
from detector.input.load import scan_reviews
from detector.input.presets import PRESETS as PRESET_LAYOUTS
from detector.input.windows import check_timezone
from detector.webapp import i18n
from detector.webapp.dashboard import ScanView, ViewCache, read_packet
from detector.webapp.jobs import Runner, scan_arguments
from detector.webapp.rules import RulesChoice
from detector.webapp.store import ScanBusy, ScanStore, UnknownScan, elapsed, upload_suffix

#: The form's time zone when left empty: the preset's (Asia/Shanghai for the Chinese
#: platforms), else UTC (:meth:`detector.input.spec.InputSpec.effective_timezone`).
DEFAULT_TIMEZONE = ""
#: Seller-centre export layouts offered on the form ("" = the contract's own column names).
PRESETS = ("", *PRESET_LAYOUTS)
CHUNK = 1 << 20


@dataclass
class Settings:
    """How the server runs.

    Attributes
    ----------
    data : Path
        Uploads, scans and packets (``--data``).
    token : str or None
        Required on every request when set (always set off loopback).
    loopback_only : bool
        Answer only loopback Host headers (the server listens on 127.0.0.1).
    max_upload_mb : int
        Largest upload.
    """

    data: Path
    token: str | None = None
    loopback_only: bool = True
    max_upload_mb: int = 200
    workers: int = 1
    #: Finished scan directories to show besides the uploads (``--scan``).
    imports: list[Path] = field(default_factory=list)


class Scans:
    """Creating scans from uploads or folders, and reading their state."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = ScanStore(settings.data)
        self.runner = Runner(self.store, settings.workers)
        self.views = ViewCache()
        self.rules = RulesChoice(self.store.root)
        for scan_dir in self.import_dirs():
            self.store.import_scan(scan_dir)

    def import_dirs(self) -> list[Path]:
        """``--scan`` directories, and the demo's ``DATA/scan`` when DATA is a demo folder."""
        dirs = list(self.settings.imports)
        demo = self.store.root / "scan"
        if (demo / "summary.json").is_file():
            dirs.append(demo)
        for d in dirs:
            if not (Path(d) / "summary.json").is_file():
                raise InputError(f"--scan {d}: not a scan directory (no summary.json)")
        return dirs

    def options(self, preset: str, columns: str, shop: str, timezone: str) -> dict:
        preset = (preset or "").strip()
        if preset not in PRESETS:
            raise InputError(
                f"unknown export format {preset!r}; choose from {', '.join(PRESETS[1:])}"
            )
        timezone = (timezone or "").strip() or None
        if timezone is not None:
            check_timezone(timezone)
        return {
            "preset": preset or None,
            "columns": (columns or "").strip() or None,
            "shop": (shop or "").strip() or None,
            "timezone": timezone,
        }

    async def from_upload(
        self, upload: UploadFile, options: dict, orders: UploadFile | None = None
    ) -> str:
        """Store an upload (and its order export) under names of the server's, check
        it, queue its scan."""
        if orders is not None and not orders.filename:
            orders = None  # the form's optional file field, left empty
        for f in (upload, orders):
            if f is not None and upload_suffix(f.filename) is None:
                raise InputError(
                    f"cannot read {f.filename!r}: upload a .csv, .xlsx or .parquet export"
                )
        scan_id, path = self.store.create(options, upload.filename, "upload")
        try:
            target = await self._store(upload, path / "input" / "export")
            order_files = [await self._store(orders, path / "input" / "orders")] if orders else []
            # reading the headers (an xlsx: the sheet) must not stall the other requests
            await run_in_threadpool(self._precheck, [target], options, order_files)
        except BaseException:
            self.store.remove(path)
            raise
        return self._queue(scan_id, [target], order_files)

    async def _store(self, upload: UploadFile, stem: Path) -> Path:
        """Copy an upload to ``stem`` plus its suffix; :class:`InputError` when too large or empty."""
        target = stem.with_name(stem.name + upload_suffix(upload.filename))
        limit, size = self.settings.max_upload_mb * 2**20, 0
        with target.open("wb") as fh:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InputError(
                        f"{upload.filename!r} is larger than {self.settings.max_upload_mb} MB"
                    )
                fh.write(chunk)
        if size == 0:
            raise InputError(f"{upload.filename!r} is empty")
        return target

    def from_folder(self, name: str, options: dict) -> str:
        try:
            folder = self.store.export_folder(name)
        except UnknownScan:
            raise InputError(
                f"no folder {name!r} with exports under {self.store.exports}"
            ) from None
        self._precheck([folder], options)
        scan_id, _ = self.store.create(options, name, "folder")
        return self._queue(scan_id, [folder])

    def _precheck(self, inputs: list[Path], options: dict, orders: list[Path] = ()) -> None:
        """The scan's input rules that need only the headers, before anything is queued."""
        scan_reviews([str(p) for p in inputs], **scan_arguments(options, orders))

    def _queue(self, scan_id: str, inputs: list[Path], orders: list[Path] = ()) -> str:
        self.store.update(scan_id, inputs=[str(p) for p in inputs], orders=[str(p) for p in orders])
        self.runner.submit(scan_id)
        return scan_id

    def status(self, scan_id: str) -> dict:
        try:
            status = self.store.status(scan_id)
        except UnknownScan:
            raise HTTPException(404, "no such scan") from None
        status = dict(status)
        status.pop("inputs", None)  # server paths stay on the server
        status.pop("orders", None)
        status["elapsed_s"] = elapsed(status)
        return status

    def delete(self, scan_id: str) -> dict:
        """Delete a finished or failed scan (404 unknown, 409 while queued or running)."""
        try:
            status = self.store.delete(scan_id)
        except UnknownScan:
            raise HTTPException(404, "no such scan") from None
        except ScanBusy:
            raise HTTPException(
                409, "the scan is queued or running: delete it once it has finished"
            ) from None
        self.views.drop(scan_id)
        return {"id": status["id"], "deleted": True}

    def view(self, scan_id: str) -> ScanView:
        status = self.status(scan_id)
        if status["state"] != "done":
            raise HTTPException(409, f"the scan is {status['state']}")
        path = self.store.scan_dir(scan_id)
        try:
            return self.views.get(scan_id, path)
        except InputError as exc:
            raise HTTPException(410, str(exc)) from None

    def packet_dir(self, scan_id: str) -> Path:
        return self.store.dir(scan_id)


def packet_of(scans: Scans, scan_id: str, name: str) -> tuple[Path, dict]:
    try:
        return read_packet(scans.packet_dir(scan_id), name)
    except (LookupError, UnknownScan):
        raise HTTPException(404, "no such packet") from None


def zip_response(scans: Scans, scan_id: str, name: str) -> FileResponse:
    packet_of(scans, scan_id, name)  # checks the name
    path = scans.packet_dir(scan_id) / "packets" / f"{name}.zip"
    return FileResponse(path, media_type="application/zip", filename=f"packet-{name}.zip")


def build(scans: Scans, scan_id: str, shop: str, platform: str, lang: str) -> str:
    if platform not in PLATFORMS:
        raise HTTPException(
            422, f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}"
        )
    if lang not in i18n.LANGS:
        raise HTTPException(422, "lang is zh or en")
    view = scans.view(scan_id)
    if not view.has_shop(shop):
        raise HTTPException(404, "no such shop in this scan")
    try:
        name, _ = view.build(scans.packet_dir(scan_id), shop, platform, lang)
    except NoCasesError as exc:
        raise HTTPException(409, str(exc)) from None
    return name


def alerts_of(scans: Scans, view: ScanView, shop: str | None) -> list[dict]:
    """The monitor's alerts for ``shop`` (every shop when None) under the rules chosen."""
    return [a for a in view.alerts(scans.rules.rules()) if shop is None or a["shop"] == shop]
