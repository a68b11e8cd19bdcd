"""REST routes of operators' commands to one terminal (terminals.command: operators only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.contract import messages as m

from .auth.guard import require
from .auth.roles import Permission
from .auth.sessions import SignedIn
from .commands import listing
from .db import Database
from .limits import Reason
from .operator_commands import CommandRefused, OperatorCommands, UnknownTerminal

TerminalPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: Literal[
        "open_compartment",
        "restart_kiosk",
        "resync_state",
        "fetch_diagnostics",
        "out_of_service",
        "back_in_service",
    ]
    reason: Reason = Field(description="why; kept with the command")
    compartment_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,16}$")
    # Out of service and back: why, from the fixed list (the reason above is its note); and,
    # for out of service, whether a result inside can still be picked up (closed) or not.
    service_reason: m.ServiceReason | None = None
    hold: m.ServiceHold | None = None


def operator_router(db: Database, ops: OperatorCommands) -> APIRouter:
    router = APIRouter(tags=["fleet"])
    reader = Depends(require(Permission.READ_FLEET))
    commander = Depends(require(Permission.COMMAND_TERMINALS))

    @router.post("/api/fleet/terminals/{terminal_id}/commands", status_code=202)
    def send(terminal_id: TerminalPath, body: CommandBody, who: SignedIn = commander) -> dict:
        """Send one command; its state follows in GET .../commands."""
        try:
            cmd = ops.issue(
                terminal_id,
                body.command,
                who.staff.username,
                body.reason,
                body.compartment_id,
                service_reason=body.service_reason,
                hold=body.hold,
            )
        except UnknownTerminal:
            raise HTTPException(404, f"no terminal {terminal_id}") from None
        except CommandRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"command_id": cmd.message_id, "expires_at": cmd.expires_at.isoformat()}

    @router.get("/api/fleet/terminals/{terminal_id}/commands", dependencies=[reader])
    def history(terminal_id: TerminalPath) -> list[dict[str, Any]]:
        with db.reading() as session:
            return listing(session, terminal_id, limit=100)

    return router
