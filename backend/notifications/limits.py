"""Per-number rate limits as providers enforce them, and the cluster lease for the jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import JobLease, NotificationRow


@dataclass(frozen=True)
class RateLimits:
    """How many messages of one kind a number may get per window (1/min, 5/h, 10/day)."""

    windows: tuple[tuple[timedelta, int], ...] = (
        (timedelta(minutes=1), 1),
        (timedelta(hours=1), 5),
        (timedelta(days=1), 10),
    )

    def next_allowed(self, session: Session, phone: str, kind: str, now: datetime) -> datetime:
        """The earliest time another `kind` message may go to `phone` (now, if it may)."""
        longest = max(window for window, _ in self.windows)
        most = max(limit for _, limit in self.windows)
        # One query for every window: the latest sends within the longest window, newest first.
        sent = list(
            session.scalars(
                select(NotificationRow.accepted_at)
                .where(
                    NotificationRow.phone == phone,
                    NotificationRow.kind == kind,
                    NotificationRow.accepted_at > now - longest,
                )
                .order_by(NotificationRow.accepted_at.desc())
                .limit(most)
            )
        )
        allowed = now
        for window, limit in self.windows:
            recent = [at for at in sent if at > now - window]
            if len(recent) >= limit:
                # The oldest of the last `limit` must leave the window first.
                allowed = max(allowed, recent[limit - 1] + window)
        return allowed


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


def release_lease(session: Session, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once, so another worker need not wait for it to expire."""
    session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
