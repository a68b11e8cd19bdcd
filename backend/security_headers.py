"""The security headers of every answer, in one place: one ASGI middleware and its table.

The console's pages and the JSON API are read in the same browser under the same session
cookie, so both answer `Cache-Control: no-store`: an audited full view of a case (name, ID
number, phone), a 401, a 404, a redirect alike never reaches the browser's disk cache or comes
back with the Back button after sign-out. Signing out also answers `Clear-Site-Data`, which
empties the origin's cache and web storage (htmx's history snapshots included).

Routes set none of these themselves; a new header or a new kind of answer goes in the tables
below. Paths the tables do not name (`/healthz`, `/metrics`, `/docs`) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Personal data, or an answer that may hold it: stored nowhere, sniffed as nothing else, and
# no address of ours sent on to another site.
_PRIVATE = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Everything comes from the backend itself: no script, style, font or frame from elsewhere.
CONSOLE_HEADERS = _PRIVATE | {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}

# JSON (and the odd file) for scripts and for a browser that opens it: nothing in it may run
# or load anything, nor be framed.
API_HEADERS = _PRIVATE | {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

# The console's own script, style and licences: the same bytes for everyone and no personal
# data, so a browser may keep them, but asks again (ETag, 304) before each use, so a release's
# new stylesheet or script is used at once. Sign-out's Clear-Site-Data empties them too.
STATIC_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}

# First match wins: a prefix names the path itself and everything under it.
BY_PATH: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("/console/static", STATIC_HEADERS),
    ("/console", CONSOLE_HEADERS),
    ("/api", API_HEADERS),
)

# Signing out, in the console and in the API: the browser drops what it kept of the origin (the
# session cookie itself is deleted by the route). Sent whatever the answer, as the person meant
# to leave; clearing twice, or for someone already signed out, does no harm.
SIGN_OUT_HEADERS = {"Clear-Site-Data": '"cache", "storage"'}
SIGN_OUTS = frozenset({("POST", "/console/logout"), ("DELETE", "/api/session")})

# Reached over https (directly, or through a proxy the settings trust, `backend.front`): the
# browser uses nothing but https for the host for a year, so no later visit starts in the
# clear, where a network in between could strip TLS and read the session cookie.
HTTPS_HEADERS = {"Strict-Transport-Security": "max-age=31536000"}


def headers_for(method: str, path: str, scheme: str = "http") -> dict[str, str]:
    """The headers an answer to `method path` carries (empty: a path the tables do not name)."""
    out: dict[str, str] = {}
    for prefix, headers in BY_PATH:
        if path == prefix or path.startswith(prefix + "/"):
            out |= headers
            break
    if out and scheme == "https":
        out |= HTTPS_HEADERS
    if (method, path.rstrip("/") or "/") in SIGN_OUTS:
        out |= SIGN_OUT_HEADERS
    return out


class SecurityHeaders:
    """ASGI middleware: the table's headers on every answer, replacing any a route set; an
    unhandled error's 500 included (it is sent from here, so it carries them too)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["method"], scope["path"], scope.get("scheme", "http"))
        if not extra:
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's outermost middleware would answer the 500 past this one; answer it
            # here (it sees the answer started and only re-raises, for the log). An
            # `Exception` handler on the app, were one added, would not be called for these
            # paths: this plain 500 answers instead.
            if not started:
                error = PlainTextResponse("Internal Server Error", status_code=500)
                await error(scope, receive, send_with_headers)
            raise


def install(app: FastAPI) -> None:
    """Set the table's headers on every answer of `app` (add it last: outermost, it also sees
    the answers of the middleware added before it, like the body limit's 413)."""
    app.add_middleware(SecurityHeaders)
