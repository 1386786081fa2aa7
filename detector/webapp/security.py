"""Safe defaults of the web app: an access token off localhost, CSRF, strict headers, upload size.

* **Token.** When the server listens on anything but a loopback address it
  needs a token (``--token`` or one generated and printed at start). Every
  request must carry it: ``Authorization: Bearer T``, a ``token`` query
  parameter (the link printed at start; it is then kept in an HttpOnly
  cookie) or that cookie. Compared in constant time.
* **Host.** On loopback only ``Host: 127.0.0.1 / localhost / [::1]`` is
  served, so a web page cannot reach the app through DNS rebinding.
* **CSRF.** Every form POST carries a ``csrf`` field equal to the
  ``rd_csrf`` cookie (double submit, SameSite=Strict, compared in constant
  time). API POSTs need an ``Authorization`` or ``X-Requested-With`` header,
  which a cross-site form cannot send.
* **Headers.** A Content-Security-Policy without scripts, no framing, no
  referrer, no MIME sniffing.
* **Size.** Request bodies above the upload limit are refused with 413 while
  they stream in, before anything is stored.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import parse_qs

TOKEN_COOKIE = "rd_token"
CSRF_COOKIE = "rd_csrf"
CSRF_FIELD = "csrf"
#: Pages and the API: no script, styles and images from this server only.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
#: A packet's own page (self-contained: inline styles, data: images), sandboxed.
PACKET_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two secrets (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    out = {}
    for part in headers.get("cookie", "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


async def _send_plain(send, status: int, text: str, extra: list | None = None) -> None:
    body = text.encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", CSP.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _hostname(host: str) -> str:
    """``host`` of a Host header without its port (``[::1]:8000`` -> ``[::1]``)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


def _secured(headers: list, set_cookie: bytes | None) -> list:
    """Response headers plus the security headers (a route's own CSP is kept)."""
    hs = list(headers)
    if b"content-security-policy" not in {k.lower() for k, _ in hs}:
        hs.append((b"content-security-policy", CSP.encode()))
    hs += [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if set_cookie:
        hs.append((b"set-cookie", set_cookie))
    return hs


class BodyTooLarge(Exception):
    """The request body passed the upload limit."""


class Guard:
    """ASGI middleware: host check, token, security headers, body size limit.

    Parameters
    ----------
    app : ASGI app
    token : str or None
        Required on every request when set.
    loopback_only : bool
        Serve only loopback ``Host`` headers.
    max_body : int
        Largest request body in bytes.
    """

    def __init__(self, app, token: str | None, loopback_only: bool, max_body: int):
        self.app, self.token, self.loopback_only, self.max_body = (
            app,
            token,
            loopback_only,
            max_body,
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        host = _hostname(headers.get("host", ""))
        if self.loopback_only and host not in LOOPBACK_NAMES:
            return await _send_plain(send, 421, "this server answers on 127.0.0.1 / localhost only")
        given, from_link = self._given_token(scope, headers)
        if self.token is not None and not same(given, self.token):
            return await _send_plain(
                send,
                401,
                "a token is required: open the link the server printed at start, or send "
                "'Authorization: Bearer TOKEN'",
                [(b"www-authenticate", b"Bearer")],
            )
        set_cookie = (
            f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()
            if self.token is not None and from_link
            else None
        )
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            return await _send_plain(send, 413, self._too_large())

        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        async def secured_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": _secured(message.get("headers", []), set_cookie)}
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except BodyTooLarge:
            if not started:
                await _send_plain(send, 413, self._too_large())

    @staticmethod
    def _given_token(scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        """The token a request carries (bearer header, ``?token=`` link, cookie) and
        whether it came from the link."""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        link = (query.get("token") or [None])[0]
        if link:
            return link, True
        return _cookies(headers).get(TOKEN_COOKIE), False

    def _too_large(self) -> str:
        return (
            f"the upload is larger than the server's limit of {self.max_body // 2**20} MB "
            "(start it with a larger --max-upload-mb, or point it at a folder under --data)"
        )
