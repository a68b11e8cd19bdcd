"""Jobs that run once per cluster, not once per worker: a lease row in the database.

Every backend worker runs the same loops; a job that must happen once (sending SMS, reminders,
republishing unacknowledged commands) first takes its lease. The lease is a row of
`job_leases` (name, holder, expires_at): taking it is one UPDATE that succeeds only for the
holder or once the lease has expired, so it works alike on SQLite (one writer at a time) and
PostgreSQL (the UPDATE locks the row; a second worker's UPDATE waits, then sees the new holder).
A holder that dies stops renewing; another worker takes the job over when the lease expires.
A worker that stops gives its leases up at once.

    lease = ClusterLease(db, "command-resend", worker_id, ttl=timedelta(minutes=3))
    if lease.hold():
        run_the_job()
    ...
    lease.release()  # on stop
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import Database
from .models import utcnow
from .notifications.models import JobLease


def hold_lease(session: Session, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease `name` for `holder`; False while another worker holds it."""
    taken = session.execute(
        update(JobLease)
        .where(
            JobLease.name == name,
            or_(JobLease.holder == holder, JobLease.expires_at <= now),
        )
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:
        return True
    if session.scalar(select(func.count()).where(JobLease.name == name)):
        return False
    try:
        with session.begin_nested():
            session.add(JobLease(name=name, holder=holder, expires_at=now + ttl))
    except IntegrityError:
        return False  # another worker created it first
    return True


def lease_free(session: Session, name: str, holder: str, now: datetime) -> bool:
    """Whether `holder` could take the lease `name` now (a read: nothing is locked or written)."""
    row = session.get(JobLease, name)
    return row is None or row.holder == holder or row.expires_at <= now


def release_lease(session: Session, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once, so another worker need not wait for it to expire."""
    session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


class ClusterLease:
    """One named lease held by one worker: `hold()` before each run, `release()` on stop."""

    def __init__(
        self,
        db: Database,
        name: str,
        holder: str,
        ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ):
        if ttl <= timedelta(0):
            raise ValueError("a lease needs a positive ttl")
        self.db, self.name, self.holder, self.ttl, self.clock = db, name, holder, ttl, clock
        self.held = False

    def hold(self) -> bool:
        """Take or renew the lease; True if this worker runs the job now."""
        with self.db.transaction() as session:
            self.held = hold_lease(session, self.name, self.holder, self.ttl, self.clock())
        return self.held

    def release(self) -> None:
        """Give the lease up if held, so another worker takes the job over at once."""
        if not self.held:
            return
        with self.db.transaction() as session:
            release_lease(session, self.name, self.holder, self.clock())
        self.held = False
