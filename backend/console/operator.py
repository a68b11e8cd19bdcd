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
from ..commands import listing
from ..models import Terminal
from ..operator_commands import (
    KINDS,
    SERVICE_KINDS,
    CommandRefused,
    OperatorCommands,
    UnknownTerminal,
)
from .fleet import command_rows

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

    with _service(request).db.reading() as session:
        known = session.get(Terminal, terminal_id) is not None
        rows = command_rows(listing(session, terminal_id, limit=100)) if known else []
    done = "fleet.commands.sent" if request.query_params.get("done") == "sent" else None
    return render(
        request,
        "fleet_commands.html",
        status_code if known else 404,
        terminal_id=terminal_id if known else None,
        rows=rows,
        kinds=[k for k, cls in KINDS.items() if cls not in SERVICE_KINDS],
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
    service_reason: Annotated[str, Form(max_length=32)] = "",
    hold: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Send one command; out of service and back (the terminal page's forms) also carry the
    reason from the fixed list and, for out of service, the hold."""
    if not TERMINAL_ID.fullmatch(terminal_id):
        return _page(request, "-", 404)
    if not reason.strip():
        return _page(request, terminal_id, 422, error=("fleet.commands.error.reason", {}))
    service = _service(request)
    try:
        OperatorCommands(service.db, service).issue(
            terminal_id,
            command,
            who.staff.username,
            reason.strip(),
            compartment_id.strip() or None,
            service_reason=service_reason or None,
            hold=hold or None,
        )
    except UnknownTerminal:
        return _page(request, terminal_id, 404)
    except CommandRefused as exc:
        return _page(
            request, terminal_id, 422, error=("fleet.commands.error.refused", {"why": str(exc)})
        )
    return RedirectResponse(f"/console/fleet/terminals/{terminal_id}/commands?done=sent", 303)
