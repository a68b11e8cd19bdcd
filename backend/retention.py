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
- drops the payload of dead letters that failed before the same cut-off.

Not after `retention_days` but after `unclaimed_after` (48 hours), one run also deletes files
no application names, whole or in chunks, that nothing was added to since: the pages of a
submission that was refused or never came, and whatever a terminal (or a stolen certificate)
sends that no application ever names, which no case's erasure would reach. A terminal sends a
submission before its files, so a file waits for its submission minutes at most; a file a
dead letter's submission or supplement names stays until the letter is replayed or emptied.
An upload of a file an application names is never cut short: its terminal may be offline
half-way for days, and does not send again the chunks it had receipts for. Each terminal may
hold only so much of such files meanwhile (backend/blobs.py, `BlobLimits`). A run also deletes
refused messages (`rejected_messages`) older than `rejected_days` (30).

What the statistics read stays: item, terminal, states and their times, ratings, SMS kinds and
states, counts (`ingest_counters` keep counting refused messages). Each run writes a
`retention_runs` row and an audit log line with its figures. Runs are idempotent and bounded
(`batch` cases or files per transaction); a cluster runs one at a time (lease `retention`,
backend/schedule.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from cloud_bridge.contract import messages as m

from .blobs import BlobStore
from .db import Database
from .dead_letters import DeadLetter
from .models import (
    Application,
    Blob,
    BlobChunkRow,
    Material,
    RejectedMessage,
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
# A file may come minutes before the submission naming it (several workers, a deferred
# supplement: ingest.NOT_YET_FOR); no shorter time may pass as unclaimed.
MIN_UNCLAIMED_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class RetentionSettings:
    """How long closed cases keep personal data, files no application names and refused
    messages are kept, and how the job paces itself."""

    days: int = 180
    batch: int = 200
    every: timedelta = timedelta(hours=1)
    # Files no application names, and uploads of them that stopped, kept this long after their
    # last chunk: far beyond the minutes a file may wait for its submission, and short enough
    # that what a stolen certificate sends (at most its cap, backend/blobs.py) goes in days.
    unclaimed_after: timedelta = timedelta(hours=48)
    # Refused messages kept for operators to look into: a month; the counters stay.
    rejected_days: int = 30

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
        if self.unclaimed_after < MIN_UNCLAIMED_AFTER:
            raise ValueError(
                f"files no application names must be kept {MIN_UNCLAIMED_AFTER} at least, "
                f"not {self.unclaimed_after}"
            )
        if not MIN_RETENTION_DAYS <= self.rejected_days <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"refused messages' days must be {MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS}, "
                f"not {self.rejected_days}"
            )


@dataclass(frozen=True)
class RetentionReport:
    closed_before: datetime
    applications: int
    scans_deleted: int
    bytes_freed: int
    dead_letters: int
    rejected_messages: int


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
        while self._release_named():
            pass
        unclaimed_before, arriving = now - self.settings.unclaimed_after, self._arriving()
        while True:
            k, b, more = self._unclaimed(unclaimed_before, arriving)
            scans, freed = scans + k, freed + b
            if not more:
                break
        letters = self._dead_letters(closed_before)
        rejected = self._rejected(now - timedelta(days=self.settings.rejected_days))
        report = RetentionReport(closed_before, applications, scans, freed, letters, rejected)
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
            "deleted %d scans (%d bytes), emptied %d dead letters, deleted %d refused messages "
            "(%d days); by %s",
            applications,
            closed_before.isoformat(),
            self.settings.days,
            scans,
            freed,
            letters,
            rejected,
            self.settings.rejected_days,
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

    def _release_named(self) -> bool:
        """Take one batch of files an application names now off the terminal they counted
        against (`Blob.held_for`): a terminal's cap then asks only about its files still unnamed,
        not about every file it ever sent. Whether a full batch was taken (more may be due)."""
        named = select(Material.id).where(Material.sha256 == Blob.sha256).exists()
        with self.db.transaction() as s:
            # Locked in SHA-256 order as ingest locks them, skipping any a worker holds.
            shas = list(
                s.scalars(
                    select(Blob.sha256)
                    .where(Blob.held_for.is_not(None), named)
                    .order_by(Blob.sha256)
                    .limit(self.settings.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            s.execute(update(Blob).where(Blob.sha256.in_(shas)).values(held_for=None))
        return len(shas) == self.settings.batch

    def _arriving(self) -> set[str]:
        """Files named by submissions and supplements waiting as dead letters: a replay may
        still make them a case's."""
        with self.db.transaction() as s:
            letters = s.execute(
                select(DeadLetter.topic, DeadLetter.payload).where(
                    DeadLetter.replayed_at.is_(None), DeadLetter.payload.is_not(None)
                )
            ).all()
        named: set[str] = set()
        for topic, payload in letters:
            try:
                message = m.decode_from(topic, payload)
            except m.MalformedMessage:
                continue
            if isinstance(message, m.ApplicationSubmitted | m.SupplementProvided):
                named |= {ref.sha256 for ref in message.materials}
        return named

    def _unclaimed(self, before: datetime, arriving: set[str]) -> tuple[int, int, bool]:
        """Delete one batch of files no application names that nothing was added to since
        `before`, with every terminal's chunks of them: how many, their bytes, and whether a
        full batch was looked at (more may be due). A file `arriving` names stays."""
        named = select(Material.id).where(Material.sha256 == Blob.sha256).exists()
        added = (
            select(BlobChunkRow.sha256)
            .where(BlobChunkRow.sha256 == Blob.sha256, BlobChunkRow.received_at >= before)
            .exists()
        )
        query = select(Blob.sha256).where(
            # Whole files named when made whole hold no terminal: never looked at again.
            or_(Blob.held_for.is_not(None), Blob.complete.is_(False)),
            func.coalesce(Blob.completed_at, Blob.first_chunk_at) < before,
            ~named,
            ~added,
        )
        if arriving:
            query = query.where(Blob.sha256.not_in(arriving))
        scans = freed = 0
        with self.db.transaction() as s:
            # Locked in SHA-256 order as ingest locks them; one ingest holds is skipped (it may
            # be naming it or adding a chunk now) and comes up again next run.
            shas = list(
                s.scalars(
                    query.order_by(Blob.sha256)
                    .limit(self.settings.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            # Asked again now the rows are locked: a case or a chunk committed meanwhile keeps
            # its file.
            kept = set(s.scalars(select(Material.sha256).where(Material.sha256.in_(shas))))
            kept |= set(
                s.scalars(
                    select(BlobChunkRow.sha256).where(
                        BlobChunkRow.sha256.in_(shas), BlobChunkRow.received_at >= before
                    )
                )
            )
            for sha in [x for x in shas if x not in kept]:
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

    def _rejected(self, before: datetime) -> int:
        """Delete refused messages received before `before` (the console lists the newest)."""
        with self.db.transaction() as s:
            result = s.execute(delete(RejectedMessage).where(RejectedMessage.received_at < before))
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
