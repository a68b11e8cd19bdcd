"""Scheduled reminders: 容缺 due soon, pickup code expiring, result uncollected at expiry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from cloud_bridge.contract.messages import SERVICE_TZ

from ..db import Database
from ..models import Application, LoadOperation, MaterialSupplement
from ..workdays import WorkingDayCalendar
from ..workflow import WorkflowError
from .outbox import enqueue
from .templates import Kind

log = logging.getLogger(__name__)

_OPEN_STATES = ("submitted", "accepted", "under_review", "supplement_requested", "approved")


@dataclass(frozen=True)
class ReminderSettings:
    supplement_days_ahead: int = 2  # working days before a 容缺 due date
    code_expiring_within: timedelta = timedelta(hours=24)


class Reminders:
    """One pass of every reminder job; each message is queued once (dedupe keys)."""

    def __init__(
        self,
        db: Database,
        calendar: WorkingDayCalendar,
        return_uncollected: Callable[[str, str], object],
        key: bytes | None = None,
        settings: ReminderSettings | None = None,
    ):
        self.db, self.calendar, self.key = db, calendar, key
        self.return_uncollected = return_uncollected  # (application_no, note): staff desk
        self.settings = settings or ReminderSettings()

    def run(self, now: datetime) -> int:
        """Queue what is due now; the number of messages queued or results returned."""
        return self.supplements_due(now) + self.codes_expiring(now) + self.uncollected(now)

    def supplements_due(self, now: datetime) -> int:
        today = now.astimezone(SERVICE_TZ).date()
        horizon = self.calendar.add_working_days(today, self.settings.supplement_days_ahead)
        queued = 0
        with self.db.transaction() as session:
            rows = session.execute(
                select(Application.application_no, Application.phone, MaterialSupplement.due_on)
                .join(Application, Application.application_no == MaterialSupplement.application_no)
                .where(
                    MaterialSupplement.supplied_at.is_(None),
                    MaterialSupplement.due_on >= today,
                    MaterialSupplement.due_on <= horizon,
                    Application.status.in_(_OPEN_STATES),
                )
            ).all()
            for no, phone, due_on in rows:
                row = enqueue(
                    session,
                    Kind.SUPPLEMENT_DUE,
                    phone,
                    {"no": no, "date": f"{due_on:%Y-%m-%d}"},
                    now=now,
                    application_no=no,
                    key=self.key,
                    dedupe_key=f"supplement_due:{no}:{due_on:%Y%m%d}",
                )
                queued += row is not None
        return queued

    def codes_expiring(self, now: datetime) -> int:
        queued = 0
        with self.db.transaction() as session:
            rows = session.execute(
                select(LoadOperation, Application.phone)
                .join(Application, Application.application_no == LoadOperation.application_no)
                .where(
                    LoadOperation.status == "loaded",
                    LoadOperation.code_expires_at > now,
                    LoadOperation.code_expires_at <= now + self.settings.code_expiring_within,
                )
            ).all()
            for load, phone in rows:
                at = load.code_expires_at.astimezone(SERVICE_TZ)
                row = enqueue(
                    session,
                    Kind.CODE_EXPIRING,
                    phone,
                    {
                        "no": load.application_no,
                        "terminal": load.terminal_id,
                        "expires": f"{at:%Y-%m-%d %H:%M}",
                    },
                    now=now,
                    application_no=load.application_no,
                    key=self.key,
                    dedupe_key=f"code_expiring:{load.load_id}:{load.code_rotation}",
                )
                queued += row is not None
        return queued

    def uncollected(self, now: datetime) -> int:
        with self.db.transaction() as session:
            expired = list(
                session.scalars(
                    select(LoadOperation.application_no).where(
                        LoadOperation.status == "loaded", LoadOperation.code_expires_at <= now
                    )
                )
            )
        returned = 0
        for no in expired:
            # The desk's return: WithdrawResult to the terminal, the "returned" SMS, history.
            try:
                self.return_uncollected(no, "pickup code expired uncollected")
            except WorkflowError as exc:
                log.error("result of %s expired uncollected but cannot be returned: %s", no, exc)
                continue
            log.warning("result of %s uncollected at code expiry: returned to the office", no)
            returned += 1
        return returned
