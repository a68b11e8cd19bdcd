"""Who works a case: a clerk claims it (or acting on it claims it), a supervisor assigns it.

One holder at a time. Only the holder acts on a claimed case; anyone else is told who holds it.
The holder, or a supervisor, releases it; a supervisor may assign it to any active clerk.
Each change of holder is a StaffAction row (`claim`, `release`, `assign`) in the change's own
transaction: who made it, when, the holder after it and the one before.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth.roles import Permission, permissions_of
from .db import insert_missing
from .models import Application, CaseClaim, StaffAccount, StaffAction, utcnow
from .workflow import NotFound, WorkflowError

log = logging.getLogger(__name__)

# The StaffAction rows a change of holder leaves (who, when, the holder after and before).
CLAIM, RELEASE, ASSIGN = "claim", "release", "assign"
RECORDS = (CLAIM, RELEASE, ASSIGN)


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
            taken = insert_missing(session, CaseClaim, [row], returning=CaseClaim.application_no)
            if taken:  # ours, not another's that won the race
                _record(session, CLAIM, application_no, staff_id, staff_id, None, now)
            current = holder(session, application_no)
        if current is not None:
            if current.staff_id != staff_id:
                raise ClaimedByOther(application_no, current)
            return current
    raise WorkflowError(f"application {application_no} changed hands while claiming: try again")


def release(
    session: Session,
    application_no: str,
    staff_id: int,
    supervisor: bool,
    now: datetime | None = None,
) -> None:
    """Give the case back to the queue: its holder, or a supervisor."""
    _application(session, application_no)
    row = session.get(CaseClaim, application_no)
    if row is None:
        return
    if row.staff_id != staff_id and not supervisor:
        raise NotHolder(f"application {application_no} is held by someone else")
    previous = row.staff_id
    session.delete(row)
    _record(session, RELEASE, application_no, staff_id, None, previous, now or utcnow())


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
        values = {"application_no": application_no, **fields}
        inserted = insert_missing(session, CaseClaim, [values], returning=CaseClaim.application_no)
        row = session.get(CaseClaim, application_no, with_for_update=True, populate_existing=True)
        if row is not None:  # else released between the two: insert again
            break
    else:
        raise WorkflowError(
            f"application {application_no} changed hands while assigning: try again"
        )
    previous = None if inserted else row.staff_id
    row.staff_id, row.assigned_by, row.claimed_at = target.id, by_staff_id, now
    _record(session, ASSIGN, application_no, by_staff_id, target.id, previous, now)
    session.flush()
    out = holder(session, application_no)
    assert out is not None
    return out


def _record(
    session: Session,
    action: str,
    application_no: str,
    actor_id: int,
    holder_id: int | None,
    previous_id: int | None,
    now: datetime,
) -> None:
    """The change of holder as a StaffAction row, in the change's transaction."""

    def name(staff_id: int | None) -> str | None:
        if staff_id is None:
            return None
        person = session.get(StaffAccount, staff_id)
        return person.username if person else None

    actor, after, before = name(actor_id), name(holder_id), name(previous_id)
    session.add(
        StaffAction(
            idempotency_key=secrets.token_hex(16),
            staff_id=actor_id,
            application_no=application_no,
            action=action,
            outcome={"holder": after, "previous_holder": before},
            at=now,
        )
    )
    log.info("%s: %s by %s (holder %s, before %s)", application_no, action, actor, after, before)


def check_may_serve(session: Session, application_no: str, staff_id: int) -> None:
    """Before serving the applicant of a case (a new pickup code): anyone on an unclaimed case,
    on a claimed one its holder or a supervisor (who may take any claim back); ClaimedByOther
    naming the holder otherwise."""
    current = holder(session, application_no)
    if current is None or current.staff_id == staff_id:
        return
    account = session.get(StaffAccount, staff_id)
    if account is not None and Permission.ASSIGN_CASES in permissions_of(list(account.roles)):
        return
    raise ClaimedByOther(application_no, current)


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
