"""Who works a case: a clerk claims it (or acting on it claims it), a supervisor assigns it.

One holder at a time. Only the holder acts on a claimed case; anyone else is told who holds it.
The holder, or a supervisor, releases it; a supervisor may assign it to any active clerk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth.roles import Permission, permissions_of
from .db import insert_missing
from .models import Application, CaseClaim, StaffAccount
from .workflow import NotFound, WorkflowError


@dataclass(frozen=True)
class Holder:
    staff_id: int
    username: str
    display_name: str
    claimed_at: datetime
    assigned_by: str | None


class ClaimedByOther(WorkflowError):
    """The case is held by someone else (HTTP 409): they act on it, or a supervisor reassigns."""

    def __init__(self, application_no: str, holder: Holder):
        super().__init__(f"application {application_no} is claimed by {holder.username}")
        self.application_no, self.holder = application_no, holder


class NotHolder(WorkflowError):
    """Releasing a claim one does not hold, without being a supervisor."""


class CannotAssign(WorkflowError):
    """The person named cannot work cases (unknown, disabled, or without the clerk's rights)."""


def holder(session: Session, application_no: str) -> Holder | None:
    row = session.execute(
        select(CaseClaim, StaffAccount)
        .join(StaffAccount, StaffAccount.id == CaseClaim.staff_id)
        .where(CaseClaim.application_no == application_no)
    ).first()
    if row is None:
        return None
    claim, staff = row
    by = session.get(StaffAccount, claim.assigned_by) if claim.assigned_by else None
    return Holder(
        staff.id, staff.username, staff.display_name, claim.claimed_at, by.username if by else None
    )


def _application(session: Session, application_no: str) -> Application:
    app = session.get(Application, application_no)
    if app is None:
        raise NotFound(f"no application {application_no}")
    return app


# Tries at taking a free case: the winner of a race may release it again before we read it.
_CLAIM_TRIES = 3


def claim(session: Session, application_no: str, staff_id: int, now: datetime) -> Holder:
    """Take an unclaimed case; a case one holds already stays held; another's is refused.

    Two clerks pressing Claim at once both find the case free: the row is inserted only if it
    is still missing (PostgreSQL waits for the other's insert to commit and then skips it), and
    whoever holds it afterwards is read back, so the slower clerk hears ClaimedByOther (409)
    rather than a unique-key violation (500).
    """
    _application(session, application_no)
    for _ in range(_CLAIM_TRIES):
        current = holder(session, application_no)
        if current is None:
            row = {"application_no": application_no, "staff_id": staff_id, "claimed_at": now}
            insert_missing(session, CaseClaim, [row])
            current = holder(session, application_no)
        if current is not None:
            if current.staff_id != staff_id:
                raise ClaimedByOther(application_no, current)
            return current
    raise WorkflowError(f"application {application_no} changed hands while claiming: try again")


def release(session: Session, application_no: str, staff_id: int, supervisor: bool) -> None:
    """Give the case back to the queue: its holder, or a supervisor."""
    _application(session, application_no)
    row = session.get(CaseClaim, application_no)
    if row is None:
        return
    if row.staff_id != staff_id and not supervisor:
        raise NotHolder(f"application {application_no} is held by someone else")
    session.delete(row)


def assign(
    session: Session, application_no: str, username: str, by_staff_id: int, now: datetime
) -> Holder:
    """A supervisor gives the case to an active person who may act on cases."""
    _application(session, application_no)
    target = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
    if (
        target is None
        or target.disabled_at is not None
        or Permission.ACT_ON_APPLICATIONS not in permissions_of(list(target.roles))
    ):
        raise CannotAssign(f"{username!r} cannot work cases")
    # Inserted only if missing (a clerk may be claiming it right now), then taken over with the
    # row locked, so a release or another assignment waits for ours.
    fields = {"staff_id": target.id, "assigned_by": by_staff_id, "claimed_at": now}
    for _ in range(_CLAIM_TRIES):
        insert_missing(session, CaseClaim, [{"application_no": application_no, **fields}])
        row = session.get(CaseClaim, application_no, with_for_update=True, populate_existing=True)
        if row is not None:  # else released between the two: insert again
            break
    else:
        raise WorkflowError(
            f"application {application_no} changed hands while assigning: try again"
        )
    row.staff_id, row.assigned_by, row.claimed_at = target.id, by_staff_id, now
    session.flush()
    out = holder(session, application_no)
    assert out is not None
    return out


def check_or_claim(session: Session, application_no: str, staff_id: int, now: datetime) -> None:
    """Before an action: the actor holds the case, or takes it now if nobody does."""
    claim(session, application_no, staff_id, now)


def assignable(session: Session) -> list[str]:
    """Usernames a supervisor may assign a case to."""
    rows = session.scalars(
        select(StaffAccount).where(StaffAccount.disabled_at.is_(None)).order_by(StaffAccount.id)
    )
    return [
        s.username for s in rows if Permission.ACT_ON_APPLICATIONS in permissions_of(list(s.roles))
    ]
