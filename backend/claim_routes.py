"""REST routes of case claims: who handles a case, claim, release, and a supervisor's assignment.

Claiming needs applications.act (clerks, supervisors); assigning needs applications.assign
(supervisors), who may also release anyone's claim. A review step on an unclaimed case claims
it by itself (backend/staff.py), so a script need not claim first. Every change of holder
leaves a StaffAction row naming who made it and the holder before (backend/claims.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from . import claims
from .auth.guard import allowed
from .auth.roles import Permission, permissions_of
from .db import Database
from .models import Application, utcnow
from .workflow import NotFound

ApplicationNo = Annotated[str, Path(min_length=1, max_length=64)]
Reader = allowed(Permission.READ_APPLICATIONS)
Clerk = allowed(Permission.ACT_ON_APPLICATIONS)
Assigner = allowed(Permission.ASSIGN_CASES)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")


def _view(holder: claims.Holder | None) -> dict[str, Any]:
    if holder is None:
        return {"holder": None}
    return {
        "holder": holder.username,
        "since": holder.claimed_at,
        "assigned_by": holder.assigned_by,
    }


def claim_router(db: Database) -> APIRouter:
    router = APIRouter(prefix="/api/applications", tags=["claims"])

    @router.get("/{application_no}/holder")
    def holder(application_no: ApplicationNo, _who: Reader) -> dict[str, Any]:
        """Who handles the case: `holder` null while nobody does."""
        with db.reading() as session:
            if session.get(Application, application_no) is None:
                raise NotFound(f"no application {application_no}")
            return _view(claims.holder(session, application_no))

    @router.post("/{application_no}/claim")
    def claim(application_no: ApplicationNo, who: Clerk) -> dict[str, Any]:
        """Take the case; 409 naming the holder if someone else has it."""
        with db.transaction() as session:
            return _view(claims.claim(session, application_no, who.staff.id, utcnow()))

    @router.post("/{application_no}/release")
    def release(application_no: ApplicationNo, who: Clerk) -> dict[str, Any]:
        """Give the case back: its holder, or a supervisor (403 for anyone else)."""
        supervisor = Permission.ASSIGN_CASES in permissions_of(list(who.staff.roles))
        try:
            with db.transaction() as session:
                claims.release(session, application_no, who.staff.id, supervisor, utcnow())
        except claims.NotHolder as exc:
            raise HTTPException(403, str(exc)) from None
        return {"holder": None}

    @router.post("/{application_no}/assign")
    def assign(application_no: ApplicationNo, body: AssignBody, who: Assigner) -> dict[str, Any]:
        """Give the case to an active person who may act on cases (422 for anyone else)."""
        try:
            with db.transaction() as session:
                held = claims.assign(session, application_no, body.username, who.staff.id, utcnow())
        except claims.CannotAssign as exc:
            raise HTTPException(422, str(exc)) from None
        return _view(held)

    return router
