"""An operator's commands to one terminal in the console: what was sent, by whom, the answer,
and a form to send one (open a compartment, restart the kiosk, resync, diagnostics).

Reading needs `fleet.read`; sending posts a form with the session's CSRF token and needs
`terminals.command` (operators only). The rows are those of GET /api/fleet/terminals/{id}/commands.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth.guard import allowed
from ..auth.roles import Permission
from ..models import Terminal
from ..operator_commands import KINDS, CommandRefused, OperatorCommands, UnknownTerminal
from ..operator_commands import terminal_commands as rows_of
from .fleet import _local

if TYPE_CHECKING:
    from ..service import BackendService

Reader = allowed(Permission.READ_FLEET)
Commander = allowed(Permission.COMMAND_TERMINALS)
TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

router = APIRouter(prefix="/console/fleet/terminals", include_in_schema=False)


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


def _page(request: Request, terminal_id: str, status_code: int = 200, **extra: Any) -> Response:
    from .pages import render

    with _service(request).db.transaction() as session:
        known = session.get(Terminal, terminal_id) is not None
        rows = rows_of(session, terminal_id) if known else []
    for r in rows:
        r["kind"] = r["type"].removeprefix("command.")
        r["created_local"] = _local(r["created_at"])
        r["acked_local"] = _local(r["acked_at"])
        r["result_text"] = ", ".join(f"{k}: {v}" for k, v in r["result"].items())
    done = "fleet.commands.sent" if request.query_params.get("done") == "sent" else None
    return render(
        request,
        "fleet_commands.html",
        status_code if known else 404,
        terminal_id=terminal_id if known else None,
        rows=rows,
        kinds=list(KINDS),
        **({"done": done, "error": None} | extra),
    )


@router.get("/{terminal_id}/commands")
def commands(request: Request, terminal_id: str, _who: Reader) -> Response:
    if not TERMINAL_ID.fullmatch(terminal_id):
        return _page(request, "-", 404)
    return _page(request, terminal_id)


@router.post("/{terminal_id}/commands")
def send(
    request: Request,
    terminal_id: str,
    who: Commander,
    command: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=200)] = "",
    compartment_id: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    if not TERMINAL_ID.fullmatch(terminal_id):
        return _page(request, "-", 404)
    if not reason.strip():
        return _page(request, terminal_id, 422, error=("fleet.commands.error.reason", {}))
    service = _service(request)
    try:
        OperatorCommands(service.db, service).issue(
            terminal_id, command, who.staff.username, reason.strip(), compartment_id or None
        )
    except UnknownTerminal:
        return _page(request, terminal_id, 404)
    except CommandRefused as exc:
        return _page(
            request, terminal_id, 422, error=("fleet.commands.error.refused", {"why": str(exc)})
        )
    return RedirectResponse(f"/console/fleet/terminals/{terminal_id}/commands?done=sent", 303)
