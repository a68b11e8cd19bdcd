"""REST routes of the fleet: terminals with their presence, alarms and their life.

Reading needs fleet.read (operators, supervisors, admins); acknowledging and clearing an alarm
needs alarms.act, which only operators hold. Every step is written to the alarm's trail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.contract.messages import MAX_OPERATION_ID, OPERATION_ID_PATTERN, TerminalId

from .alarms import AlarmAlreadyCleared, AlarmNotFound, Alarms, alarm_trail, alarm_view, list_alarms
from .auth.guard import require
from .auth.roles import Permission
from .auth.sessions import SignedIn
from .db import Database
from .fleet import list_terminals
from .limits import Note
from .models import Terminal, utcnow
from .presence import PresenceSettings, offline_time, presence_history

# The contract's operation id, `#` included: a terminal's alarm id may hold one, and an alarm
# nobody can address could never be acknowledged or cleared. A URL carries it as %23.
OperationId = Annotated[
    str, Path(min_length=1, max_length=MAX_OPERATION_ID, pattern=OPERATION_ID_PATTERN)
]
TerminalPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class ClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = Field(description="why it is cleared")


def fleet_router(db: Database, alarms: Alarms, presence: PresenceSettings) -> APIRouter:
    router = APIRouter(tags=["fleet"])
    reader = Depends(require(Permission.READ_FLEET))
    actor = Depends(require(Permission.ACT_ON_ALARMS))

    @router.get("/api/terminals", dependencies=[reader])
    def terminals() -> list[dict[str, Any]]:
        """Every terminal: online, degraded, offline or unknown, and why; live alarms."""
        with db.reading() as session:
            return list_terminals(session, utcnow(), presence)

    @router.get("/api/terminals/{terminal_id}/presence", dependencies=[reader])
    def terminal_presence(
        terminal_id: TerminalPath, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        """A terminal's presence transitions, newest first, and its time offline (in seconds)
        in the last 24 hours and 7 days, from the kept history."""
        now = utcnow()
        with db.reading() as session:
            if session.get(Terminal, terminal_id) is None:
                raise HTTPException(404, f"no terminal {terminal_id}")
            rows = presence_history(session, terminal_id, limit)
            offline = {
                f"offline_s_{label}": offline_time(session, terminal_id, now, span).total_seconds()
                for label, span in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)))
            }
        return {"terminal_id": terminal_id, "transitions": rows} | offline

    @router.get("/api/alarms", dependencies=[reader])
    def alarms_list(
        state: Literal["live", "open", "acknowledged", "cleared"] | None = None,
        terminal_id: TerminalId | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 200,
    ) -> list[dict[str, Any]]:
        with db.reading() as session:
            return list_alarms(session, state, terminal_id, limit)

    @router.get("/api/alarms/{terminal_id}/{operation_id}", dependencies=[reader])
    def alarm(terminal_id: TerminalPath, operation_id: OperationId) -> dict[str, Any]:
        """One alarm and its trail: who raised, acknowledged and cleared it, and when."""
        with db.reading() as session:
            try:
                trail = alarm_trail(session, terminal_id, operation_id)
            except AlarmNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            row = alarms.get(session, terminal_id, operation_id)
            return alarm_view(row) | {"trail": trail}

    def _act(step: str, terminal_id: str, operation_id: str, who: SignedIn, note: str):
        with db.transaction() as session:
            try:
                do = alarms.acknowledge if step == "acknowledge" else alarms.clear
                row = do(session, terminal_id, operation_id, who.staff.username, note, utcnow())
                return alarm_view(row)
            except AlarmNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except AlarmAlreadyCleared as exc:
                raise HTTPException(409, str(exc)) from None

    @router.post("/api/alarms/{terminal_id}/{operation_id}/acknowledge")
    def acknowledge(
        terminal_id: TerminalPath,
        operation_id: OperationId,
        body: AcknowledgeBody | None = None,
        who: SignedIn = actor,
    ) -> dict[str, Any]:
        """Say you are on it: the alarm stays until cleared; 409 once cleared."""
        return _act("acknowledge", terminal_id, operation_id, who, (body or AcknowledgeBody()).note)

    @router.post("/api/alarms/{terminal_id}/{operation_id}/clear")
    def clear(
        terminal_id: TerminalPath, operation_id: OperationId, body: ClearBody, who: SignedIn = actor
    ) -> dict[str, Any]:
        """Close the alarm with the reason; 409 if it was cleared already."""
        return _act("clear", terminal_id, operation_id, who, body.note)

    return router
