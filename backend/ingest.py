"""Broker-free ingest of upstream messages: decode, dedupe, apply, count, answer with receipts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

from . import dead_letters
from .alarms import LIVE, Alarms
from .blobs import (
    VERIFIED_BLOBS,
    BlobLimits,
    BlobStore,
    OverCap,
    drop_unused,
    hold_files,
    hold_uploads,
)
from .commands import CommandPublisher
from .db import Database
from .effects import AfterCommit
from .fleet import register_terminal
from .flushing import flush_parents_first, holding, insert_row, pending
from .handlers import NEW_APPLICATIONS, UpstreamHandlers
from .models import (
    AlarmRow,
    Application,
    IngestCounter,
    ProcessedMessage,
    RejectedMessage,
    Terminal,
    utcnow,
)
from .outcomes import DUPLICATE, REJECTED, STORED, Applied, Conflict, NotYet, Refused
from .owing import OwingApplications
from .presence import Presence
from .progress import ApplicationProgress, ProgressSettings
from .ratings import ServiceRatings
from .reuse import MaterialsOnFile, ReuseSettings, load_or_create_applicant_key
from .security_alarms import raise_security_alarm
from .sms import SmsSender
from .supplements import Supplements
from .terminal_service import DepositCollections
from .terminal_sign_in import TerminalSignIns, load_or_create_code_key
from .workflow import WorkflowError, WorkflowSettings

log = logging.getLogger(__name__)

# How long a message about something not stored yet is answered with no receipt (so its
# terminal sends it again) before it is refused, counted from when this worker first saw it.
NOT_YET_FOR = timedelta(minutes=15)
_NOT_YET_KEPT = 10_000  # message ids remembered for that; the oldest are forgotten first
# Past this we do not even try to read a message id out of a refused payload.
_MAX_PEEK_BYTES = 8 * m.MAX_MESSAGE_BYTES
_MESSAGE_ID_LEN = 32
# The operation id of a terminal's over-cap alarm: this, then the first refused chunk's id.
_OVER_CAP = "BLOB-CAP-"
# Refused messages recorded (a row and a log line each) per terminal in an hour; past it they
# are counted only. A terminal's own faults refuse a few; a stolen certificate sending junk as
# fast as the broker takes it (thousands a second) would fill the table and the log.
REJECTIONS_RECORDED_PER_HOUR = 1000
_REJECTIONS = "rejections_this_hour"  # session.info: terminal -> refused so far this hour


@dataclass
class IngestResult:
    """Receipt items per terminal, to publish after commit, and the batch's counts."""

    receipts: dict[str, list[m.ReceiptItem]] = field(default_factory=dict)
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    # Messages answered with no receipt, to come again (NotYet).
    deferred: int = 0

    def add(
        self,
        terminal_id: str | None,
        message_id: str | None,
        outcome: m.ReceiptOutcome,
        reason: str = "",
    ) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
        if terminal_id and message_id:
            item = m.ReceiptItem(message_id=message_id, outcome=outcome, reason=reason[:300])
            self.receipts.setdefault(terminal_id, []).append(item)

    def receipt_messages(self, max_items: int = 500) -> list[m.Settlement]:
        """The Settlement messages to publish, at most `max_items` items each."""
        out = []
        for terminal_id, items in self.receipts.items():
            for start in range(0, len(items), max_items):
                out.append(
                    m.Settlement(terminal_id=terminal_id, items=items[start : start + max_items])
                )
        return out


def _peek_message_id(payload: bytes) -> str | None:
    if len(payload) > _MAX_PEEK_BYTES:
        return None
    try:
        value = json.loads(payload).get("message_id")
    except (ValueError, AttributeError, RecursionError):
        # RecursionError: a deeply nested array (`[[[...]]]`) exhausts json's C scanner; it
        # once escaped here and stopped all ingest.
        return None
    ok = isinstance(value, str) and len(value) == _MESSAGE_ID_LEN
    return value if ok and all(c in "0123456789abcdef" for c in value) else None


# Types applied together (see `Ingest.handle_batch`): their handlers read only rows that
# no other message of a batch writes, or rows by key, where a second insert of one key
# within the batch fails the flush and the batch is applied apart. Blob chunks do read what
# the batch's earlier chunks wrote: `BlobIntake` keeps that for the batch itself, and flushes
# the batch before it assembles a file. Everything else (acks, locker events, requests) keeps
# a savepoint of its own, and before it the batch so far is flushed, so it reads what came
# before it.
_TOGETHER = (m.ApplicationSubmitted, m.ServiceRated, m.BlobChunk)


def _add_to_counter(session: Session, name: str, n: int) -> None:
    """value += n in the database itself: workers on PostgreSQL commit at the same time, and a
    read-then-write from two of them lost one's count."""
    added = session.execute(
        update(IngestCounter)
        .where(IngestCounter.name == name)
        .values(value=IngestCounter.value + n)
        .execution_options(synchronize_session=False)
    )
    if added.rowcount == 1:
        return
    try:
        with session.begin_nested():
            session.add(IngestCounter(name=name, value=n))
    except IntegrityError:  # another worker made the row first
        session.execute(
            update(IngestCounter)
            .where(IngestCounter.name == name)
            .values(value=IngestCounter.value + n)
            .execution_options(synchronize_session=False)
        )


class DeadLetterReplayFailed(Exception):
    """A replayed dead letter failed again; it stays a dead letter, its attempt counted."""


def failure_kind(exc: BaseException) -> str:
    """An exception named by its types only: database errors echo their parameters."""
    cause = getattr(exc, "orig", None)
    return type(exc).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


def _decode(topic: str, payload: bytes) -> m.Message | m.MalformedMessage:
    try:
        return m.decode_from(topic, payload)
    except m.MalformedMessage as exc:
        return exc


class _Batch:
    """What one batch looks up once instead of per message: seen message ids, terminals."""

    def __init__(self, session: Session, decoded: list[tuple[str, bytes, Any]]):
        self._session = session
        ids = [x.message_id for _t, _p, x in decoded if isinstance(x, m.Message)]
        query = select(ProcessedMessage.message_id).where(ProcessedMessage.message_id.in_(ids))
        self.processed: set[str] = set(session.scalars(query)) if ids else set()
        self._terminals: dict[str, Terminal | None] = {}
        numbers = {
            x.application_no for _t, _p, x in decoded if isinstance(x, m.ApplicationSubmitted)
        }
        if numbers:
            query = select(Application.application_no).where(
                Application.application_no.in_(numbers)
            )
            session.info[NEW_APPLICATIONS] = numbers - set(session.scalars(query))
        # Every file the batch names or sends chunks of, locked at once (see `hold_files`).
        files = {
            ref.sha256: (ref.size, 0)
            for _t, _p, x in decoded
            if isinstance(x, m.ApplicationSubmitted | m.SupplementProvided)
            for ref in x.materials
        }
        files |= {
            x.sha256: (x.total_size, x.count)
            for _t, _p, x in decoded
            if isinstance(x, m.BlobChunk) and x.index < x.count
        }
        if files:
            session.info[VERIFIED_BLOBS] = hold_files(session, files)
        # And the uploads of every terminal sending chunks, for their cap (see `hold_uploads`).
        hold_uploads(
            session, {x.terminal_id for _t, _p, x in decoded if isinstance(x, m.BlobChunk)}
        )

    def terminal(self, terminal_id: str) -> Terminal | None:
        if terminal_id not in self._terminals:
            self._terminals[terminal_id] = self._session.get(Terminal, terminal_id)
        return self._terminals[terminal_id]


def _topic_terminal(topic: str) -> str | None:
    try:
        return topics.parse(topic).terminal_id
    except topics.TopicError:
        return None


class Ingest:
    """Applies batches of (topic, payload): one transaction per batch, a savepoint per message."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        sms: SmsSender,
        publisher: CommandPublisher,
        settings: WorkflowSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        reuse: MaterialsOnFile | None = None,
        progress: ApplicationProgress | None = None,
        alarms: Alarms | None = None,
        presence: Presence | None = None,
        blob_limits: BlobLimits | None = None,
    ):
        self.db, self.blobs, self.sms, self.publisher = db, blobs, sms, publisher
        self.settings = settings or WorkflowSettings()
        self.clock = clock
        self.reuse = reuse or MaterialsOnFile(
            ReuseSettings(load_or_create_applicant_key(db)), clock
        )
        self.progress = progress or ApplicationProgress(
            ProgressSettings(calendar=self.reuse.settings.calendar), clock
        )
        self.ratings = ServiceRatings(clock)
        self._waiting: OrderedDict[str, float] = OrderedDict()
        self._waiting_lock = threading.Lock()
        self.alarms = alarms or Alarms()
        self.presence = presence or Presence(self.alarms, clock=clock)
        self._handlers = UpstreamHandlers(
            blobs, self.settings, self.reuse, clock, self.alarms, self.presence, blob_limits
        ).by_type()
        self._handlers[m.ServiceRated] = self.ratings.record
        # Staff at the terminal: sign-in codes answered here, collections recorded with the name.
        self.sign_ins = TerminalSignIns(load_or_create_code_key(db), clock=clock)
        self._handlers[m.DepositCollected] = DepositCollections(clock).record
        # 容缺: owed materials brought later, at any terminal, to the same application.
        self._handlers[m.SupplementProvided] = Supplements(self.progress, clock).record
        # The applications a citizen identified by card and face still owes materials for.
        self.owing = OwingApplications(clock=clock)
        submitted = self._handlers[m.ApplicationSubmitted]

        def application_submitted(session, msg, terminal, after) -> Applied:
            # The promised-by day is kept beside the application, for progress queries.
            applied = submitted(session, msg, terminal, after)
            if applied.outcome == STORED:
                self.progress.record_promise(session, msg.application_no, msg)
            return applied

        self._handlers[m.ApplicationSubmitted] = application_submitted

    def _may_wait(self, message_id: str) -> bool:
        """Whether a NotYet message may still wait for what it needs (NOT_YET_FOR)."""
        now = time.monotonic()
        with self._waiting_lock:
            first = self._waiting.setdefault(message_id, now)
            while len(self._waiting) > _NOT_YET_KEPT:
                self._waiting.popitem(last=False)
        return now - first < NOT_YET_FOR.total_seconds()

    def register_terminal(self, terminal_id: str, pickup_code_key: bytes) -> None:
        """Let `terminal_id` be heard; messages from unregistered terminals are refused."""
        with self.db.transaction() as session:
            register_terminal(session, terminal_id, pickup_code_key)

    def handle_batch(self, items: list[tuple[str, bytes]]) -> IngestResult:
        """Apply a batch in one transaction; commands and SMS go out only after it commits.

        A batch is first applied together: messages of the types in `_TOGETHER` without a
        savepoint each and flushed once, which is most of ingest's speed. If any of them is
        refused, fails, or the flush fails (a key written twice within the batch), the
        transaction is rolled back and the batch applied apart, a savepoint per message, so
        one message's fault stays its own.
        """
        # Decoded before the transaction, so the write lock is held only for database work.
        decoded = [(topic, payload, _decode(topic, payload)) for topic, payload in items]
        applied: tuple[IngestResult, AfterCommit] | None = None
        if sum(isinstance(x, _TOGETHER) for _t, _p, x in decoded) > 1:
            try:
                applied = self._apply(decoded, together=True)
            except Exception as exc:
                log.info("batch of %d applied apart: %s", len(decoded), failure_kind(exc))
        if applied is None:
            applied = self._apply(decoded, together=False)
        result, after = applied
        after.deliver(self.publisher, self.sms)
        return result

    def _apply(
        self, decoded: list[tuple[str, bytes, Any]], together: bool
    ) -> tuple[IngestResult, AfterCommit]:
        result, after = IngestResult(), AfterCommit()
        with self.db.transaction() as session:
            batch = _Batch(session, decoded)
            for topic, payload, message in decoded:
                if together and isinstance(message, _TOGETHER):
                    # No autoflush: a query flushing before each message would cost what
                    # the savepoint saved. `_TOGETHER` says why its handlers need none. New
                    # rows are held out of the session until the flush (flushing.holding).
                    with session.no_autoflush, holding(session):
                        self._together(session, message, result, after, batch)
                else:
                    self._one(session, topic, payload, message, result, after, batch)
            flush_parents_first(session)
            drop_unused(session)
            self._count(session, result)
        return result, after

    def dead_letter(self, topic: str, payload: bytes, reason: str, attempts: int) -> IngestResult:
        """Give up on one message: keep it for replay and answer its terminal `rejected`."""
        result = IngestResult()
        terminal_id, message_id = _topic_terminal(topic), _peek_message_id(payload)
        log.error(
            "dead-lettered a %d-byte message on %s after %d attempts: %s",
            len(payload),
            topic[:200],
            attempts,
            reason,
        )
        with self.db.transaction() as session:
            dead_letters.record(
                session, topic, payload, reason, attempts, terminal_id, message_id, self.clock()
            )
            # The terminal keeps a rejected entry aside instead of sending it again and again.
            result.add(terminal_id, message_id, REJECTED, f"held for replay: {reason}")
            self._count(session, result, extra={"dead_lettered": 1})
        return result

    def replay(self, dead_letter_id: int, actor: str) -> str:
        """Ingest a dead letter again for `actor`; its outcome, or DeadLetterReplayFailed."""
        with self.db.transaction() as session:
            topic, payload = dead_letters.take_for_replay(session, dead_letter_id)
        try:
            result = self.handle_batch([(topic, payload)])
        except Exception as exc:
            reason = f"replay by {actor[:64]} failed: {failure_kind(exc)}"
            with self.db.transaction() as session:
                dead_letters.note_failed_replay(session, dead_letter_id, reason)
            raise DeadLetterReplayFailed(reason) from None
        outcome = next(
            (name for name in ("stored", "duplicate", "rejected") if getattr(result, name)),
            "stored",
        )
        reasons = [i.reason for items in result.receipts.values() for i in items if i.reason]
        if reasons:
            outcome = f"{outcome}: {reasons[0]}"
        with self.db.transaction() as session:
            dead_letters.mark_replayed(session, dead_letter_id, actor, outcome, self.clock())
        for receipt in result.receipt_messages():
            self.publisher.publish(receipt)
        return outcome

    # ------------------------------------------------------------ per message

    def _one(
        self,
        session: Session,
        topic: str,
        payload: bytes,
        message: m.Message | m.MalformedMessage,
        result: IngestResult,
        after: AfterCommit,
        batch: _Batch,
    ) -> None:
        """Apply one message in a savepoint of its own, after what came before is flushed."""
        if pending(session):
            flush_parents_first(session)
        if isinstance(message, m.MalformedMessage):
            self._reject(session, result, topic, len(payload), message.reason, None, payload)
            return
        terminal_id, message_id = message.terminal_id, message.message_id
        if isinstance(message, m.REQUEST_TYPES):
            self._request(session, message, after)
            return
        if message_id in batch.processed:
            result.add(terminal_id, message_id, DUPLICATE)
            return
        mine = AfterCommit()
        try:
            with session.begin_nested():
                applied = self._handle(session, message, mine, batch)
                flush_parents_first(session)
        except NotYet as exc:
            if self._may_wait(message_id):
                # No receipt: the terminal sends it again, by when what it needs is stored.
                log.info("%s from %s waits: %s", m.type_name(type(message)), terminal_id, exc)
                result.deferred += 1
                return
            self._reject(session, result, topic, len(payload), exc.reason, message_id)
            return
        except (Refused, WorkflowError, m.MalformedMessage) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            self._reject(session, result, topic, len(payload), reason, message_id)
            if isinstance(exc, Conflict):
                self._conflict_alarm(session, terminal_id, message_id, reason)
            elif isinstance(exc, OverCap):
                self._over_cap_alarm(session, terminal_id, message_id, reason)
            return
        except DBAPIError:
            raise  # the database itself failed: the whole batch is retried, nothing acked
        except Exception:
            log.exception("handler for %s failed", m.type_name(type(message)))
            self._reject(session, result, topic, len(payload), "internal error", message_id)
            return
        if applied.outcome == REJECTED:
            self._reject(session, result, topic, len(payload), applied.reason, message_id)
            return
        batch.processed.add(message_id)
        after.extend(mine)
        result.add(terminal_id, message_id, applied.outcome)

    def _together(
        self,
        session: Session,
        message: m.Message,
        result: IngestResult,
        after: AfterCommit,
        batch: _Batch,
    ) -> None:
        """Apply one message with the batch, no savepoint: any fault applies the batch apart."""
        if message.message_id in batch.processed:
            result.add(message.terminal_id, message.message_id, DUPLICATE)
            return
        mine = AfterCommit()
        applied = self._handle(session, message, mine, batch)
        if applied.outcome == REJECTED:
            raise Refused(applied.reason)
        batch.processed.add(message.message_id)
        after.extend(mine)
        result.add(message.terminal_id, message.message_id, applied.outcome)

    def _handle(
        self, session: Session, message: m.Message, mine: AfterCommit, batch: _Batch
    ) -> Applied:
        """Run the message's handler and keep its id, unless the handler rejected it."""
        terminal = batch.terminal(message.terminal_id)
        if terminal is None:
            raise Refused(f"terminal {message.terminal_id} is not registered")
        handler = self._handlers.get(type(message))
        if handler is None:
            raise Refused(f"{m.type_name(type(message))} is not an upstream message")
        applied = handler(session, message, terminal, mine)
        if applied.outcome != REJECTED:
            insert_row(
                session,
                ProcessedMessage,
                message_id=message.message_id,
                terminal_id=message.terminal_id,
                type=m.type_name(type(message)),
                outcome=applied.outcome.value,
                processed_at=self.clock(),
            )
        return applied

    def _conflict_alarm(
        self, session: Session, terminal_id: str, message_id: str, reason: str
    ) -> None:
        """A security alarm an operator sees; keyed by the message, so a resend adds none."""
        if session.get(Terminal, terminal_id) is None:
            return
        log.error("security: conflicting message %s from %s: %s", message_id, terminal_id, reason)
        raise_security_alarm(
            session,
            terminal_id,
            f"CONFLICT-{message_id}",
            f"conflicting message refused: {reason}",
            self.clock(),
            self.alarms,
        )

    def _over_cap_alarm(
        self, session: Session, terminal_id: str, message_id: str, reason: str
    ) -> None:
        """A security alarm when a terminal's chunks pass its cap (backend/blobs.py), none more
        while it is live: a terminal past its cap sends thousands of chunks. Once an operator
        clears it, the next chunk past the cap raises a new one."""
        live = select(AlarmRow.operation_id).where(
            AlarmRow.terminal_id == terminal_id,
            AlarmRow.operation_id.startswith(_OVER_CAP),
            AlarmRow.state.in_(LIVE),
        )
        if session.scalar(live.limit(1)) is not None:
            return
        log.error("security: chunks from %s refused past its cap: %s", terminal_id, reason)
        raise_security_alarm(
            session,
            terminal_id,
            f"{_OVER_CAP}{message_id}",
            f"blob chunks refused {reason}",
            self.clock(),
            self.alarms,
        )

    def _request(self, session: Session, message: m.Message, after: AfterCommit) -> None:
        """Answer a request: no receipt, no dedupe row; it changes nothing but the audit log."""
        response: m.Message | None
        try:
            with session.begin_nested():
                if session.get(Terminal, message.terminal_id) is None:
                    log.warning("request from unknown terminal %s ignored", message.terminal_id)
                    return
                if isinstance(message, m.ApplicationStatusQuery):
                    response = self.progress.answer(session, message)
                elif isinstance(message, m.StaffSignInQuery):
                    response = self.sign_ins.answer(session, message)
                elif isinstance(message, m.OwingApplicationsQuery):
                    response = self.owing.answer(session, message)
                else:
                    assert isinstance(message, m.MaterialsOnFileQuery)
                    response = self.reuse.answer(session, message)
                session.flush()
        except DBAPIError:
            raise
        except Exception:
            log.exception("answering %s failed", m.type_name(type(message)))
            return
        if response is not None:
            after.responses.append(response)

    def _reject(
        self,
        session: Session,
        result: IngestResult,
        topic: str,
        size: int,
        reason: str,
        message_id: str | None,
        payload: bytes | None = None,
    ) -> None:
        if message_id is None and payload is not None:
            message_id = _peek_message_id(payload)
        terminal_id = _topic_terminal(topic)
        result.add(terminal_id, message_id, REJECTED, reason)
        now = self.clock()
        seen: dict[str | None, int] = session.info.setdefault(_REJECTIONS, {})
        if terminal_id not in seen:
            seen[terminal_id] = session.scalar(
                select(func.count())
                .select_from(RejectedMessage)
                .where(
                    RejectedMessage.terminal_id == terminal_id,
                    RejectedMessage.received_at > now - timedelta(hours=1),
                )
            )
        seen[terminal_id] += 1
        if seen[terminal_id] > REJECTIONS_RECORDED_PER_HOUR + 1:
            return
        if seen[terminal_id] == REJECTIONS_RECORDED_PER_HOUR + 1:
            # Recorded once, as the row staff see last: it also tells later batches (which
            # count the rows) that the terminal is past its share, and the log says it once.
            reason = (
                f"{REJECTIONS_RECORDED_PER_HOUR} refused messages within the hour: more from "
                f"this terminal are counted, not recorded, until the hour has passed ({reason})"
            )
            log.error("terminal %s: %s", terminal_id, reason)
        else:
            # The reason names fields and kinds only; the payload is never logged or kept.
            log.warning("rejected %d-byte message on %s: %s", size, topic[:200], reason)
        session.add(
            RejectedMessage(
                topic=topic[:255],
                terminal_id=terminal_id,
                message_id=message_id,
                reason=reason[:300],
                size=size,
                received_at=now,
            )
        )

    def _count(
        self, session: Session, result: IngestResult, extra: dict[str, int] | None = None
    ) -> None:
        counts = {name: getattr(result, name) for name in ("stored", "duplicate", "rejected")}
        for name, n in {**counts, **(extra or {})}.items():
            if n:
                _add_to_counter(session, name, n)
