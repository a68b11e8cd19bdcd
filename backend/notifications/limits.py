"""Per-number rate limits as providers enforce them (the jobs' lease: backend/schedule.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import NotificationRow


@dataclass(frozen=True)
class RateLimits:
    """How many messages of one kind a number may get per window.

    The default is Alibaba Cloud's flow control for a notification template (短信通知), which
    every kind's template is: 50 to one number in any 24 hours, per signature and template.
    The 1/min, 5/h, 10/day often quoted are for verification-code templates; applied here they
    held a clerk's resent pickup code, or a second application's message, a minute for nothing.
    A provider with other rules gets its own `windows` ((window, most messages in it), ...).
    """

    windows: tuple[tuple[timedelta, int], ...] = ((timedelta(days=1), 50),)

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
