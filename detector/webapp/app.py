"""The FastAPI application: server-rendered pages for a merchant, a JSON API for a team.

Build it with :func:`create_app`; ``review-detector serve`` runs it with uvicorn
(:mod:`detector.webapp.command`). Security is described in
:mod:`detector.webapp.security`, the data folder in :mod:`detector.webapp.store`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from detector import __version__
from detector.contract import InputError, scan_reviews
from detector.evidence import NoCasesError
from detector.evidence.platforms import PLATFORMS
from detector.webapp import i18n
from detector.webapp.dashboard import ViewCache, read_packet
from detector.webapp.jobs import Runner, scan_arguments
from detector.webapp.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    PACKET_CSP,
    BodyTooLarge,
    Guard,
    new_secret,
    same,
)
from detector.webapp.store import ScanStore, UnknownScan, elapsed, upload_suffix

HERE = Path(__file__).parent
LANG_COOKIE = "rd_lang"
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Seller-centre export layouts offered on the form ("" = the contract's own column names).
PRESETS = ("", "taobao", "tmall", "jd", "pdd", "douyin")
CHUNK = 1 << 20
#: The appeal form a packet is first offered for, by the export's layout.
PLATFORM_OF_PRESET = {
    "taobao": "taobao",
    "tmall": "taobao",
    "jd": "jd",
    "pdd": "pdd",
    "douyin": "douyin",
}


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


# --------------------------------------------------------------------------- helpers


def check_timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}; give an IANA name such as Asia/Shanghai"
        ) from None
    return name


def _lang(request: Request) -> str:
    return i18n.pick_lang(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or request.state.__dict__.setdefault(
        "csrf", new_secret()
    )


def _check_csrf(request: Request, given: str | None) -> None:
    if not same(given, request.cookies.get(CSRF_COOKIE)):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")


def _check_api_post(request: Request) -> None:
    """An API POST must carry a header a cross-site form cannot send."""
    if not (request.headers.get("authorization") or request.headers.get("x-requested-with")):
        raise HTTPException(
            403,
            "API POSTs need an 'X-Requested-With' header (or 'Authorization: Bearer TOKEN')",
        )


def _with_query(path: str, **params) -> str:
    q = {k: v for k, v in params.items() if v is not None}
    return path + ("?" + urlencode(q) if q else "")


class Pages:
    """Renders templates with the language, the CSRF token and the URL helpers."""

    def __init__(self, settings: Settings):
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.autoescape = True  # every template, whatever its suffix
        self.templates.env.globals.update(
            t=i18n.t,
            stage_name=i18n.stage_name,
            preset_name=i18n.preset_name,
            q=quote,
            with_query=_with_query,
            platform_name=lambda key, lang: PLATFORMS[key].name[lang],
        )
        self.settings = settings

    def render(self, request: Request, template: str, code: int = 200, **context) -> HTMLResponse:
        lang = _lang(request)
        csrf = _csrf(request)
        context.update(lang=lang, csrf=csrf, csrf_field=CSRF_FIELD, version=__version__)
        context.setdefault("refresh", False)
        status = context.get("status") or {}
        preset = (status.get("options") or {}).get("preset")
        context.setdefault("default_platform", PLATFORM_OF_PRESET.get(preset, "generic"))
        response = self.templates.TemplateResponse(request, template, context, status_code=code)
        if request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        if request.query_params.get("lang") in i18n.LANGS:
            response.set_cookie(LANG_COOKIE, lang, samesite="strict", max_age=365 * 86400)
        return response


# --------------------------------------------------------------------------- scans


class Scans:
    """Creating scans from uploads or folders, and reading their state."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = ScanStore(settings.data)
        self.runner = Runner(self.store, settings.workers)
        self.views = ViewCache()
        for scan_dir in self.import_dirs():
            self.store.import_scan(scan_dir, _scan_timezone(scan_dir))

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
        timezone = (timezone or DEFAULT_TIMEZONE).strip()
        check_timezone(timezone)
        return {
            "preset": preset or None,
            "columns": (columns or "").strip() or None,
            "shop": (shop or "").strip() or None,
            "timezone": timezone,
        }

    async def from_upload(self, upload: UploadFile, options: dict) -> str:
        """Store an upload under a name of the server's, check it, queue its scan."""
        suffix = upload_suffix(upload.filename)
        if suffix is None:
            raise InputError(
                f"cannot read {upload.filename!r}: upload a .csv, .xlsx or .parquet export"
            )
        scan_id, path = self.store.create(options, upload.filename, "upload")
        target = path / "input" / f"export{suffix}"
        limit = self.settings.max_upload_mb * 2**20
        try:
            size = 0
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
            # reading the headers (an xlsx: the sheet) must not stall the other requests
            await run_in_threadpool(self._precheck, [target], options)
        except BaseException:
            self.store.remove(path)
            raise
        return self._queue(scan_id, [target])

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

    def _precheck(self, inputs: list[Path], options: dict) -> None:
        """The scan's input rules that need only the headers, before anything is queued."""
        scan_reviews([str(p) for p in inputs], **scan_arguments(options))

    def _queue(self, scan_id: str, inputs: list[Path]) -> str:
        self.store.update(scan_id, inputs=[str(p) for p in inputs])
        self.runner.submit(scan_id)
        return scan_id

    def status(self, scan_id: str) -> dict:
        try:
            status = self.store.status(scan_id)
        except UnknownScan:
            raise HTTPException(404, "no such scan") from None
        status = dict(status)
        status.pop("inputs", None)  # server paths stay on the server
        status["elapsed_s"] = elapsed(status)
        return status

    def view(self, scan_id: str):
        status = self.status(scan_id)
        if status["state"] != "done":
            raise HTTPException(409, f"the scan is {status['state']}")
        path = self.store.scan_dir(scan_id)
        try:
            return self.views.get(scan_id, path, status["options"].get("timezone") or "UTC")
        except InputError as exc:
            raise HTTPException(410, str(exc)) from None

    def packet_dir(self, scan_id: str) -> Path:
        return self.store.dir(scan_id)


# --------------------------------------------------------------------------- the app


def _scan_timezone(scan_dir: Path) -> str:
    """The zone a scan read its input's times in (UTC when it does not say)."""
    import json

    summary = json.loads((Path(scan_dir) / "summary.json").read_text(encoding="utf-8"))
    return ((summary.get("load") or {}).get("timezone")) or "UTC"


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    """Scans a stopped server left queued or running start again; the queue stops with it."""
    app.state.scans.runner.resume()
    yield
    app.state.scans.runner.shutdown()


def create_app(settings: Settings) -> FastAPI:
    """The web app over ``settings.data`` (queued scans of a previous run resume)."""
    app = FastAPI(
        title="review-detector",
        version=__version__,
        description=(
            "Scan seller-centre review exports, see each shop's days, alerts and cases, and "
            "build appeal packets. POSTs need an `X-Requested-With` header (or "
            "`Authorization: Bearer TOKEN` when the server runs with a token)."
        ),
        docs_url=None,  # Swagger UI loads from a CDN; /api/docs is rendered here
        redoc_url=None,
        lifespan=_lifespan,
    )
    scans = Scans(settings)
    pages = Pages(settings)
    app.state.scans = scans
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge):
        return Response(
            f"the upload is larger than {settings.max_upload_mb} MB", 413, media_type="text/plain"
        )

    _pages(app, scans, pages)
    _api(app, scans)
    wrapped = Guard(
        app,
        token=settings.token,
        loopback_only=settings.loopback_only,
        max_body=settings.max_upload_mb * 2**20 + 64 * 1024,  # the form fields around the file
    )
    app.state.guarded = wrapped
    return app


def asgi(settings: Settings):
    """The app behind its :class:`~detector.webapp.security.Guard` (what the server runs)."""
    return create_app(settings).state.guarded


def _pages(app: FastAPI, scans: Scans, pages: Pages) -> None:
    def index(request: Request, error: str | None = None, code: int = 200):
        listed = scans.store.list()
        return pages.render(
            request,
            "index.html.j2",
            code,
            scans=listed,  # no refresh here: it would wipe a form being filled in
            folders=scans.store.export_folders(),
            presets=PRESETS,
            error=error,
            max_mb=scans.settings.max_upload_mb,
            default_tz=DEFAULT_TIMEZONE,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request):
        return index(request)

    @app.post("/scans", include_in_schema=False)
    async def upload(
        request: Request,
        file: Annotated[UploadFile, File()],
        csrf: Annotated[str, Form()] = "",
        preset: Annotated[str, Form()] = "",
        columns: Annotated[str, Form()] = "",
        shop: Annotated[str, Form()] = "",
        timezone: Annotated[str, Form()] = DEFAULT_TIMEZONE,
    ):
        _check_csrf(request, csrf)
        try:
            scan_id = await scans.from_upload(file, scans.options(preset, columns, shop, timezone))
        except InputError as exc:
            return index(request, str(exc), 422)
        return RedirectResponse(f"/scans/{scan_id}", 303)

    @app.post("/scans/folder", include_in_schema=False)
    def folder(
        request: Request,
        folder: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
        preset: Annotated[str, Form()] = "",
        columns: Annotated[str, Form()] = "",
        shop: Annotated[str, Form()] = "",
        timezone: Annotated[str, Form()] = DEFAULT_TIMEZONE,
    ):
        _check_csrf(request, csrf)
        try:
            scan_id = scans.from_folder(folder, scans.options(preset, columns, shop, timezone))
        except InputError as exc:
            return index(request, str(exc), 422)
        return RedirectResponse(f"/scans/{scan_id}", 303)

    @app.get("/scans/{scan_id}", response_class=HTMLResponse, include_in_schema=False)
    def scan_page(request: Request, scan_id: str, shop: str | None = None):
        status = scans.status(scan_id)
        if status["state"] != "done":
            return pages.render(
                request, "progress.html.j2", status=status, refresh=status["state"] != "failed"
            )
        view = scans.view(scan_id)
        shops = view.shops()
        if shop is None:
            shop = shops[0]["shop_id"] if shops else None
        elif not view.has_shop(shop):
            raise HTTPException(404, "no such shop in this scan")
        lang = _lang(request)
        return pages.render(
            request,
            "dashboard.html.j2",
            status=status,
            shops=shops,
            shop=shop,
            charts=view.charts(shop, lang) if shop else [],
            cases=view.cases(shop, lang) if shop else None,
            alerts=alerts_of(view, shop),
            platforms=list(PLATFORMS),
            timezone=view.timezone,
        )

    @app.get(
        "/scans/{scan_id}/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False
    )
    def case_page(request: Request, scan_id: str, case_id: str, shop: str):
        status = scans.status(scan_id)
        view = scans.view(scan_id)
        if not view.has_shop(shop):
            raise HTTPException(404, "no such shop in this scan")
        case = view.case(shop, _lang(request), case_id)
        if case is None:
            raise HTTPException(404, "no such case at this shop")
        return pages.render(
            request,
            "case.html.j2",
            status=status,
            shop=shop,
            case=case,
            platforms=list(PLATFORMS),
            timezone=view.timezone,
        )

    @app.post("/scans/{scan_id}/packets", include_in_schema=False)
    def packet_form(
        request: Request,
        scan_id: str,
        shop: Annotated[str, Form()],
        platform: Annotated[str, Form()] = "generic",
        csrf: Annotated[str, Form()] = "",
    ):
        _check_csrf(request, csrf)
        name = build(scans, scan_id, shop, platform, _lang(request))
        return RedirectResponse(f"/scans/{scan_id}/packets/{name}", 303)

    @app.get("/scans/{scan_id}/packets/{name}.zip", include_in_schema=False)
    def packet_zip(scan_id: str, name: str):
        return zip_response(scans, scan_id, name)

    @app.get(
        "/scans/{scan_id}/packets/{name}", response_class=HTMLResponse, include_in_schema=False
    )
    def packet_page(request: Request, scan_id: str, name: str):
        status = scans.status(scan_id)
        _, data = packet_of(scans, scan_id, name)
        return pages.render(request, "packet.html.j2", status=status, name=name, packet=data)

    @app.get("/scans/{scan_id}/packets/{name}/packet.html", include_in_schema=False)
    def packet_html(scan_id: str, name: str):
        path, _ = packet_of(scans, scan_id, name)
        return FileResponse(
            path / "packet.html",
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": PACKET_CSP},
        )

    @app.get("/scans/{scan_id}/packets/{name}/cards/{index}", include_in_schema=False)
    def packet_card(scan_id: str, name: str, index: int):
        path, data = packet_of(scans, scan_id, name)
        cards = data["files"]["cards"]
        if not 0 <= index < len(cards):
            raise HTTPException(404, "no such card")
        return FileResponse(path / cards[index]["file"], media_type="image/png")

    @app.get("/scans/{scan_id}/cited.csv", include_in_schema=False)
    def cited_csv(request: Request, scan_id: str, shop: str):
        view = scans.view(scan_id)
        if not view.has_shop(shop):
            raise HTTPException(404, "no such shop in this scan")
        body = view.cited_csv(shop, _lang(request))
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="cited-{scan_id}.csv"'},
        )

    @app.get("/scans/{scan_id}/rejected.csv", include_in_schema=False)
    def rejected_csv(scan_id: str):
        body = scans.view(scan_id).rejected_csv()
        if body is None:
            raise HTTPException(404, "the scan rejected no rows")
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="rejected-{scan_id}.csv"'},
        )

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request):
        return pages.render(request, "apidocs.html.j2", spec=app.openapi())


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


def alerts_of(view, shop: str | None) -> list[dict]:
    """The monitor's alerts for ``shop`` (every shop when None)."""
    return []


def _api(app: FastAPI, scans: Scans) -> None:
    @app.post("/api/scans", tags=["scans"], summary="Upload an export and start its scan")
    async def api_create(
        request: Request,
        file: Annotated[UploadFile, File(description="a .csv, .xlsx or .parquet export")],
        preset: Annotated[str, Form(description="taobao, tmall, jd, pdd, douyin or empty")] = "",
        columns: Annotated[str, Form(description="e.g. '评价时间=created_at,评分=rating'")] = "",
        shop: Annotated[str, Form(description="the shop of an export without a shop column")] = "",
        timezone: Annotated[
            str, Form(description="IANA zone of the export's times")
        ] = DEFAULT_TIMEZONE,
    ) -> dict:
        """Returns ``{"id": ...}``; the scan runs in the background (poll ``GET /api/scans/{id}``).
        A file the scan cannot read is refused with 422 and its message; nothing is kept."""
        _check_api_post(request)
        try:
            scan_id = await scans.from_upload(file, scans.options(preset, columns, shop, timezone))
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"id": scan_id}

    @app.get("/api/scans", tags=["scans"], summary="Every scan, newest first")
    def api_list() -> list[dict]:
        return [scans.status(s["id"]) for s in scans.store.list()]

    @app.get("/api/scans/{scan_id}", tags=["scans"], summary="A scan's state and progress")
    def api_status(scan_id: str) -> dict:
        """``state`` is queued, running, done or failed (then ``error`` says why);
        ``progress.fraction`` runs from 0 to 1."""
        return scans.status(scan_id)

    @app.get("/api/scans/{scan_id}/cases", tags=["cases"], summary="The cases harming a shop")
    def api_cases(
        scan_id: str,
        shop: Annotated[str | None, Query(description="default: every shop with cases")] = None,
        lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
    ) -> dict:
        """Per shop: its cases with kind, explanation, appeal text and cited reviews
        (order id, time in the export's zone, rating, text, reasons), as a packet files them."""
        view = scans.view(scan_id)
        if shop is not None and not view.has_shop(shop):
            raise HTTPException(404, "no such shop in this scan")
        shops = [shop] if shop else [s["shop_id"] for s in view.shops() if s["in_cases"]]
        out = {}
        for s in shops:
            sc = view.cases(s, lang)
            out[s] = {
                "cases": (sc.data or {}).get("cases", []),
                "summary": (sc.data or {}).get("summary"),
                "note": sc.note,
            }
        return {"id": scan_id, "timezone": view.timezone, "shops": out}

    @app.post(
        "/api/scans/{scan_id}/packets",
        tags=["packets"],
        summary="Build a shop's appeal packet; returns it as a zip",
        response_class=FileResponse,
        responses={200: {"content": {"application/zip": {}}}},
    )
    def api_packet(
        request: Request,
        scan_id: str,
        shop: Annotated[str, Form()],
        platform: Annotated[str, Form(description=", ".join(PLATFORMS))] = "generic",
        lang: Annotated[str, Form(description="zh or en")] = "zh",
    ):
        """409 when the shop has no case to file."""
        _check_api_post(request)
        name = build(scans, scan_id, shop, platform, lang)
        return zip_response(scans, scan_id, name)

    @app.get("/api/scans/{scan_id}/alerts", tags=["alerts"], summary="The monitor's alerts")
    def api_alerts(scan_id: str, shop: str | None = None) -> dict:
        view = scans.view(scan_id)
        return {"id": scan_id, "alerts": alerts_of(view, shop)}
