"""Staff at the terminals: one-time sign-in codes, and which originals wait in which compartment.

`POST /api/staff/terminal-code` (JSON) and the console page `/console/terminal-staff` both
issue a code to the signed-in person, whose roles must grant `terminal.service`; the code is
shown once and only its keyed digest is kept.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cloud_bridge.contract.messages import SERVICE_TZ

from ..auth.guard import allowed
from ..auth.roles import Permission
from ..models import Terminal
from ..terminal_service import originals_waiting, recently_collected
from ..terminal_sign_in import CodeRefused, IssuedCode
from .times import local_text

if TYPE_CHECKING:
    from ..service import BackendService

TerminalService = allowed(Permission.TERMINAL_SERVICE)
Reader = allowed(Permission.READ_APPLICATIONS)
TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

api_router = APIRouter(prefix="/api/staff", tags=["staff"])
console_router = APIRouter(prefix="/console", include_in_schema=False)


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terminal_id: str | None = Field(default=None, pattern=TERMINAL_ID.pattern)


class CodeIssued(BaseModel):
    code: str
    expires_at: datetime
    terminal_id: str | None


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


def _issue(request: Request, staff_id: int, terminal_id: str | None) -> IssuedCode:
    service = _service(request)
    with service.db.transaction() as session:
        return service.ingest.sign_ins.issue(session, staff_id, terminal_id)


@api_router.post("/terminal-code", status_code=201)
def issue_code(request: Request, body: CodeRequest, who: TerminalService) -> CodeIssued:
    """A one-time code to sign in at a terminal (8 digits, a few minutes, single use)."""
    try:
        issued = _issue(request, who.staff.id, body.terminal_id)
    except CodeRefused as exc:
        if str(exc) == "terminal":
            raise HTTPException(404, f"no terminal {body.terminal_id}") from None
        raise HTTPException(403, "this account may not sign in at terminals") from None
    return CodeIssued(
        code=issued.code, expires_at=issued.expires_at, terminal_id=issued.terminal_id
    )


def _page(request: Request, status_code: int = 200, **extra: Any) -> Response:
    from .pages import render

    service = _service(request)
    with service.db.reading() as session:
        terminals = list(session.scalars(select(Terminal.id).order_by(Terminal.id)))
        waiting = originals_waiting(session)
        collected = recently_collected(session, limit=20)
    for row in waiting:
        row["deposited_local"] = _local(row["deposited_at"])
    for row in collected:
        row["collected_local"] = _local(row["collected_at"])
    return render(
        request,
        "terminal_staff.html",
        status_code,
        terminals=terminals,
        waiting=waiting,
        collected=collected,
        **({"issued": None, "error": None} | extra),
    )


def _local(at: datetime | None) -> str:
    return local_text(at, "%Y-%m-%d %H:%M")


@console_router.get("/terminal-staff")
def terminal_staff(request: Request, _who: Reader) -> Response:
    """Originals waiting per terminal and compartment; the code form for those who may use it."""
    return _page(request)


@console_router.post("/terminal-staff/code")
def terminal_staff_code(
    request: Request,
    who: TerminalService,
    terminal_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if terminal_id and not TERMINAL_ID.fullmatch(terminal_id):
        return _page(request, 422, error="terminal_staff.no_terminal")
    try:
        issued = _issue(request, who.staff.id, terminal_id or None)
    except CodeRefused as exc:
        key = "terminal_staff.no_terminal" if str(exc) == "terminal" else "terminal_staff.refused"
        return _page(request, 404 if str(exc) == "terminal" else 403, error=key)
    return _page(
        request,
        issued={
            "code": f"{issued.code[:4]} {issued.code[4:]}",
            "until": issued.expires_at.astimezone(SERVICE_TZ).strftime("%H:%M"),
            "terminal_id": issued.terminal_id,
        },
    )
