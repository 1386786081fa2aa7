"""The server-rendered pages (Jinja2, autoescaped; no script on any page).

Every form POST is checked against its CSRF token (:mod:`detector.webapp.security`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from detector import __version__
from detector.errors import InputError
from detector.evidence.platforms import PLATFORMS
from detector.monitor import RulesError
from detector.webapp import i18n
from detector.webapp.rules import MAX_RULES_BYTES, describe
from detector.webapp.scans import (
    DEFAULT_TIMEZONE,
    PRESETS,
    Scans,
    alerts_of,
    build,
    packet_of,
    zip_response,
)
from detector.webapp.security import CSRF_COOKIE, CSRF_FIELD, PACKET_CSP, new_secret, same

HERE = Path(__file__).parent
LANG_COOKIE = "rd_lang"
#: The appeal form a packet is first offered for, by the export's layout.
PLATFORM_OF_PRESET = {
    "taobao": "taobao",
    "tmall": "taobao",
    "jd": "jd",
    "pdd": "pdd",
    "douyin": "douyin",
}


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


def _with_query(path: str, **params) -> str:
    q = {k: v for k, v in params.items() if v is not None}
    return path + ("?" + urlencode(q) if q else "")


class Pages:
    """Renders templates with the language, the CSRF token and the URL helpers."""

    def __init__(self, settings):
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


def register(app: FastAPI, scans: Scans, pages: Pages) -> None:
    """Add the pages to ``app``."""
    _start_pages(app, scans, pages)
    _delete_page(app, scans)
    _scan_pages(app, scans, pages)
    _packet_pages(app, scans, pages)
    _download_pages(app, scans, pages)
    _rules_pages(app, scans, pages)


def _start_pages(app: FastAPI, scans: Scans, pages: Pages) -> None:
    """The start page: the scans, the upload and folder forms."""

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
        orders: Annotated[UploadFile | None, File()] = None,
        csrf: Annotated[str, Form()] = "",
        preset: Annotated[str, Form()] = "",
        columns: Annotated[str, Form()] = "",
        shop: Annotated[str, Form()] = "",
        timezone: Annotated[str, Form()] = DEFAULT_TIMEZONE,
    ):
        _check_csrf(request, csrf)
        try:
            options = scans.options(preset, columns, shop, timezone)
            scan_id = await scans.from_upload(file, options, orders)
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

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request):
        return pages.render(request, "apidocs.html.j2", spec=app.openapi())


def _delete_page(app: FastAPI, scans: Scans) -> None:
    """Deleting a finished or failed scan (the start page's and the scan pages' button)."""

    @app.post("/scans/{scan_id}/delete", include_in_schema=False)
    def delete(request: Request, scan_id: str, csrf: Annotated[str, Form()] = ""):
        _check_csrf(request, csrf)
        scans.delete(scan_id)
        return RedirectResponse("/", 303)


def _scan_pages(app: FastAPI, scans: Scans, pages: Pages) -> None:
    """A scan: its progress or error, then the shop dashboard and the case pages."""

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
            alerts=alerts_of(scans, view, shop),
            rules_file=scans.rules.info()["file"],
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


def _packet_pages(app: FastAPI, scans: Scans, pages: Pages) -> None:
    """Building a packet and showing it: its page, cards, own HTML and zip."""

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


def _download_pages(app: FastAPI, scans: Scans, pages: Pages) -> None:
    """CSV downloads: the cited reviews of a shop, the rows the scan rejected."""

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


def _rules_pages(app: FastAPI, scans: Scans, pages: Pages) -> None:
    """Choosing the alert rules: the rules in effect, a rules file to upload, the defaults."""

    def show(request: Request, error: str | None = None, code: int = 200):
        _, rules = scans.rules.rules()
        return pages.render(
            request,
            "rules.html.j2",
            code,
            choice=scans.rules.info(),
            rules=describe(rules),
            error=error,
        )

    @app.get("/rules", response_class=HTMLResponse, include_in_schema=False)
    def rules_page(request: Request):
        return show(request)

    @app.post("/rules", include_in_schema=False)
    async def choose_rules(
        request: Request, file: Annotated[UploadFile, File()], csrf: Annotated[str, Form()] = ""
    ):
        _check_csrf(request, csrf)
        try:
            scans.rules.choose(await file.read(MAX_RULES_BYTES + 1), file.filename)
        except RulesError as exc:
            return show(request, str(exc), 422)
        return RedirectResponse("/rules", 303)

    @app.post("/rules/reset", include_in_schema=False)
    def reset_rules(request: Request, csrf: Annotated[str, Form()] = ""):
        _check_csrf(request, csrf)
        scans.rules.reset()
        return RedirectResponse("/rules", 303)
