"""Read-only audit of views of personal data: who showed which applicant in full, who opened
which scan, and when (backend/staff.py records them). Admins only (`audit.views`): they do not
view cases themselves, so the people audited cannot read or tidy their own trail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from cloud_bridge.contract.messages import UtcTime

from .auth.guard import allowed
from .auth.roles import Permission
from .db import Database
from .models import StaffAccount, StaffAction, utcnow
from .staff import VIEW_SCAN, VIEW_UNMASKED, VIEWS

Auditor = allowed(Permission.READ_VIEW_AUDIT)
# Without `since`: the last day.
DEFAULT_SPAN = timedelta(days=1)


def audit_router(db: Database) -> APIRouter:
    router = APIRouter(prefix="/api/audit", tags=["audit"])

    @router.get("/views")
    def views(
        _who: Auditor,
        staff: Annotated[str | None, Query(max_length=64)] = None,
        since: UtcTime | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> list[dict[str, Any]]:
        """Views of applicants in full (`unmasked`) and of scans (`scan`, with the material),
        newest first, since `since` (default: the last 24 hours), of one person if `staff`
        names them (a username). No applicant's data: the case number only."""
        start = since or utcnow() - DEFAULT_SPAN
        query = (
            select(StaffAction, StaffAccount.username)
            .join(StaffAccount, StaffAccount.id == StaffAction.staff_id)
            .where(StaffAction.action.in_(VIEWS), StaffAction.at >= start)
            .order_by(StaffAction.at.desc())
            .limit(limit)
        )
        if staff:
            query = query.where(StaffAccount.username == staff)
        kinds = {VIEW_UNMASKED: "unmasked", VIEW_SCAN: "scan"}
        with db.reading() as session:
            return [
                {
                    "at": row.at,
                    "staff": username,
                    "kind": kinds[row.action],
                    "application_no": row.application_no,
                    "material_id": row.outcome.get("material_id"),
                }
                for row, username in session.execute(query)
            ]

    return router
