"""REST routes for operators: list the dead letters, and replay one once its cause is fixed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from . import dead_letters
from .auth.guard import require
from .auth.roles import Permission
from .auth.sessions import SignedIn
from .db import Database
from .ingest import DeadLetterReplayFailed, Ingest
from .limits import RowId


def dead_letter_router(db: Database, ingest: Ingest) -> APIRouter:
    """Routes under /api/ingest/dead-letters: reading needs ingest.read, replaying ingest.replay."""
    router = APIRouter(prefix="/api/ingest/dead-letters", tags=["ingest"])
    reader = Depends(require(Permission.READ_INGEST))
    replayer = Depends(require(Permission.REPLAY_INGEST))

    @router.get("", dependencies=[reader])
    def list_letters(
        pending: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> list[dict[str, Any]]:
        """The newest dead letters first, without their payloads."""
        with db.reading() as session:
            return dead_letters.list_dead_letters(session, pending, limit)

    @router.post("/{dead_letter_id}/replay")
    def replay(dead_letter_id: RowId, who: SignedIn = replayer) -> dict[str, Any]:
        """Ingest a dead letter again; 404 unknown, 409 not replayable or failed again."""
        actor = who.staff.username
        try:
            outcome = ingest.replay(dead_letter_id, actor)
        except dead_letters.UnknownDeadLetter as exc:
            raise HTTPException(404, str(exc)) from None
        except (dead_letters.DeadLetterError, DeadLetterReplayFailed) as exc:
            raise HTTPException(409, str(exc)) from None
        return {"id": dead_letter_id, "outcome": outcome, "replayed_by": actor}

    return router
