"""REST routes for operators: list the dead letters, and replay one once its cause is fixed."""

# No `from __future__ import annotations`: FastAPI must see the closure's Depends(reader).
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from . import dead_letters
from .db import Database
from .ingest import DeadLetterReplayFailed, Ingest

# Each dependency answers who is asking (for the audit), or refuses the request itself.
Actor = Callable[..., str]


def dead_letter_router(
    db: Database, ingest: Ingest, *, reader: Actor, replayer: Actor
) -> APIRouter:
    """Routes under /api/ingest/dead-letters; `reader` and `replayer` authorise each call."""
    router = APIRouter(prefix="/api/ingest/dead-letters", tags=["ingest"])

    @router.get("")
    def list_letters(
        _who: Annotated[str, Depends(reader)],
        pending: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        """The newest dead letters first, without their payloads."""
        with db.transaction() as session:
            return dead_letters.list_dead_letters(session, pending, limit)

    @router.post("/{dead_letter_id}/replay")
    def replay(
        dead_letter_id: Annotated[int, Path(ge=1, le=2**62)],
        who: Annotated[str, Depends(replayer)],
    ) -> dict[str, Any]:
        """Ingest a dead letter again; 404 unknown, 409 not replayable or failed again."""
        try:
            outcome = ingest.replay(dead_letter_id, who)
        except dead_letters.UnknownDeadLetter as exc:
            raise HTTPException(404, str(exc)) from None
        except (dead_letters.DeadLetterError, DeadLetterReplayFailed) as exc:
            raise HTTPException(409, str(exc)) from None
        return {"id": dead_letter_id, "outcome": outcome, "replayed_by": who}

    return router
