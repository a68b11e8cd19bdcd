"""Tables of the backend, as typed SQLAlchemy 2 declarative models (portable SQL only)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite returns naive values, so re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class Terminal(Base):
    __tablename__ = "terminals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pickup_code_key: Mapped[bytes] = mapped_column(LargeBinary)
    last_status: Mapped[str | None] = mapped_column(String(16))
    software_version: Mapped[str | None] = mapped_column(String(32))
    last_seen_at: Mapped[datetime | None]
    status_sent_at: Mapped[datetime | None]
    telemetry: Mapped[dict[str, Any] | None]
    telemetry_sent_at: Mapped[datetime | None]
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Presence (backend/presence.py): when a status or heartbeat last arrived, by the
    # backend's clock; the keep-alive the terminal announced; why and since when it is offline.
    last_heard_at: Mapped[datetime | None]
    keepalive_s: Mapped[int | None]
    silent_after: Mapped[datetime | None] = mapped_column(index=True)  # heard + 1.5 keep-alive
    presence_reason: Mapped[str | None] = mapped_column(String(32))
    offline_since: Mapped[datetime | None] = mapped_column(index=True)
    # Heard + 2/3 keep-alive: a terminal not heard from by then is degraded (heartbeats late).
    late_after: Mapped[datetime | None] = mapped_column(index=True)
    # The presence and connection last written to presence_transitions: a heartbeat saying the
    # same again is no transition.
    presence_state: Mapped[str | None] = mapped_column(String(16))
    presence_connection: Mapped[int | None] = mapped_column(BigInteger)


class Application(Base):
    __tablename__ = "applications"

    application_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(32), index=True)  # a queue filter
    applicant_name: Mapped[str] = mapped_column(String(64))
    id_document_type: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    # applicant_ref.digest(applicant key, document type, number): how reuse finds the applicant.
    applicant_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    identity: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(32), index=True)
    deposit_expected: Mapped[bool] = mapped_column(default=False)
    deposit_compartment_id: Mapped[str | None] = mapped_column(String(16))
    deposited_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime] = mapped_column(index=True)  # the queue's order
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Bumped by every update (optimistic locking): a staff action names the version it saw.
    version: Mapped[int] = mapped_column(default=1)
    # Set when the retention job erased the applicant's data and scans (backend/retention.py).
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(index=True)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}


class Material(Base):
    __tablename__ = "materials"
    __table_args__ = (Index("ix_materials_sha256", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    material_code: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int]
    verified: Mapped[bool] = mapped_column(default=False)
    # Reuse (材料复用): the opaque handle offered to terminals, the last day it may be offered,
    # and, for a material taken from an earlier application, the row it links (same blob).
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    valid_until: Mapped[date | None]
    reused_from: Mapped[int | None] = mapped_column(ForeignKey("materials.id"))


class MaterialSupplement(Base):
    """A required material the applicant still owes, and the day it is due (容缺)."""

    __tablename__ = "material_supplements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    material_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))  # tolerated | reuse_invalid
    working_days: Mapped[int]
    due_on: Mapped[date] = mapped_column(index=True)
    calendar_covered: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(String(200), default="")  # why a reuse was not honoured
    supplied_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RequestedMaterial(Base):
    """A material staff asked for in a supplement request (补正), and when it arrived.

    Named from the item's list with a reason code from the fixed list (never free text); the
    request's clock restarts by itself once every material of the open request has arrived.
    """

    __tablename__ = "requested_materials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    material_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))  # a code of staff.REASONS
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    supplied_at: Mapped[datetime | None]
    # Set when the request ended without the material (staff resumed, rejected the case...).
    closed_at: Mapped[datetime | None]


class StepDeadline(Base):
    """One step of a case (受理, 审核, 决定, 出件) and the working day it is promised by."""

    __tablename__ = "step_deadlines"

    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(16), primary_key=True)  # accept|review|decide|result
    days: Mapped[int]  # working days from the submission
    due_on: Mapped[date] = mapped_column(index=True)
    done_at: Mapped[datetime | None]


class ReuseQueryLog(Base):
    """Who asked which applicant's materials, when, and how many were offered (PIPL audit)."""

    __tablename__ = "reuse_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(64), index=True)
    operation_id: Mapped[str] = mapped_column(String(128))
    applicant_ref: Mapped[str] = mapped_column(String(64), index=True)
    offered: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class BackendKey(Base):
    """Secrets the backend keeps for itself, e.g. the fleet's applicant key."""

    __tablename__ = "backend_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Blob(Base):
    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    total_size: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int]
    complete: Mapped[bool] = mapped_column(default=False)
    verified: Mapped[bool] = mapped_column(default=False)
    storage_path: Mapped[str | None] = mapped_column(String(255))
    failures: Mapped[int] = mapped_column(default=0)
    first_chunk_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    # The terminal whose chunks made the file whole while no application named it: its size
    # counts against that terminal's cap (backend/blobs.py) until retention finds the file
    # named and clears this, or deletes the file. "" for a file made whole before 0014.
    held_for: Mapped[str | None] = mapped_column(String(64), index=True)


class BlobChunkRow(Base):
    """A received chunk, kept only until its blob is assembled.

    Each terminal's upload of a file is its own: another terminal's chunks of the same file,
    agreeing or not, never mix with them. `terminal_id` "" marks chunks received before 0014,
    whose sender was not recorded; the first terminal to send that file again takes them over.
    """

    __tablename__ = "blob_chunks"

    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    index: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # What the upload announced (all its chunks agree), and when this chunk came.
    total_size: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedMessage(Base):
    """Every upstream message id applied, so a redelivery changes nothing."""

    __tablename__ = "processed_messages"

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowHistory(Base):
    __tablename__ = "workflow_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class LoadOperation(Base):
    __tablename__ = "load_operations"

    load_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"))
    compartment_id: Mapped[str | None] = mapped_column(String(16))
    size: Mapped[str] = mapped_column(String(1), default="S")
    status: Mapped[str] = mapped_column(String(16))
    code_rotation: Mapped[int] = mapped_column(default=0)
    code_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CommandRow(Base):
    """A command to a terminal: written with the state change, published after commit."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_status", "status"),)

    command_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"))
    type: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[str] = mapped_column(String(128), index=True)
    payload: Mapped[dict[str, Any]]
    # queued, sent, delivered, then done, failed or expired (backend/commands.py, ADR 0022).
    status: Mapped[str] = mapped_column(String(16), default="queued")
    detail: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # queued
    sent_at: Mapped[datetime | None]  # the broker's PUBACK
    delivered_at: Mapped[datetime | None]  # the terminal's "received"
    finished_at: Mapped[datetime | None]  # done, failed or expired
    # An operator's command (a configuration bundle, a rollback): who gave it and why; None
    # for the workflow's own commands.
    issued_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None]  # what the terminal's ack reported (diagnostics...)


class RejectedMessage(Base):
    """An upstream message that was refused; its content is not kept (it may be personal)."""

    __tablename__ = "rejected_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(300))
    size: Mapped[int]
    # Indexed for retention, which deletes rows older than `rejected_days`.
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AlarmRow(Base):
    """An alarm and its life (backend/alarms.py): open, acknowledged, cleared; repeats folded."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_state", "state"),)

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    operation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    compartment_id: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The device a backend-raised health alarm is about (printer, face_camera, …), folded apart.
    source: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default="open")
    occurrences: Mapped[int] = mapped_column(default=1)
    last_raised_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(64))
    cleared_at: Mapped[datetime | None]


class AlarmEvent(Base):
    """The audit trail of an alarm: raised, repeated, reopened, notified, acknowledged, cleared."""

    __tablename__ = "alarm_events"
    __table_args__ = (Index("ix_alarm_events_alarm", "terminal_id", "operation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestCounter(Base):
    """Running totals of ingest outcomes (stored, duplicate, rejected)."""

    __tablename__ = "ingest_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ApplicationPromise(Base):
    """The day the receipt promised, counted in working days from the submission (承诺时限)."""

    __tablename__ = "application_promises"

    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), primary_key=True
    )
    promised_days: Mapped[int]
    # Moved later by every clock stop: the working days a supplement request was pending.
    promised_by: Mapped[date] = mapped_column(index=True)
    calendar_covered: Mapped[bool] = mapped_column(default=True)
    paused_on: Mapped[date | None]  # the Beijing day a supplement request stopped the clock
    paused_days: Mapped[int] = mapped_column(default=0)  # working days not counted so far


class StatusQueryLog(Base):
    """Every progress query (audit), and the count of wrong phone tails that limits guessing.

    The typed tail itself is never kept; the application number may be one nobody holds.
    """

    __tablename__ = "status_queries"
    __table_args__ = (Index("ix_status_queries_no_at", "application_no", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(64), index=True)
    operation_id: Mapped[str] = mapped_column(String(128))
    application_no: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # answered | unknown | wrong_tail | locked
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceRating(Base):
    """A citizen's satisfaction rating (好差评): one per application."""

    __tablename__ = "service_ratings"

    application_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[int]
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    rated_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A low score is followed up (核实整改) until a supervisor closes it with what was done.
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closure_note: Mapped[str] = mapped_column(Text, default="")


class StaffAccount(Base):
    """A person who signs in to the console: argon2 hash, roles, and the forced first change."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=True)
    disabled_at: Mapped[datetime | None]
    # Where deadline notices reach them besides the console, each by their own choice.
    phone: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    notify_by: Mapped[list[str]] = mapped_column(JSON, default=list)  # "sms", "email"
    password_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffSession(Base):
    """A console sign-in; only the SHA-256 of the cookie's secret is stored."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class StaffApiToken(Base):
    """A personal API token for scripts; only its SHA-256 is stored."""

    __tablename__ = "staff_api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where it was asked for: the client address ("" from the command line, or made before
    # this was kept) and the console session's id hash (None: no session asked).
    created_from: Mapped[str] = mapped_column(String(64), default="")
    created_in_session: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed sign-ins per account or per client address, and the lock they earned."""

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(String(128), primary_key=True)  # account:x | address:y
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]


class StaffAction(Base):
    """Every staff action on an application, by idempotency key: who, what, why, the outcome."""

    __tablename__ = "staff_actions"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    application_no: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    version_seen: Mapped[int | None]
    outcome: Mapped[dict[str, Any]]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DownstreamSequence(Base):
    """The last sequence number signed into a command for each terminal (strictly increasing)."""

    __tablename__ = "downstream_sequences"

    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class TerminalConnection(Base):
    """The highest MQTT connection number seen in a terminal's status (presence order)."""

    __tablename__ = "terminal_connections"

    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Up to 2**53 (the contract's bound), beyond a 32-bit INTEGER.
    connection: Mapped[int] = mapped_column(BigInteger)
    # That connection's offline status arrived: no later status of it can bring it back.
    ended: Mapped[bool] = mapped_column(default=False)


class PresenceTransition(Base):
    """A terminal going online, degraded or offline (backend/presence.py), with why and on which
    connection; the last `PresenceSettings.history_keep` per terminal, at most
    `history_days` old, are kept (pruned by the presence monitor, one worker at a time)."""

    __tablename__ = "presence_transitions"
    __table_args__ = (Index("ix_presence_transitions_terminal", "terminal_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # online | degraded | offline
    reason: Mapped[str] = mapped_column(String(200), default="")
    connection: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(index=True)


class CaseClaim(Base):
    """Who works a case: claimed by a clerk, or assigned by a supervisor; one holder at a time."""

    __tablename__ = "case_claims"

    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Escalation(Base):
    """A deadline warning raised on a case: to its clerk first, to supervisors if nothing moves."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_case", "application_no", "colour", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(ForeignKey("applications.application_no"))
    colour: Mapped[str] = mapped_column(String(8))  # blue | yellow | red
    level: Mapped[str] = mapped_column(String(16))  # clerk | supervisor
    cause: Mapped[str] = mapped_column(String(16))  # deadline | owed (a 容缺 material) | step
    # The step whose deadline raised it (StepDeadline.step); None: the whole case's.
    step: Mapped[str | None] = mapped_column(String(16))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None]


class StaffNotice(Base):
    """A notification to one staff member, shown in the console until read."""

    __tablename__ = "staff_notices"
    __table_args__ = (Index("ix_staff_notices_staff_read", "staff_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    kind: Mapped[str] = mapped_column(String(32))  # escalation.clerk | escalation.supervisor
    application_no: Mapped[str] = mapped_column(String(64))
    colour: Mapped[str] = mapped_column(String(8))
    step: Mapped[str | None] = mapped_column(String(16))  # the step whose deadline; None: case
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # A security notice's subject: the person whose views of personal data passed the signal
    # (backend/staff.py ViewLimits); None for an escalation.
    about_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", name="fk_staff_notices_about_staff_id")
    )


class StaffEmail(Base):
    """A notice to a staff member by e-mail, kept until the SMTP server accepted it.

    Fixed wording only (no free text); `dedupe_key` keeps one per person, case, step, level
    and colour however often the escalation job runs. A refused or failed send is retried
    later, never dropped.
    """

    __tablename__ = "staff_emails"
    __table_args__ = (Index("ix_staff_emails_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    to_address: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(32))
    application_no: Mapped[str] = mapped_column(String(64))
    colour: Mapped[str] = mapped_column(String(8))
    step: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class TerminalSignInCode(Base):
    """A one-time code the console showed a staff member, to sign in at a terminal.

    Only a keyed digest of the code is kept. Single use: `used_at` is set by the sign-in.
    """

    __tablename__ = "terminal_sign_in_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    terminal_id: Mapped[str | None] = mapped_column(String(64))  # None: any terminal
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_terminal: Mapped[str | None] = mapped_column(String(64))


class TerminalSignIn(Base):
    """Every staff sign-in tried at a terminal (audit), and the misses that limit guessing.

    The typed code itself is never kept. `operation_id` is the request's: the terminal names
    the sign-in by it when it reports what that person did.
    """

    __tablename__ = "terminal_sign_ins"
    __table_args__ = (Index("ix_terminal_sign_ins_terminal_at", "terminal_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | wrong | throttled | ...
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DepositCollection(Base):
    """Paper originals taken out of their compartment at a terminal, and by whom."""

    __tablename__ = "deposit_collections"

    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), primary_key=True
    )
    terminal_id: Mapped[str] = mapped_column(String(64))
    compartment_id: Mapped[str] = mapped_column(String(16))
    collected_at: Mapped[datetime]
    collected_by: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetentionRun(Base):
    """One pass of the retention job (PIPL): what it erased and by which rule (audit)."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    worker_id: Mapped[str] = mapped_column(String(64))
    retention_days: Mapped[int]
    closed_before: Mapped[datetime]
    applications: Mapped[int]
    scans_deleted: Mapped[int]
    bytes_freed: Mapped[int] = mapped_column(BigInteger)
    dead_letters: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
