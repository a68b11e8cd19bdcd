"""Request limits of the REST API: a bounded body, and validation errors that never fail to send."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, StringConstraints
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth.guard import refuse_stranger

log = logging.getLogger(__name__)

# Every body the API takes is a small JSON or form: a review note is at most 500 characters.
MAX_BODY_BYTES = 1024 * 1024


def _said(value: str) -> str:
    """Trimmed as Python trims: pydantic's own trimming keeps the separators "\x1c"-"\x1f",
    which `str.strip` (and so every "say why" check behind the API) counts as white space."""
    value = value.strip()
    if not value:
        raise ValueError("say why: something besides white space")
    return value


# A reason the API requires (kept with a command, a rollback, an alarm's clearing): something
# besides white space, kept trimmed. "\r" alone is no reason: 422, not a trail that says nothing.
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_said)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_said)]

# Row numbers in addresses (rollouts, dead letters, materials, catalog versions): their columns
# are 32-bit INTEGERs, so a larger number names no row. It is refused before the database, which
# fails on it (PostgreSQL past 32 bits, SQLite past 64): a 500 instead of a 404 or 422.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def console_not_found(request: Request) -> Response | None:
    """The console's "not found" page when the request is a console page's (set by
    `backend.console.install`); None for the API, or with no console."""
    page = getattr(request.app.state, "console_not_found", None)
    return page(request) if page is not None else None


class BodyTooLarge(HTTPException):
    """The request body passed the limit while it was being read."""

    # An HTTPException: FastAPI's body parsing passes those on, and turns any other into a 400.

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body over {max_bytes} bytes", {"Connection": "close"})


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by Content-Length or as it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send, declared)
            return
        seen = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send, seen)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        log.warning("refused a body of %d+ bytes on %s", size, scope.get("path", "?")[:200])
        response = JSONResponse(
            {"detail": f"request body over {self.max_bytes} bytes"},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, _drain_nothing, send)


async def _drain_nothing() -> Message:
    return {"type": "http.disconnect"}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the offending input: it may be infinite, huge or personal."""
    out = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("type", "loc", "msg")}
        item["loc"] = [p if isinstance(p, int | str) else str(p) for p in item.get("loc", ())]
        out.append(item)
    return out


async def _validation_failed(request: Request, exc: RequestValidationError) -> Response:
    refusal = await refuse_stranger(request)  # a stranger hears "sign in first", not the schema
    if refusal is not None:
        return refusal
    if (page := console_not_found(request)) is not None:
        return page  # a person at the console, not a program: a page, not the schema's errors
    # FastAPI's own handler echoes the input; `1e999` there is infinity, which JSON cannot
    # carry, so the 422 itself raised and the client got a 500 and a dropped connection.
    return JSONResponse({"detail": _safe_errors(exc.errors())}, status_code=422)


def install(app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Bound every request body and make validation errors safe to send."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_failed)
