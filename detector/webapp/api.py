"""The JSON API under ``/api/`` (documented at ``/api/docs`` and ``/openapi.json``).

POSTs need an ``X-Requested-With`` header or a bearer token: a cross-site form
can send neither, so no other web page can start scans or build packets.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse

from detector.errors import InputError
from detector.evidence.platforms import PLATFORMS
from detector.monitor import RulesError
from detector.webapp.rules import MAX_RULES_BYTES, describe
from detector.webapp.scans import DEFAULT_TIMEZONE, Scans, alerts_of, build, zip_response


def _check_api_post(request: Request) -> None:
    """An API POST must carry a header a cross-site form cannot send."""
    if not (request.headers.get("authorization") or request.headers.get("x-requested-with")):
        raise HTTPException(
            403,
            "API POSTs need an 'X-Requested-With' header (or 'Authorization: Bearer TOKEN')",
        )


def register(app: FastAPI, scans: Scans) -> None:
    """Add the API to ``app``."""
    _scans_api(app, scans)
    _results_api(app, scans)
    _rules_api(app, scans)


def _scans_api(app: FastAPI, scans: Scans) -> None:
    """Scans: upload one, list them, read one's state, delete one."""

    @app.post("/api/scans", tags=["scans"], summary="Upload an export and start its scan")
    async def api_create(
        request: Request,
        file: Annotated[UploadFile, File(description="a .csv, .xlsx or .parquet export")],
        orders: Annotated[
            UploadFile | None, File(description="the shop's order export, joined on order id")
        ] = None,
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
            options = scans.options(preset, columns, shop, timezone)
            scan_id = await scans.from_upload(file, options, orders)
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

    @app.delete("/api/scans/{scan_id}", tags=["scans"], summary="Delete a finished scan")
    def api_delete(request: Request, scan_id: str) -> dict:
        """Removes the scan's upload, outputs, packets and status (an imported scan's own
        directory stays where it is). 409 while it is queued or running."""
        _check_api_post(request)
        return scans.delete(scan_id)


def _results_api(app: FastAPI, scans: Scans) -> None:
    """A finished scan's cases, packets and alerts."""

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
        """Under the rules chosen (``GET /api/rules``)."""
        view = scans.view(scan_id)
        return {"id": scan_id, "alerts": alerts_of(scans, view, shop)}


def rules_record(scans: Scans) -> dict:
    """The rules choice and the rules in effect."""
    _, rules = scans.rules.rules()
    return {**scans.rules.info(), "rules": describe(rules)}


def _rules_api(app: FastAPI, scans: Scans) -> None:
    """The alert rules the dashboards and ``/alerts`` use: read, choose, reset."""

    @app.get("/api/rules", tags=["alerts"], summary="The alert rules in effect")
    def api_rules() -> dict:
        """``file`` is the chosen rules file's name (null: the default rules)."""
        return rules_record(scans)

    @app.post(
        "/api/rules", tags=["alerts"], summary="Choose a rules file (TOML, as monitor --rules)"
    )
    async def api_choose_rules(
        request: Request,
        file: Annotated[UploadFile, File(description="a TOML rules file")],
    ) -> dict:
        """422 with the rule and key at fault for a file that cannot be used (nothing kept)."""
        _check_api_post(request)
        try:
            scans.rules.choose(await file.read(MAX_RULES_BYTES + 1), file.filename)
        except RulesError as exc:
            raise HTTPException(422, str(exc)) from None
        return rules_record(scans)

    @app.delete("/api/rules", tags=["alerts"], summary="Back to the default rules")
    def api_reset_rules(request: Request) -> dict:
        _check_api_post(request)
        scans.rules.reset()
        return rules_record(scans)
