"""Broker-free ingest of upstream messages: decode, dedupe, apply, count, answer with receipts."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

from .blobs import BlobIntake, BlobStore
from .commands import CommandPublisher
from .db import Database
from .effects import AfterCommit
from .fleet import register_terminal
from .models import (
    AlarmRow,
    Application,
    Blob,
    CommandRow,
    IngestCounter,
    LoadOperation,
    Material,
    ProcessedMessage,
    RejectedMessage,
    Terminal,
    WorkflowHistory,
    utcnow,
)
from .outcomes import DUPLICATE, REJECTED, STORED, Applied, Refused
from .sms import SmsSender
from .workflow import LoadStatus, State, Workflow, WorkflowError, WorkflowSettings

log = logging.getLogger(__name__)

# Past this we do not even try to read a message id out of a refused payload.
_MAX_PEEK_BYTES = 8 * m.MAX_MESSAGE_BYTES
_MESSAGE_ID_LEN = 32


@dataclass
class IngestResult:
    """Receipt items per terminal, to publish after commit, and the batch's counts."""

    receipts: dict[str, list[m.ReceiptItem]] = field(default_factory=dict)
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0

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

    def receipt_messages(self, max_items: int = 500) -> list[m.Receipt]:
        """The Receipt messages to publish, at most `max_items` items each."""
        out = []
        for terminal_id, items in self.receipts.items():
            for start in range(0, len(items), max_items):
                out.append(
                    m.Receipt(terminal_id=terminal_id, items=items[start : start + max_items])
                )
        return out


def _peek_message_id(payload: bytes) -> str | None:
    if len(payload) > _MAX_PEEK_BYTES:
        return None
    try:
        value = json.loads(payload).get("message_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    ok = isinstance(value, str) and len(value) == _MESSAGE_ID_LEN
    return value if ok and all(c in "0123456789abcdef" for c in value) else None


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
    ):
        self.db, self.blobs, self.sms, self.publisher = db, blobs, sms, publisher
        self.settings = settings or WorkflowSettings()
        self.clock = clock
        self._blob_intake = BlobIntake(blobs, clock)
        self._handlers: dict[type[m.Message], Callable[..., Applied]] = {
            m.Status: self._status,
            m.Telemetry: self._telemetry,
            m.ApplicationSubmitted: self._application_submitted,
            m.MaterialsDeposited: self._materials_deposited,
            m.ResultLoaded: self._result_loaded,
            m.ResultPickedUp: self._result_picked_up,
            m.Alarm: self._alarm,
            m.BlobChunk: self._blob_chunk,
            m.CommandAck: self._command_ack,
        }

    def register_terminal(self, terminal_id: str, pickup_code_key: bytes) -> None:
        """Let `terminal_id` be heard; messages from unregistered terminals are refused."""
        with self.db.transaction() as session:
            register_terminal(session, terminal_id, pickup_code_key)

    def handle_batch(self, items: list[tuple[str, bytes]]) -> IngestResult:
        """Apply a batch in one transaction; commands and SMS go out only after it commits."""
        result = IngestResult()
        after = AfterCommit()
        with self.db.transaction() as session:
            for topic, payload in items:
                self._one(session, topic, payload, result, after)
            self._count(session, result)
        after.deliver(self.publisher, self.sms)
        return result

    # ------------------------------------------------------------ per message

    def _one(
        self,
        session: Session,
        topic: str,
        payload: bytes,
        result: IngestResult,
        after: AfterCommit,
    ) -> None:
        try:
            message = m.decode_from(topic, payload)
        except m.MalformedMessage as exc:
            self._reject(session, result, topic, len(payload), exc.reason, None, payload)
            return
        terminal_id, message_id = message.terminal_id, message.message_id
        if session.get(ProcessedMessage, message_id) is not None:
            result.add(terminal_id, message_id, DUPLICATE)
            return
        mine = AfterCommit()
        try:
            with session.begin_nested():
                terminal = session.get(Terminal, terminal_id)
                if terminal is None:
                    raise Refused(f"terminal {terminal_id} is not registered")
                applied = self._handlers[type(message)](session, message, terminal, mine)
                if applied.outcome != REJECTED:
                    session.add(
                        ProcessedMessage(
                            message_id=message_id,
                            terminal_id=terminal_id,
                            type=m.type_name(type(message)),
                            outcome=applied.outcome.value,
                            processed_at=self.clock(),
                        )
                    )
                session.flush()
        except (Refused, WorkflowError, m.MalformedMessage) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            self._reject(session, result, topic, len(payload), reason, message_id)
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
        after.extend(mine)
        result.add(terminal_id, message_id, applied.outcome)

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
        # The reason names fields and kinds only; the payload itself is never logged or kept.
        log.warning("rejected %d-byte message on %s: %s", size, topic[:200], reason)
        session.add(
            RejectedMessage(
                topic=topic[:255],
                terminal_id=terminal_id,
                message_id=message_id,
                reason=reason[:300],
                size=size,
                received_at=self.clock(),
            )
        )
        result.add(terminal_id, message_id, REJECTED, reason)

    def _count(self, session: Session, result: IngestResult) -> None:
        for name in ("stored", "duplicate", "rejected"):
            n = getattr(result, name)
            if not n:
                continue
            counter = session.get(IngestCounter, name)
            if counter is None:
                session.add(IngestCounter(name=name, value=n))
            else:
                counter.value += n

    def _workflow(self, session: Session, after: AfterCommit) -> Workflow:
        return Workflow(session, after, self.settings, self.clock)

    # ------------------------------------------------------------ handlers

    def _status(
        self, session: Session, msg: m.Status, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        # Arrival order, not sent_at: a last will carries the time of the connect that set it.
        terminal.last_status = msg.state.value
        terminal.software_version = msg.software_version
        terminal.status_sent_at = msg.sent_at
        if msg.state == m.TerminalState.ONLINE:
            terminal.last_seen_at = max(filter(None, (terminal.last_seen_at, msg.sent_at)))
        return Applied(STORED)

    def _telemetry(
        self, session: Session, msg: m.Telemetry, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        if terminal.telemetry_sent_at is None or msg.sent_at >= terminal.telemetry_sent_at:
            terminal.telemetry = msg.model_dump(
                mode="json", exclude={"schema_version", "type", "message_id", "terminal_id"}
            )
            terminal.telemetry_sent_at = msg.sent_at
        terminal.last_seen_at = max(filter(None, (terminal.last_seen_at, msg.sent_at)))
        return Applied(STORED)

    def _application_submitted(
        self, session: Session, msg: m.ApplicationSubmitted, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        existing = session.get(Application, msg.application_no)
        if existing is not None:
            if existing.terminal_id != terminal.id:
                raise Refused(f"application {msg.application_no} belongs to another terminal")
            return Applied(DUPLICATE)
        a = msg.applicant
        session.add(
            Application(
                application_no=msg.application_no,
                terminal_id=terminal.id,
                item_code=msg.item_code,
                applicant_name=a.name,
                id_document_type=a.id_document_type.value,
                id_number=a.id_number,
                phone=a.phone,
                identity=msg.identity.model_dump(mode="json"),
                status=State.SUBMITTED,
                deposit_expected=msg.deposit_expected,
                submitted_at=msg.submitted_at,
                received_at=self.clock(),
            )
        )
        verified = {
            b.sha256
            for b in session.scalars(
                select(Blob).where(
                    Blob.sha256.in_([x.sha256 for x in msg.materials]), Blob.verified.is_(True)
                )
            )
        }
        for ref in msg.materials:
            session.add(
                Material(
                    application_no=msg.application_no,
                    material_code=ref.material_code,
                    sha256=ref.sha256,
                    size=ref.size,
                    content_type=ref.content_type,
                    pages=ref.pages,
                    verified=ref.sha256 in verified,
                )
            )
        session.add(
            WorkflowHistory(
                application_no=msg.application_no,
                from_state=None,
                to_state=State.SUBMITTED,
                actor=f"terminal:{terminal.id}",
                note=f"item {msg.item_code}, identity {msg.identity.method.value}",
                at=self.clock(),
            )
        )
        return Applied(STORED)

    def _application_of(self, session: Session, no: str, terminal: Terminal) -> Application:
        app = session.get(Application, no)
        if app is None or app.terminal_id != terminal.id:
            raise Refused(f"no application {no} from terminal {terminal.id}")
        return app

    def _materials_deposited(
        self, session: Session, msg: m.MaterialsDeposited, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        app = self._application_of(session, msg.application_no, terminal)
        if app.deposit_compartment_id is not None:
            return Applied(DUPLICATE)
        app.deposit_compartment_id, app.deposited_at = msg.compartment_id, msg.deposited_at
        session.add(
            WorkflowHistory(
                application_no=app.application_no,
                from_state=app.status,
                to_state=app.status,
                actor=f"terminal:{terminal.id}",
                note=f"originals deposited in {msg.compartment_id}",
                at=self.clock(),
            )
        )
        return Applied(STORED)

    def _load_of(
        self, session: Session, msg: m.ResultLoaded | m.ResultPickedUp, terminal: Terminal
    ) -> LoadOperation | None:
        load = session.get(LoadOperation, msg.load_id)
        if load is not None and (
            load.terminal_id != terminal.id or load.application_no != msg.application_no
        ):
            raise Refused(f"load {msg.load_id} is not for this terminal and application")
        return load

    def _result_loaded(
        self, session: Session, msg: m.ResultLoaded, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        load = self._load_of(session, msg, terminal)
        if load is None:
            # Loaded in terminal service mode, without a LoadResult command from us.
            self._application_of(session, msg.application_no, terminal)
            load = LoadOperation(
                load_id=msg.load_id,
                application_no=msg.application_no,
                terminal_id=terminal.id,
                status=LoadStatus.RESERVED,
            )
            session.add(load)
        elif load.status in (LoadStatus.LOADED, LoadStatus.PICKED_UP, LoadStatus.WITHDRAWN):
            return Applied(DUPLICATE)
        self._workflow(session, after).result_loaded(
            load, msg.compartment_id, f"terminal:{terminal.id}"
        )
        return Applied(STORED)

    def _result_picked_up(
        self, session: Session, msg: m.ResultPickedUp, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        load = self._load_of(session, msg, terminal)
        if load is None:
            raise Refused(f"unknown load {msg.load_id}")
        if load.status == LoadStatus.PICKED_UP:
            return Applied(DUPLICATE)
        self._workflow(session, after).picked_up(load, f"terminal:{terminal.id}")
        return Applied(STORED)

    def _alarm(
        self, session: Session, msg: m.Alarm, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        if session.get(AlarmRow, (terminal.id, msg.operation_id)) is not None:
            return Applied(DUPLICATE)
        session.add(
            AlarmRow(
                terminal_id=terminal.id,
                operation_id=msg.operation_id,
                kind=msg.kind.value,
                severity=msg.severity.value,
                compartment_id=msg.compartment_id,
                detail=msg.detail,
                raised_at=msg.raised_at,
                received_at=self.clock(),
            )
        )
        log.warning(
            "alarm %s (%s) on terminal %s, compartment %s",
            msg.kind.value,
            msg.severity.value,
            terminal.id,
            msg.compartment_id or "-",
        )
        return Applied(STORED)

    def _blob_chunk(
        self, session: Session, msg: m.BlobChunk, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        return self._blob_intake.accept(session, msg)

    def _command_ack(
        self, session: Session, msg: m.CommandAck, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        row = session.get(CommandRow, msg.command_id)
        if row is None or row.terminal_id != terminal.id:
            raise Refused(f"no command {msg.command_id} for terminal {terminal.id}")
        if row.acked_at is not None:
            return Applied(DUPLICATE)
        row.status, row.detail, row.acked_at = msg.outcome.value, msg.detail, self.clock()
        if row.type == m.type_name(m.LoadResult):
            load = session.get(LoadOperation, row.payload["load_id"])
            if load is not None and load.status == LoadStatus.PENDING:
                if msg.outcome == m.AckOutcome.DONE:
                    load.status = LoadStatus.RESERVED
                    load.compartment_id = msg.result.get("compartment_id") or load.compartment_id
                else:
                    load.status = LoadStatus.FAILED
        return Applied(STORED)
