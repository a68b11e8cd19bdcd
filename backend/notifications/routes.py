"""Staff routes over the notification outbox: masked listings and what needs a person."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.params import Depends
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db import Database
from ..models import utcnow
from .models import NotificationRow
from .models import NotificationState as S
from .outbox import listing, masked

StateName = Literal[
    "queued", "sending", "accepted", "delivered", "undelivered", "dead", "superseded"
]
OVERDUE_AFTER = timedelta(minutes=15)


def notification_routes(
    db: Database, guard: Sequence[Depends] = (), follow_up_guard: Sequence[Depends] = ()
) -> APIRouter:
    """GET /api/notifications behind `guard`; /api/notifications/attention, the list of
    citizens to call, behind `follow_up_guard` (clerks and supervisors follow it up)."""
    router = APIRouter()

    @router.get("/api/notifications", dependencies=list(guard))
    def notifications(
        application_no: str | None = Query(default=None, max_length=64),
        state: StateName | None = None,
        limit: int = Query(default=200, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """SMS to applicants, newest first: phone masked, pickup codes starred."""
        with db.transaction() as session:
            return listing(
                session,
                application_no=application_no,
                states=(state,) if state else None,
                limit=limit,
            )

    @router.get("/api/notifications/attention", dependencies=list(follow_up_guard))
    def attention() -> list[dict[str, Any]]:
        """Messages a person must follow up: given up, undelivered, or waiting too long."""
        with db.transaction() as session:
            return needs_attention(session)

    return router


def needs_attention(session: Session) -> list[dict[str, Any]]:
    """SMS that did not reach the citizen, or not in time: staff call them instead (masked)."""
    overdue = utcnow() - OVERDUE_AFTER
    rows = session.scalars(
        select(NotificationRow)
        .where(
            or_(
                NotificationRow.state.in_((S.DEAD, S.UNDELIVERED)),
                NotificationRow.state.in_(S.WAITING) & (NotificationRow.created_at < overdue),
                NotificationRow.state.in_(S.WAITING) & NotificationRow.last_error.like("alarm:%"),
            )
        )
        .order_by(NotificationRow.id)
        .limit(500)
    )
    return [masked(r) for r in rows]
