"""The ``serve`` subcommand: argparse setup and the command (imports FastAPI only when run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.argtypes import positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``serve`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "serve",
        help="run the local web app (upload exports, dashboards, appeal packets)",
        description=(
            "A local web app for merchants and a JSON API under /api/ (documented at /api/docs). "
            "It listens on 127.0.0.1; with any other --host it requires a token (--token, or "
            "one generated and printed at start). Needs the web extra: "
            "pip install 'review-detector[web]'."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument(
        "--data",
        default="review-detector-data",
        help="folder for uploads, scans and packets (default ./review-detector-data); put "
        "folders of exports under DATA/exports/ to scan them from the page",
    )
    p.add_argument(
        "--scan",
        action="append",
        default=[],
        metavar="SCAN_DIR",
        help="also show this finished scan directory (from `review-detector scan` or the "
        "demo); repeatable. A DATA holding the demo's scan/ is shown without it",
    )
    p.add_argument(
        "--token",
        help="access token required on every request (default: none on "
        "127.0.0.1, a generated one on any other host)",
    )
    p.add_argument(
        "--max-upload-mb", type=positive_int, default=200, help="largest upload in MB (default 200)"
    )
    return p


def run(args) -> int:
    """Start the server; returns the exit code (2 when the web extra is missing)."""
    try:
        import uvicorn

        from detector.webapp.app import Settings, asgi
    except ImportError as exc:
        print(
            f"error: serve needs the web extra ({exc.name} is missing): "
            "pip install 'review-detector[web]'",
            file=sys.stderr,
        )
        return 2
    from detector.webapp.security import is_loopback, new_secret

    loopback = is_loopback(args.host)
    token = args.token or (None if loopback else new_secret())
    settings = Settings(
        data=Path(args.data),
        token=token,
        loopback_only=loopback,
        max_upload_mb=args.max_upload_mb,
        imports=[Path(s) for s in args.scan],
    )
    app = asgi(settings)
    shown = "127.0.0.1" if loopback and args.host in ("localhost", "::1") else args.host
    url = f"http://{shown}:{args.port}/"
    if token:
        url += f"?token={token}"
    print(f"review-detector: serving {Path(args.data).resolve()} at {url}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
