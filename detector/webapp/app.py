"""The FastAPI application: server-rendered pages for a merchant, a JSON API for a team.

Build it with :func:`create_app` (or :func:`asgi`, the app behind its guard);
``review-detector serve`` runs it with uvicorn (:mod:`detector.webapp.command`).
Pages are in :mod:`detector.webapp.pages`, the API in :mod:`detector.webapp.api`,
both over :class:`detector.webapp.scans.Scans`; security is described in
:mod:`detector.webapp.security`, the data folder in :mod:`detector.webapp.store`.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from detector import __version__
from detector.webapp import api, pages
from detector.webapp.scans import Scans, Settings
from detector.webapp.security import BodyTooLarge, Guard

__all__ = ["Settings", "asgi", "create_app"]


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
    app.state.scans = scans
    app.mount("/static", StaticFiles(directory=str(pages.HERE / "static")), name="static")

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge):
        return Response(
            f"the upload is larger than {settings.max_upload_mb} MB", 413, media_type="text/plain"
        )

    pages.register(app, scans, pages.Pages(settings))
    api.register(app, scans)
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
