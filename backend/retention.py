"""Retention (PIPL): a closed case's personal data and scans go after a configured period.

A case is closed when it reached rejected, picked_up or returned; its closing time is the last
such step in its workflow history. `retention_days` after that, one run:

- blanks the applicant's name, ID number, phone, identity record and applicant reference on
  the application, and marks it `personal_data_erased_at`;
- deletes its scans: the blob files and their rows, unless another case still kept holds the
  same file (materials can be reused across cases), and unlinks the material rows from them
  (the rows stay: material code, pages and size count in the statistics);
- blanks the free-text notes of its workflow history and of a low rating's follow-up, and the
  phone and template values of its SMS outbox rows (a sealed pickup code included);
- drops the payload of dead letters that failed before the same cut-off;
- deletes scans no case names whose first chunk came before the same cut-off: the pages of a
  submission that never arrived or was refused, which no case's erasure would ever reach.

What the statistics read stays: item, terminal, states and their times, ratings, SMS kinds and
states, counts. Each run writes a `retention_runs` row and an audit log line with its figures.
Runs are idempotent and bounded (`batch` cases per transaction); a cluster runs one at a time
(lease `retention`, backend/schedule.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from .blobs import BlobStore
from .db import Database
from .dead_letters import DeadLetter
from .models import (
    Application,
    Blob,
    BlobChunkRow,
    Material,
    RetentionRun,
    ServiceRating,
    WorkflowHistory,
    utcnow,
)
from .notifications.models import NotificationRow
from .schedule import ClusterLease
from .workflow import State

log = logging.getLogger(__name__)
audit = logging.getLogger("allhours.audit")

CLOSED_STATES = (State.REJECTED.value, State.PICKED_UP.value, State.RETURNED.value)
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 36_500
LEASE = "retention"
FIRST_RUN_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class RetentionSettings:
    """How long closed cases keep personal data, and how the job paces itself."""

    days: int = 180
    batch: int = 200
    every: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not MIN_RETENTION_DAYS <= self.days <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"retention days must be {MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS}, "
                f"not {self.days}"
            )
        if not 1 <= self.batch <= 10_000:
            raise ValueError(f"retention batch must be 1..10000, not {self.batch}")
        if self.every <= timedelta(0):
            raise ValueError("the retention job needs a positive interval")


@dataclass(frozen=True)
class RetentionReport:
    closed_before: datetime
    applications: int
    scans_deleted: int
    bytes_freed: int
    dead_letters: int


class Retention:
    """Erases what is due; `run(now)` is one pass, safe to repeat and to interrupt."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        settings: RetentionSettings | None = None,
        worker_id: str = "backend",
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db, self.blobs = db, blobs
        self.settings = settings or RetentionSettings()
        self.worker_id, self.clock = worker_id, clock

    def due(self, closed_before: datetime) -> list[str]:
        """Application numbers of closed, not yet erased cases closed before the cut-off."""
        closed_at = (
            select(
                WorkflowHistory.application_no,
                func.max(WorkflowHistory.at).label("closed_at"),
            )
            .where(WorkflowHistory.to_state.in_(CLOSED_STATES))
            .group_by(WorkflowHistory.application_no)
            .subquery()
        )
        query = (
            select(Application.application_no)
            .join(closed_at, closed_at.c.application_no == Application.application_no)
            .where(
                Application.status.in_(CLOSED_STATES),
                Application.personal_data_erased_at.is_(None),
                closed_at.c.closed_at < closed_before,
            )
            .order_by(closed_at.c.closed_at)
            .limit(self.settings.batch)
        )
        with self.db.transaction() as s:
            return list(s.scalars(query))

    def run(self, now: datetime | None = None) -> RetentionReport:
        now = now or self.clock()
        closed_before = now - timedelta(days=self.settings.days)
        applications = scans = freed = 0
        while batch := self.due(closed_before):
            n, k, b = self._erase(batch, now)
            applications, scans, freed = applications + n, scans + k, freed + b
            if len(batch) < self.settings.batch:
                break
        while True:
            k, b, more = self._unclaimed(closed_before)
            scans, freed = scans + k, freed + b
            if not more:
                break
        letters = self._dead_letters(closed_before)
        report = RetentionReport(closed_before, applications, scans, freed, letters)
        with self.db.transaction() as s:
            s.add(
                RetentionRun(
                    worker_id=self.worker_id,
                    retention_days=self.settings.days,
                    closed_before=closed_before,
                    applications=applications,
                    scans_deleted=scans,
                    bytes_freed=freed,
                    dead_letters=letters,
                    at=now,
                )
            )
        audit.info(
            "retention: erased personal data of %d closed cases (closed before %s, %d days), "
            "deleted %d scans (%d bytes), emptied %d dead letters; by %s",
            applications,
            closed_before.isoformat(),
            self.settings.days,
            scans,
            freed,
            letters,
            self.worker_id,
        )
        return report

    def _erase(self, numbers: list[str], now: datetime) -> tuple[int, int, int]:
        """Erase one batch in one transaction, with its scan files."""
        scans = freed = 0
        with self.db.transaction() as s:
            apps = s.scalars(
                select(Application)
                .where(
                    Application.application_no.in_(numbers),
                    Application.personal_data_erased_at.is_(None),
                )
                .with_for_update()
            ).all()
            numbers = [a.application_no for a in apps]
            for app in apps:
                app.applicant_name = ""
                app.id_number = ""
                app.phone = ""
                app.identity = {}
                app.applicant_ref = None
                app.personal_data_erased_at = now
            hashes = set(
                s.scalars(
                    select(Material.sha256).where(
                        Material.application_no.in_(numbers), Material.sha256 != ""
                    )
                )
            )
            s.execute(
                update(Material)
                .where(Material.application_no.in_(numbers))
                .values(sha256="", reference=None, valid_until=None)
            )
            # A file another case still holds (reuse) stays until that case goes too.
            still_held = set(s.scalars(select(Material.sha256).where(Material.sha256.in_(hashes))))
            for sha in sorted(hashes - still_held):
                s.execute(delete(BlobChunkRow).where(BlobChunkRow.sha256 == sha))
                s.execute(delete(Blob).where(Blob.sha256 == sha))
                # Files go before the commit: a crash in between leaves rows that the next run
                # erases, never a scan that no row points at any more.
                removed = self._unlink(sha)
                if removed is not None:
                    scans, freed = scans + 1, freed + removed
            s.execute(
                update(WorkflowHistory)
                .where(WorkflowHistory.application_no.in_(numbers))
                .values(note="")
            )
            s.execute(
                update(NotificationRow)
                .where(NotificationRow.application_no.in_(numbers))
                .values(phone="", params={}, sealed=None)
            )
            # The follow-up of a low rating is free text about the applicant; the score stays.
            s.execute(
                update(ServiceRating)
                .where(ServiceRating.application_no.in_(numbers))
                .values(closure_note="")
            )
        return len(numbers), scans, freed

    def _unclaimed(self, before: datetime) -> tuple[int, int, bool]:
        """Delete one batch of scans no material names, first heard of before `before`: how
        many, their bytes, and whether a full batch was looked at (more may be due)."""
        named = select(Material.sha256).where(Material.sha256 == Blob.sha256).exists()
        scans = freed = 0
        with self.db.transaction() as s:
            # Locked in SHA-256 order as ingest locks them; one ingest holds is skipped (it may
            # be naming it now) and comes up again next run.
            shas = list(
                s.scalars(
                    select(Blob.sha256)
                    .where(Blob.first_chunk_at < before, ~named)
                    .order_by(Blob.sha256)
                    .limit(self.settings.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            # Asked again now the rows are locked: a case committed meanwhile keeps its file.
            claimed = set(s.scalars(select(Material.sha256).where(Material.sha256.in_(shas))))
            for sha in [x for x in shas if x not in claimed]:
                s.execute(delete(BlobChunkRow).where(BlobChunkRow.sha256 == sha))
                s.execute(delete(Blob).where(Blob.sha256 == sha))
                removed = self._unlink(sha)
                scans += 1
                freed += removed or 0
        return scans, freed, len(shas) == self.settings.batch

    def _unlink(self, sha: str) -> int | None:
        """Delete the scan file `sha`; its size, or None if there was none."""
        path = self.blobs.path_for(sha)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return None
        return size

    def _dead_letters(self, closed_before: datetime) -> int:
        with self.db.transaction() as s:
            result = s.execute(
                update(DeadLetter)
                .where(DeadLetter.failed_at < closed_before, DeadLetter.payload.is_not(None))
                .values(payload=None)
            )
            return result.rowcount or 0


class RetentionJob:
    """A thread that runs `Retention` every `settings.every` while it holds the cluster lease."""

    def __init__(self, retention: Retention, clock: Callable[[], datetime] = utcnow):
        self.retention = retention
        self.lease = ClusterLease(
            retention.db,
            LEASE,
            retention.worker_id,
            ttl=retention.settings.every * 2,
            clock=clock,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RetentionJob:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        # Not at once: a worker that restarts often must not take the lease for each start.
        first = min(self.retention.settings.every, FIRST_RUN_AFTER).total_seconds()
        if self._stop.wait(first):
            return
        while not self._stop.is_set():
            try:
                if self.lease.hold():
                    self.retention.run()
            except Exception:
                log.exception("retention run failed; next try in %s", self.retention.settings.every)
            self._stop.wait(self.retention.settings.every.total_seconds())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.lease.release()
