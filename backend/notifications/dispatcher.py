"""Drains the outbox to the provider: in order per number, rate-limited, retried, reconciled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract.messages import SERVICE_TZ
from privacy import mask_phone

from ..db import Database
from ..sms import Action, ProviderRefused, ProviderUnreachable, SmsProvider, SmsRequest
from .limits import RateLimits
from .models import DeliveryReportRow, NotificationRow
from .models import NotificationState as S
from .outbox import stored_key
from .sealing import Sealer, SealError
from .templates import Kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchSettings:
    """Backoff, give-up and reconciliation timings."""

    retry_base: timedelta = timedelta(seconds=2)
    retry_cap: timedelta = timedelta(minutes=5)
    alarm_floor: timedelta = timedelta(minutes=1)  # a configuration fault is not fixed in 2 s
    give_up_after: timedelta = timedelta(hours=24)
    reconcile_after: timedelta = timedelta(seconds=30)  # the provider's records catch up
    report_after: timedelta = timedelta(seconds=60)
    report_for: timedelta = timedelta(days=2)
    batch: int = 500
    rounds: int = 20  # per drain: how far one number's queue may advance
    limits: RateLimits = field(default_factory=RateLimits)


class Dispatcher:
    """One pass at a time (`drain`), run by the worker that holds the cluster lease."""

    def __init__(
        self,
        db: Database,
        provider: SmsProvider,
        key: bytes | None = None,
        settings: DispatchSettings | None = None,
    ):
        self.db, self.provider = db, provider
        self.settings = settings or DispatchSettings()
        self._key = key
        self._report_cursor = 0  # collect_reports pages on from here (an id), then wraps

    def _sealer(self, session: Session) -> Sealer:
        return Sealer(self._key or stored_key(session))

    def drain(self, now: datetime, holding: Callable[[], bool] = lambda: True) -> int:
        """Send every message whose turn has come; the number the provider accepted.

        `holding()` is asked before each send: a worker whose lease has lapsed stops at once.
        """
        accepted = 0
        for _ in range(self.settings.rounds):
            # A round sends each number's head; an accepted head lets the next one go.
            sent = 0
            for row_id in self._due(now):
                if not holding():
                    return accepted + sent
                sent += self._send_one(row_id, now)
            accepted += sent
            if not sent:
                break
        return accepted

    def _due(self, now: datetime) -> list[int]:
        """The head of each number's queue, if it is due; reconciling unclear sends first."""
        # Each number's head is chosen in SQL before the batch limit: one number with more
        # than `batch` messages waiting (held by flow control) must not hide everyone else's.
        heads = (
            select(func.min(NotificationRow.id))
            .where(NotificationRow.state.in_(S.WAITING))
            .group_by(NotificationRow.phone)
        )
        # A read beside ingest's commits: each send re-checks its row under the write lock.
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(NotificationRow.id)
                    .where(
                        NotificationRow.id.in_(heads),
                        NotificationRow.next_attempt_at <= now,
                    )
                    .order_by(NotificationRow.id)
                    .limit(self.settings.batch)
                )
            )

    def _send_one(self, row_id: int, now: datetime) -> int:
        with self.db.transaction() as session:
            # Locked (PostgreSQL: FOR UPDATE; SQLite's write lock is taken at BEGIN) and
            # re-checked: another worker may have taken it, or a newer pickup code superseded it
            # (backend/workflow.py) while this pass read it as queued.
            row = session.get(NotificationRow, row_id, with_for_update=True)
            if row is None or row.state not in S.WAITING or row.next_attempt_at > now:
                return 0
            if row.state == S.SENDING:
                return self._reconcile(session, row, now)
            if self._expired(row, now):
                self._dead(row, f"not accepted within {self.settings.give_up_after}")
                return 0
            allowed = self.settings.limits.next_allowed(session, row.phone, row.kind, now)
            if allowed > now:
                row.next_attempt_at, row.last_error = allowed, "rate limit: queued"
                return 0
            template = self.provider.table.templates[Kind(row.kind)]
            params = dict(row.params)
            if row.sealed is not None:
                try:
                    params.update(self._sealer(session).open(row.out_id, row.sealed))
                except SealError as exc:
                    self._dead(row, str(exc))
                    return 0
            # SENDING is committed before the call: a crash mid-call is reconciled, not resent.
            row.state, row.attempts = S.SENDING, row.attempts + 1
            row.first_attempt_at = row.first_attempt_at or now
            row.template_code, row.provider = template.template_code, self.provider.name
            # If still SENDING by then (crash, timeout), the provider is asked before a resend.
            row.attempted_at, row.next_attempt_at = now, now + self.settings.reconcile_after
            request = SmsRequest(row.phone, template.template_code, params, row.out_id)
        try:
            accepted = self.provider.send(request)
        except ProviderRefused as exc:
            self._refused(row_id, exc, now)
            return 0
        except ProviderUnreachable as exc:
            self._unreachable(row_id, exc, now)
            return 0
        with self.db.transaction() as session:
            row = session.get(NotificationRow, row_id)
            assert row is not None
            self._accepted(row, accepted.biz_id, now)
        return 1

    def _expired(self, row: NotificationRow, now: datetime) -> bool:
        """Tried for longer than `give_up_after`. The time counts from the first send, not
        from the queueing: a message that waited a day behind its number's unclear send, or
        its flow control, was never tried, and still gets its day."""
        started = row.first_attempt_at
        return started is not None and now - started > self.settings.give_up_after

    def _accepted(self, row: NotificationRow, biz_id: str, now: datetime) -> None:
        row.state, row.biz_id, row.accepted_at = S.ACCEPTED, biz_id, now
        row.sealed, row.last_error = None, ""  # the code is the handset's now: erase ours
        log.info("sms %s to %s accepted", row.kind, mask_phone(row.phone))

    def _dead(self, row: NotificationRow, why: str) -> None:
        row.state, row.sealed, row.last_error = S.DEAD, None, why[:200]
        log.error("sms %s to %s given up: %s", row.kind, mask_phone(row.phone), why)

    def _backoff(self, attempts: int, floor: timedelta = timedelta(0)) -> timedelta:
        step = self.settings.retry_base * (2 ** min(20, max(0, attempts - 1)))
        return max(floor, min(self.settings.retry_cap, step))

    def _refused(self, row_id: int, exc: ProviderRefused, now: datetime) -> None:
        with self.db.transaction() as session:
            row = session.get(NotificationRow, row_id)
            assert row is not None
            if exc.action == Action.GIVE_UP:
                self._dead(row, f"refused: {exc.code}")  # the code only: messages may echo input
                return
            alarm = exc.action == Action.ALARM
            floor = self.settings.alarm_floor if alarm else timedelta(0)
            row.state, row.next_attempt_at = S.QUEUED, now + self._backoff(row.attempts, floor)
            row.last_error = (("alarm: " if alarm else "retry: ") + exc.code)[:200]
            level = logging.ERROR if alarm else logging.WARNING
            log.log(level, "sms %s to %s refused (%s)", row.kind, mask_phone(row.phone), exc.code)

    def _unreachable(self, row_id: int, exc: ProviderUnreachable, now: datetime) -> None:
        with self.db.transaction() as session:
            row = session.get(NotificationRow, row_id)
            assert row is not None
            row.last_error = f"unreachable: {exc}"[:200]
            if exc.maybe_sent:
                # Stays SENDING: the next pass asks the provider before sending again.
                row.next_attempt_at = now + self.settings.reconcile_after
            else:
                row.state, row.next_attempt_at = S.QUEUED, now + self._backoff(row.attempts)
            log.warning("sms %s to %s: provider unreachable", row.kind, mask_phone(row.phone))

    def _reconcile(self, session: Session, row: NotificationRow, now: datetime) -> int:
        """An unclear send (timeout, crash): accepted if the provider has it, else queued."""
        sent_on = (row.attempted_at or row.created_at).astimezone(SERVICE_TZ).date()
        try:
            found = self.provider.lookup(row.phone, row.out_id, sent_on)
        except (ProviderRefused, ProviderUnreachable) as exc:
            # The code only for a refusal: the provider's message may echo the request.
            why = exc.code if isinstance(exc, ProviderRefused) else str(exc)
            if self._expired(row, now):
                # Sent or not, we cannot tell: give up (code erased) rather than hold the
                # number's later messages, and the sealed code, forever. Staff call.
                self._dead(row, f"sent or not, unknown: the provider's lookup failed for "
                                f"{self.settings.give_up_after} ({why})")  # fmt: skip
                return 0
            floor = timedelta(0)
            if isinstance(exc, ProviderRefused) and exc.action != Action.RETRY:
                # E.g. isp.RAM_PERMISSION_DENY: a key allowed SendSms only. Waiting will not
                # fix it; say so once per row, and show it to staff as an alarm.
                floor = self.settings.alarm_floor
                error = f"alarm: reconcile refused: {why}"[:200]
                if row.last_error != error:
                    log.error("sms %s to %s: lookup of an unclear send refused (%s)",
                              row.kind, mask_phone(row.phone), why)  # fmt: skip
                row.last_error = error
            else:
                row.last_error = f"reconcile: {why}"[:200]
            row.next_attempt_at = now + self._backoff(row.attempts, floor)
            return 0
        if found is None:
            row.state, row.next_attempt_at = S.QUEUED, now
            return 0
        self._accepted(row, "", now)
        return 1

    def collect_reports(self, now: datetime, limit: int = 50) -> int:
        """Ask the provider how accepted messages fared at the handset; reports stored."""
        s = self.settings
        waiting = select(NotificationRow).where(
            NotificationRow.state == S.ACCEPTED,
            NotificationRow.accepted_at <= now - s.report_after,
            NotificationRow.accepted_at > now - s.report_for,
        )
        # Pages on from where the last pass stopped, then wraps: rows still pending (handsets
        # off) must not take every pass's `limit` and starve the reports of later ones.
        with self.db.transaction() as session:
            rows = list(
                session.scalars(
                    waiting.where(NotificationRow.id > self._report_cursor)
                    .order_by(NotificationRow.id)
                    .limit(limit)
                )
            )
            if len(rows) < limit:
                rows += session.scalars(
                    waiting.where(NotificationRow.id <= self._report_cursor)
                    .order_by(NotificationRow.id)
                    .limit(limit - len(rows))
                )
        stored = 0
        for row in rows:
            assert row.accepted_at is not None
            self._report_cursor = row.id
            try:
                report = self.provider.lookup(
                    row.phone, row.out_id, row.accepted_at.astimezone(SERVICE_TZ).date()
                )
            except ProviderRefused:
                continue  # this row's lookup: the others may still answer; asked again later
            except ProviderUnreachable:
                return stored  # the provider, not the row: the next pass goes on from here
            if report is None or report.status == "pending":
                continue
            with self.db.transaction() as session:
                fresh = session.get(NotificationRow, row.id)
                if fresh is None or fresh.state != S.ACCEPTED:
                    continue
                session.add(
                    DeliveryReportRow(
                        notification_id=row.id,
                        status=report.status,
                        err_code=report.err_code[:64],
                        received_at=report.received_at,
                        recorded_at=now,
                    )
                )
                fresh.reported_at = now
                if report.status == "delivered":
                    fresh.state = S.DELIVERED
                else:
                    fresh.state, fresh.last_error = S.UNDELIVERED, f"handset: {report.err_code}"
                    log.error("sms %s to %s not delivered (%s)", row.kind,
                              mask_phone(row.phone), report.err_code)  # fmt: skip
            stored += 1
        return stored
