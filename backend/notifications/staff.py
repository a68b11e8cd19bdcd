"""Notifications to staff, shown in the console: never an SMS, never free text.

Each notice names a kind from a fixed list, a case and a colour; the console words it from
its catalogs. A notice stays until its reader marks it read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..models import StaffNotice

KINDS = ("escalation.clerk", "escalation.supervisor")
SHOWN = 50  # the newest notices a person sees


def notify(
    session: Session,
    staff_ids: Iterable[int],
    kind: str,
    application_no: str,
    colour: str,
    now: datetime,
) -> int:
    """One notice for each person, in the caller's transaction; the number written."""
    if kind not in KINDS:
        raise ValueError(f"unknown staff notice kind {kind!r}")
    ids = sorted(set(staff_ids))
    for staff_id in ids:
        session.add(
            StaffNotice(
                staff_id=staff_id,
                kind=kind,
                application_no=application_no,
                colour=colour,
                created_at=now,
            )
        )
    return len(ids)


def unread(session: Session, staff_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffNotice)
            .where(StaffNotice.staff_id == staff_id, StaffNotice.read_at.is_(None))
        )
        or 0
    )


def newest(session: Session, staff_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(StaffNotice)
        .where(StaffNotice.staff_id == staff_id)
        .order_by(StaffNotice.id.desc())
        .limit(SHOWN)
    )
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "application_no": n.application_no,
            "colour": n.colour,
            "at": n.created_at,
            "read": n.read_at is not None,
        }
        for n in rows
    ]


def mark_all_read(session: Session, staff_id: int, now: datetime) -> None:
    session.execute(
        update(StaffNotice)
        .where(StaffNotice.staff_id == staff_id, StaffNotice.read_at.is_(None))
        .values(read_at=now)
    )
