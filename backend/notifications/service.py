"""The notification worker: one thread that, while it holds the cluster lease, sends and reminds."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..db import Database
from ..models import utcnow
from ..schedule import hold_lease, lease_free, release_lease
from .dispatcher import Dispatcher
from .email import Mailer, SmtpSettings
from .reminders import Reminders

log = logging.getLogger(__name__)

LEASE = "notifications"


@dataclass(frozen=True)
class WorkerSettings:
    poll_s: float = 0.5  # between passes when nobody wakes us
    lease_ttl: timedelta = timedelta(seconds=30)
    reminders_every: timedelta = timedelta(minutes=1)
    reports_every: timedelta = timedelta(seconds=30)


class NotificationWorker:
    """start() runs passes on a thread; wake() after a commit; stop() leaves nothing running."""

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher | None,
        reminders: Reminders | None,
        clock: Callable[[], datetime] = utcnow,
        settings: WorkerSettings | None = None,
        worker_id: str | None = None,
    ):
        self.db, self.dispatcher, self.reminders, self.clock = db, dispatcher, reminders, clock
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or f"worker-{secrets.token_hex(4)}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reminders: datetime | None = None
        # The deadline escalation job (backend/escalations.py), on the reminders' cadence.
        self.escalations: Callable[[datetime], object] | None = None
        self._last_escalations: datetime | None = None
        self._last_reports: datetime | None = None
        # Staff notices by e-mail (notifications/email.py), when an SMTP relay is configured.
        smtp = SmtpSettings.from_env()
        self.mailer: Mailer | None = Mailer(db, smtp, clock) if smtp else None
        self.holds_lease = False
        self._renewed_at: datetime | None = None

    def wake(self) -> None:
        """SmsSender: new messages are in the outbox."""
        self._wake.set()

    def start(self) -> NotificationWorker:
        """Run passes on a thread until stop()."""
        if self.dispatcher is None:
            log.warning("no SMS provider configured: notifications wait in the outbox")
        self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread and give the lease up, so another worker takes over at once."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=30)
            self._thread = None
        if self.holds_lease:
            with self.db.transaction() as session:
                release_lease(session, LEASE, self.worker_id, self.clock())
            self.holds_lease = False
        self._renewed_at: datetime | None = None

    def run_once(self) -> None:
        """One pass: renew the lease, and if ours, send, collect reports, run reminders."""
        if not self._renew():
            return
        now = self.clock()
        if self.reminders and _due(self._last_reminders, self.settings.reminders_every, now):
            self._last_reminders = now
            self.reminders.run(now)
        if self.escalations and _due(self._last_escalations, self.settings.reminders_every, now):
            self._last_escalations = now
            self.escalations(now)
        if self.mailer:
            self.mailer.drain(now)
        if self.dispatcher:
            self.dispatcher.drain(now, self._renew)
            if _due(self._last_reports, self.settings.reports_every, now):
                self._last_reports = now
                self.dispatcher.collect_reports(now)

    def _renew(self) -> bool:
        """Whether this worker holds the lease: renewed once a third of it has passed (before
        each pass and each send, since a drain can be long), and taken by a worker without it
        once it is free. Each pass (every `poll_s`, and after each commit that queues a
        message) wrote the lease, a write transaction that on SQLite queued behind ingest's
        commits; now a pass writes only to renew or take it, and otherwise reads."""
        now = self.clock()
        ttl = self.settings.lease_ttl
        if self.holds_lease and self._renewed_at is not None and now - self._renewed_at < ttl / 3:
            return True
        if not self.holds_lease:
            with self.db.reading() as session:
                if not lease_free(session, LEASE, self.worker_id, now):
                    return False
        with self.db.transaction() as session:
            self.holds_lease = hold_lease(session, LEASE, self.worker_id, ttl, now)
        self._renewed_at = now
        return self.holds_lease

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a wake during it means run again at once
            try:
                self.run_once()
            except Exception:
                # One bad pass (database busy, a bug in a job) must not end notifications.
                log.exception("notification pass failed; next pass in %.1fs", self.settings.poll_s)
            self._wake.wait(self.settings.poll_s)


def _due(last: datetime | None, every: timedelta, now: datetime) -> bool:
    return last is None or now - last >= every
