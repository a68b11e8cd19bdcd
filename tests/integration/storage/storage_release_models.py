"""The backend's tables as the first release shipped them (frozen; never edit).

A database made by that release's create_all from these models is what an upgrade starts from:
the migration tests fill one with rows and upgrade it.
"""

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


class Application(Base):
    __tablename__ = "applications"

    application_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(32))
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
    submitted_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Bumped by every update (optimistic locking): a staff action names the version it saw.
    version: Mapped[int] = mapped_column(default=1)

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


class BlobChunkRow(Base):
    """A received chunk, kept only until its blob is assembled."""

    __tablename__ = "blob_chunks"

    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), primary_key=True)
    index: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


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
    status: Mapped[str] = mapped_column(String(16), default="pending")
    detail: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acked_at: Mapped[datetime | None]


class RejectedMessage(Base):
    """An upstream message that was refused; its content is not kept (it may be personal)."""

    __tablename__ = "rejected_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(300))
    size: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlarmRow(Base):
    __tablename__ = "alarms"

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    operation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    compartment_id: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    promised_by: Mapped[date]
    calendar_covered: Mapped[bool] = mapped_column(default=True)


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
    connection: Mapped[int] = mapped_column(Integer)


# From the release's backend/dead_letters.py and backend/notifications/models.py.


class DeadLetter(Base):
    """One upstream message ingest gave up on, with its payload so it can be replayed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(32))
    # The payload may hold personal data, like the applications table: never logged or listed.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int]
    reason: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int]
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replayed_by: Mapped[str | None] = mapped_column(String(64))
    replay_outcome: Mapped[str | None] = mapped_column(String(300))


class NotificationState:
    QUEUED = "queued"  # waiting for its turn, a rate limit or a retry
    SENDING = "sending"  # handed to the provider, answer not yet recorded
    ACCEPTED = "accepted"  # the provider took it (BizId known)
    DELIVERED = "delivered"  # the handset's delivery report says received
    UNDELIVERED = "undelivered"  # the delivery report says it failed
    DEAD = "dead"  # given up: staff must reach the citizen another way

    WAITING = (QUEUED, SENDING)


class NotificationRow(Base):
    """One SMS to an applicant, written in the transaction of the change that causes it."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_state_due", "state", "next_attempt_at"),
        Index("ix_notifications_phone_sent", "phone", "kind", "accepted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    out_id: Mapped[str] = mapped_column(String(32), unique=True)  # the provider's OutId
    # Set for scheduled reminders so that a job run twice still queues one message.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    application_no: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    template_code: Mapped[str | None] = mapped_column(String(32))  # the provider's, once sent
    params: Mapped[dict[str, Any]]  # the template variables that are not secret
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # secret ones, AES-GCM
    secret_names: Mapped[str] = mapped_column(String(64), default="")  # e.g. "code"
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    attempted_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[str | None] = mapped_column(String(16))
    biz_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]


class DeliveryReportRow(Base):
    """What the provider said about one accepted message's delivery to the handset."""

    __tablename__ = "notification_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # delivered | undelivered | pending
    err_code: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobLease(Base):
    """Which backend worker runs the cluster-wide jobs (dispatch, reminders) until when."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
