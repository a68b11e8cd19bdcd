"""Message models of wire contract v1.

Every message is one JSON object with the same envelope (`schema_version`, `type`,
`message_id`, `terminal_id`, `sent_at`); business messages add an `operation_id` that is kept
across retries, so every handler can be idempotent.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from . import topics

SCHEMA_VERSION = 1
# Mosquitto accepts far more, but nothing in v1 needs it: a bigger payload is an error or an attack.
MAX_MESSAGE_BYTES = 128 * 1024
# Raw bytes per blob chunk; base64 makes it 4/3 larger and still well inside MAX_MESSAGE_BYTES.
BLOB_CHUNK_BYTES = 48 * 1024
MAX_BLOB_BYTES = 64 * 1024 * 1024

TerminalId = Annotated[str, Field(pattern=topics.TERMINAL_ID.pattern, max_length=64)]
MessageId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
OperationId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:#-]+$")]
ApplicationNo = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{5,63}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CompartmentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9]{6,15}$")]
MaterialCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
# The backend's handle on a material it holds: opaque to the terminal, never a file hash.
MaterialReference = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
ContentType = Literal["application/pdf", "image/jpeg", "image/png"]
UtcTime = AwareDatetime


def new_message_id() -> str:
    """A fresh, unique message id (UUID4, 32 hex digits)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


# China Standard Time, no daylight saving: the service's calendar. Days counted on both sides
# (working-day deadlines, reuse validity, "submitted on") and times shown to citizens use it,
# whatever time zone a terminal's or the backend's operating system is set to.
SERVICE_TZ = timezone(timedelta(hours=8), "CST")


class MalformedMessage(ValueError):
    """A payload that is not a valid v1 message; `reason` says why without echoing its content."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Model(BaseModel):
    # hide_input_in_errors: a validation error must never print an ID number or a phone.
    # allow_inf_nan off: `1e999` parses as infinity, which no score or duration can be, and
    # which strict JSON (PostgreSQL, the REST answers) cannot even carry.
    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, allow_inf_nan=False
    )


ENVELOPE_FIELDS = ("schema_version", "type", "message_id", "terminal_id", "sent_at")


def _require_envelope(schema: dict[str, Any]) -> None:
    required = schema.setdefault("required", [])
    for name in ENVELOPE_FIELDS:
        if name in schema.get("properties", {}) and name not in required:
            required.append(name)


class Message(_Model):
    """The envelope every v1 message carries."""

    # The defaults serve senders building messages; on the wire every envelope field is
    # required (a missing message_id would defeat dedupe), hence the check in `decode`.
    model_config = ConfigDict(json_schema_extra=_require_envelope)

    channel: ClassVar[str]
    schema_version: Literal[1] = SCHEMA_VERSION
    message_id: MessageId = Field(default_factory=new_message_id)
    terminal_id: TerminalId
    sent_at: UtcTime = Field(default_factory=utcnow)

    def topic(self) -> str:
        """The contract topic this message is published on."""
        if self.channel == topics.EVENTS:
            return topics.event(self.terminal_id, self.type.removeprefix("event."))  # type: ignore[attr-defined]
        return topics.terminal_topic(self.terminal_id, self.channel)

    def encode(self) -> bytes:
        """Canonical JSON bytes of the message."""
        return self.model_dump_json(exclude_none=False).encode()


# ---------------------------------------------------------------- status and telemetry


class TerminalState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class PresenceReason(StrEnum):
    STOPPED = "stopped"
    CONNECTION_LOST = "connection_lost"
    SESSION_TAKEN_OVER = "session_taken_over"


class Status(Message):
    """Retained presence of a terminal; the broker publishes the `offline` one as last will."""

    channel: ClassVar[str] = topics.STATUS
    type: Literal["status"] = "status"
    state: TerminalState
    software_version: str = Field(max_length=32)
    since: UtcTime
    # Which MQTT connection of the terminal this status belongs to, counted up on the terminal
    # and kept across restarts: the will and the online status of one connection share it, so a
    # status of an earlier connection (a late will, or a replay) can be told from a newer one.
    connection: int | None = Field(default=None, ge=1, le=2**53)
    # The connection's MQTT keep-alive: the backend takes a terminal whose heartbeats (this
    # status again, not retained, every third of it) stop for 1.5 x this long as offline.
    keepalive_s: int | None = Field(default=None, ge=1, le=3600)
    # Why an offline status was sent: `stopped` (a clean stop) or `connection_lost` (the will).
    # On an online status, `session_taken_over` says the previous connection was pushed off by
    # another client using this terminal's identity.
    reason: PresenceReason | None = None


DiagnosticValue = Annotated[str, Field(max_length=120)] | int | float | bool | None


class DeviceHealth(_Model):
    """One device port's health: ok or not, why, and its diagnostics report (facts by name)."""

    ok: bool
    detail: str = Field(default="", max_length=200)
    data: dict[Annotated[str, Field(max_length=40)], DiagnosticValue] = Field(
        default_factory=dict, max_length=24
    )


class Telemetry(Message):
    """Periodic health report of a terminal."""

    channel: ClassVar[str] = topics.TELEMETRY
    type: Literal["telemetry"] = "telemetry"
    uptime_s: float = Field(ge=0)
    outbox_backlog: int = Field(ge=0)
    compartments: dict[str, int] = Field(default_factory=dict, description="count by state")
    devices: dict[str, DeviceHealth] = Field(default_factory=dict)
    lockout_remaining_s: float = Field(default=0, ge=0)
    # The data disk of the terminal (outbox, scans), and the configuration it runs.
    disk_free_bytes: int | None = Field(default=None, ge=0)
    disk_total_bytes: int | None = Field(default=None, ge=0)
    config_version: str | None = Field(default=None, max_length=64)


# ---------------------------------------------------------------- events


class IdDocumentType(StrEnum):
    CN_RESIDENT_ID = "cn_resident_id"
    PASSPORT = "passport"
    OTHER = "other"


class Applicant(_Model):
    """The person an application is for: only what the item needs."""

    name: str = Field(min_length=1, max_length=64)
    id_document_type: IdDocumentType
    id_number: str = Field(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9<]+$", repr=False)
    phone: Phone = Field(repr=False)


class IdentityMethod(StrEnum):
    FACE = "face"
    STAFF_ASSISTED = "staff_assisted"


class IdentityDecision(_Model):
    """How the applicant was identified: scores only, never images."""

    method: IdentityMethod
    verified: bool
    face_distance: float | None = Field(default=None, ge=0)
    threshold: float | None = Field(default=None, ge=0)
    liveness_passed: bool | None = None


class MaterialRef(_Model):
    """One scanned material, by the SHA-256 of its file; the file travels as blob chunks."""

    material_code: MaterialCode
    sha256: Sha256
    size: int = Field(gt=0, le=MAX_BLOB_BYTES)
    content_type: ContentType
    pages: int = Field(ge=1, le=200)
    valid_until: date | None = Field(
        default=None, description="the last day it may be reused for this applicant; null: never"
    )


class ReusedMaterial(_Model):
    """A material the backend already holds for this applicant, taken instead of a new scan."""

    material_code: MaterialCode
    reference: MaterialReference


class ToleratedMaterial(_Model):
    """A required material the applicant may supply later (容缺), within working days."""

    material_code: MaterialCode
    working_days: int = Field(ge=1, le=60)


class _Event(Message):
    channel: ClassVar[str] = topics.EVENTS
    operation_id: OperationId


class ApplicationSubmitted(_Event):
    """A citizen submitted an application; operation_id is the application number."""

    type: Literal["event.application_submitted"] = "event.application_submitted"
    application_no: ApplicationNo
    item_code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    applicant: Applicant = Field(repr=False)
    identity: IdentityDecision
    materials: list[MaterialRef] = Field(max_length=50)
    reused_materials: list[ReusedMaterial] = Field(default_factory=list, max_length=50)
    tolerated_missing: list[ToleratedMaterial] = Field(default_factory=list, max_length=50)
    deposit_expected: bool = False
    submitted_at: UtcTime
    promised_days: int | None = Field(
        default=None, ge=1, le=365, description="working days promised to the citizen"
    )


class MaterialsDeposited(_Event):
    """Paper originals for an application went into a compartment."""

    type: Literal["event.materials_deposited"] = "event.materials_deposited"
    application_no: ApplicationNo
    compartment_id: CompartmentId
    deposited_at: UtcTime


class ResultLoaded(_Event):
    """Staff put a result into a compartment; operation_id is the load id."""

    type: Literal["event.result_loaded"] = "event.result_loaded"
    load_id: OperationId
    application_no: ApplicationNo
    compartment_id: CompartmentId
    loaded_at: UtcTime
    # The staff sign-in at this terminal (the operation id of its `request.staff_sign_in`)
    # under which the result went in; the backend names the person from its own record.
    staff_sign_in: OperationId | None = None


class DepositCollected(_Event):
    """Staff took an application's paper originals out of their compartment.

    operation_id is `{application_no}#collected`; staff_sign_in as in `event.result_loaded`.
    """

    type: Literal["event.deposit_collected"] = "event.deposit_collected"
    application_no: ApplicationNo
    compartment_id: CompartmentId
    collected_at: UtcTime
    staff_sign_in: OperationId


class SupplementProvided(_Event):
    """A citizen brought materials an application still owed (容缺), at any terminal.

    operation_id is `SUP-` + random hex, fixed when queued. The citizen proved the application
    with its number and the phone number's last 4 digits (as in `request.application_status`);
    the backend checks the tail again and takes only materials the application still owes.
    """

    type: Literal["event.supplement_provided"] = "event.supplement_provided"
    application_no: ApplicationNo
    phone_tail: str = Field(pattern=r"^[0-9]{4}$", repr=False)
    materials: list[MaterialRef] = Field(min_length=1, max_length=20)
    provided_at: UtcTime


class ResultPickedUp(_Event):
    """The applicant opened the compartment with a valid code; operation_id is the load id."""

    type: Literal["event.result_picked_up"] = "event.result_picked_up"
    load_id: OperationId
    application_no: ApplicationNo
    compartment_id: CompartmentId
    picked_up_at: UtcTime


class AlarmKind(StrEnum):
    WRONG_CODE_LIMIT = "wrong_code_limit"
    LOCK_FAULT = "lock_fault"
    DOOR_FORCED = "door_forced"
    DOOR_LEFT_OPEN = "door_left_open"
    DEVICE_FAULT = "device_fault"
    LOW_PAPER = "low_paper"
    OPENING_UNCONFIRMED = "opening_unconfirmed"
    # A message refused as forged, replayed or out of order: someone on the wire, or a broker,
    # is not what it should be.
    SECURITY = "security"
    # Raised by the backend itself: a terminal offline beyond the grace period, and
    # thresholds on telemetry (docs/fleet.md).
    OFFLINE = "offline"
    DISK_NEARLY_FULL = "disk_nearly_full"
    CLOCK_OFF = "clock_off"
    BACKLOG_GROWING = "backlog_growing"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alarm(_Event):
    """Something an operator must look at; operation_id is the alarm id."""

    type: Literal["event.alarm"] = "event.alarm"
    kind: AlarmKind
    severity: Severity
    compartment_id: CompartmentId | None = None
    detail: str = Field(max_length=500)
    raised_at: UtcTime


class RatingReason(StrEnum):
    """What a citizen may tap to say why a score is low: a fixed list, never free text."""

    WAITING = "waiting"
    UNCLEAR_GUIDANCE = "unclear_guidance"
    DEVICE_PROBLEM = "device_problem"
    TOO_MANY_STEPS = "too_many_steps"
    OTHER = "other"


class ServiceRated(_Event):
    """The citizen rated the service (好差评); operation_id is `{application_no}#rating`."""

    type: Literal["event.service_rated"] = "event.service_rated"
    application_no: ApplicationNo
    score: int = Field(ge=1, le=5, description="5 very satisfied … 1 very dissatisfied")
    reasons: list[RatingReason] = Field(default_factory=list, max_length=5)
    rated_at: UtcTime


# ---------------------------------------------------------------- blobs


class BlobChunk(Message):
    """One chunk of a content-addressed material file, base64 in `data`."""

    channel: ClassVar[str] = topics.BLOBS
    type: Literal["blob.chunk"] = "blob.chunk"
    sha256: Sha256
    index: int = Field(ge=0)
    count: int = Field(ge=1, le=MAX_BLOB_BYTES // BLOB_CHUNK_BYTES + 1)
    total_size: int = Field(gt=0, le=MAX_BLOB_BYTES)
    data: str = Field(max_length=(BLOB_CHUNK_BYTES * 4) // 3 + 4)

    def raw(self) -> bytes:
        """The chunk's bytes; MalformedMessage if `data` is not strict base64."""
        try:
            return base64.b64decode(self.data, validate=True)
        except ValueError as exc:
            raise MalformedMessage("blob chunk data is not valid base64") from exc


# ---------------------------------------------------------------- commands and their acks


class Command(Message):
    """What every backend order to one terminal carries: an operation id and an expiry."""

    channel: ClassVar[str] = topics.COMMANDS
    operation_id: OperationId
    expires_at: UtcTime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


class LoadResult(Command):
    """Reserve a compartment for an application's result; operation_id is the load id."""

    type: Literal["command.load_result"] = "command.load_result"
    load_id: OperationId
    application_no: ApplicationNo
    size: Literal["S", "M", "L"] = "S"
    # Who may collect it (ADR 0004): the terminal's catalog says whether the item's pickup
    # asks for an identity check; if so, only the card whose applicant digest is holder_ref
    # opens it. A load without either, for an item the terminal does not know, is refused.
    item_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    holder_ref: Sha256 | None = Field(
        default=None, repr=False, description="applicant_ref.digest(...) of the applicant"
    )


class SetPickupCode(Command):
    """Arm (or rotate) the pickup code of a loaded result, as a keyed digest, never in clear."""

    type: Literal["command.set_pickup_code"] = "command.set_pickup_code"
    load_id: OperationId
    application_no: ApplicationNo
    code_digest: Sha256
    code_expires_at: UtcTime
    # The second factor (ADR 0011): the code opens only with the applicant's phone tail. None
    # from an older backend: the code alone opens it.
    phone_tail_digest: Sha256 | None = Field(
        default=None, repr=False, description="pickup_code.tail_digest(...) of the phone's tail"
    )


class WithdrawResult(Command):
    """Stop a loaded result from being picked up (returned to the office by staff)."""

    type: Literal["command.withdraw_result"] = "command.withdraw_result"
    load_id: OperationId
    application_no: ApplicationNo


BundleVersion = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class ApplyConfigBundle(Command):
    """Run a configuration bundle; operation_id is the bundle version.

    The bundle travels in the signed command itself, so the backend's key signs it. `catalog`
    is a catalog document (terminal/catalog.py checks its shape on the terminal); the terminal
    applies it atomically, keeps it only if its health check passes, and acks with the
    configuration version it runs (`result["config_version"]`).
    """

    type: Literal["command.apply_config_bundle"] = "command.apply_config_bundle"
    bundle_version: BundleVersion
    catalog: dict[str, Any]


class RollbackConfigBundle(Command):
    """Go back to the configuration the terminal ran before its current bundle."""

    type: Literal["command.rollback_config_bundle"] = "command.rollback_config_bundle"
    reason: str = Field(min_length=1, max_length=200)


class OpenCompartment(Command):
    """Open one compartment's door for service (a jammed door, a cleaning, an audit).

    Capped on the terminal like arming commands; the terminal journals the opening with the
    operator's reason. The compartment's state does not change.
    """

    type: Literal["command.open_compartment"] = "command.open_compartment"
    compartment_id: CompartmentId
    reason: str = Field(min_length=1, max_length=200)


class RestartKiosk(Command):
    """Restart the kiosk program (systemd starts it again); acked before it goes down."""

    type: Literal["command.restart_kiosk"] = "command.restart_kiosk"
    reason: str = Field(min_length=1, max_length=200)


class ResyncState(Command):
    """Send the status, telemetry and any unreported pickups again, now."""

    type: Literal["command.resync_state"] = "command.resync_state"


class FetchDiagnostics(Command):
    """Answer with the terminal's diagnostics (health checks, versions, compartments, backlog)."""

    type: Literal["command.fetch_diagnostics"] = "command.fetch_diagnostics"


class AckOutcome(StrEnum):
    DONE = "done"
    REJECTED = "rejected"
    EXPIRED = "expired"


class CommandAck(Message):
    """The terminal's answer to one command; repeated unchanged for a duplicate command."""

    channel: ClassVar[str] = topics.ACKS
    type: Literal["command.ack"] = "command.ack"
    command_id: MessageId
    command_type: str = Field(max_length=64)
    operation_id: OperationId
    outcome: AckOutcome
    detail: str = Field(default="", max_length=500)
    result: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- receipts


class ReceiptOutcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ReceiptItem(_Model):
    message_id: MessageId
    outcome: ReceiptOutcome
    reason: str = Field(default="", max_length=300)


class Settlement(Message):
    """The backend's application-level acknowledgement of upstream messages, after commit."""

    # Each item settles one outbox entry: stored, duplicate or rejected. The wire keeps the
    # message's first name (type "receipt" on the receipts topic, titled Receipt in the
    # published schemas): deployed terminals decode it by that type, tools read the title.
    model_config = ConfigDict(title="Receipt")
    channel: ClassVar[str] = topics.RECEIPTS
    type: Literal["receipt"] = "receipt"
    items: list[ReceiptItem] = Field(min_length=1, max_length=500)


# ---------------------------------------------------------------- requests and responses


class MaterialsOnFileQuery(Message):
    """Which materials does the backend hold for this applicant? Answered at once or never."""

    channel: ClassVar[str] = topics.REQUESTS
    type: Literal["request.materials_on_file"] = "request.materials_on_file"
    operation_id: OperationId
    applicant_ref: Sha256 = Field(repr=False, description="applicant_ref.digest(...) of the card")
    material_codes: list[MaterialCode] = Field(min_length=1, max_length=50)
    expires_at: UtcTime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


class OnFileMaterial(_Model):
    """One material the backend holds for the applicant, still valid and verified."""

    material_code: MaterialCode
    reference: MaterialReference
    content_type: ContentType
    pages: int = Field(ge=1, le=200)
    valid_until: date
    captured_on: date


class MaterialsOnFile(Message):
    """The answer to one `request.materials_on_file`; an empty list when nothing may be reused."""

    channel: ClassVar[str] = topics.RESPONSES
    type: Literal["response.materials_on_file"] = "response.materials_on_file"
    operation_id: OperationId
    request_id: MessageId
    materials: list[OnFileMaterial] = Field(default_factory=list, max_length=50)
    expires_at: UtcTime


class ApplicationStatusQuery(Message):
    """What became of an application? Asked by its number and the phone number's last 4 digits."""

    channel: ClassVar[str] = topics.REQUESTS
    type: Literal["request.application_status"] = "request.application_status"
    operation_id: OperationId
    application_no: ApplicationNo
    phone_tail: str = Field(pattern=r"^[0-9]{4}$", repr=False)
    expires_at: UtcTime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


class CitizenState(StrEnum):
    """An application's state in the words a citizen is told, not the office's workflow."""

    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    SUPPLEMENT_NEEDED = "supplement_needed"
    APPROVED = "approved"
    READY_FOR_PICKUP = "ready_for_pickup"
    PICKED_UP = "picked_up"
    REFUSED = "refused"
    AT_THE_OFFICE = "at_the_office"


class SupplementDue(_Model):
    """A material the applicant still owes, and the last day to supply it."""

    material_code: MaterialCode
    due_on: date


class ApplicationStatus(Message):
    """The answer to one `request.application_status`; `found` false says nothing more."""

    channel: ClassVar[str] = topics.RESPONSES
    type: Literal["response.application_status"] = "response.application_status"
    operation_id: OperationId
    request_id: MessageId
    found: bool
    state: CitizenState | None = None
    since: UtcTime | None = Field(default=None, description="when it entered `state`")
    item_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    submitted_on: date | None = None
    promised_by: date | None = None
    supplements: list[SupplementDue] = Field(default_factory=list, max_length=50)
    pickup_terminal_id: TerminalId | None = None
    expires_at: UtcTime


class StaffSignInQuery(Message):
    """A staff member at the terminal types the one-time code the console showed them."""

    channel: ClassVar[str] = topics.REQUESTS
    type: Literal["request.staff_sign_in"] = "request.staff_sign_in"
    operation_id: OperationId
    code: str = Field(pattern=r"^[0-9]{8}$", repr=False)
    expires_at: UtcTime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


class StaffSignIn(Message):
    """The answer to one `request.staff_sign_in`; `accepted` false says nothing more."""

    channel: ClassVar[str] = topics.RESPONSES
    type: Literal["response.staff_sign_in"] = "response.staff_sign_in"
    operation_id: OperationId
    request_id: MessageId
    accepted: bool
    username: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    display_name: str | None = Field(default=None, max_length=64)
    expires_at: UtcTime


# ---------------------------------------------------------------- parsing

EVENT_TYPES = (
    ApplicationSubmitted,
    MaterialsDeposited,
    ResultLoaded,
    ResultPickedUp,
    Alarm,
    ServiceRated,
    DepositCollected,
    SupplementProvided,
)
COMMAND_TYPES: tuple[type[Command], ...] = (
    LoadResult,
    SetPickupCode,
    WithdrawResult,
    ApplyConfigBundle,
    RollbackConfigBundle,
    OpenCompartment,
    RestartKiosk,
    ResyncState,
    FetchDiagnostics,
)
REQUEST_TYPES = (MaterialsOnFileQuery, ApplicationStatusQuery, StaffSignInQuery)
RESPONSE_TYPES = (MaterialsOnFile, ApplicationStatus, StaffSignIn)
ALL_TYPES: tuple[type[Message], ...] = (
    Status,
    Telemetry,
    *EVENT_TYPES,
    BlobChunk,
    *COMMAND_TYPES,
    CommandAck,
    Settlement,
    *REQUEST_TYPES,
    *RESPONSE_TYPES,
)
BY_TYPE: dict[str, type[Message]] = {t.model_fields["type"].default: t for t in ALL_TYPES}

AnyMessage = Annotated[
    Status
    | Telemetry
    | ApplicationSubmitted
    | MaterialsDeposited
    | ResultLoaded
    | ResultPickedUp
    | Alarm
    | BlobChunk
    | LoadResult
    | SetPickupCode
    | WithdrawResult
    | ApplyConfigBundle
    | RollbackConfigBundle
    | OpenCompartment
    | RestartKiosk
    | ResyncState
    | FetchDiagnostics
    | CommandAck
    | Settlement
    | MaterialsOnFileQuery
    | MaterialsOnFile
    | ServiceRated
    | ApplicationStatusQuery
    | ApplicationStatus
    | DepositCollected
    | SupplementProvided
    | StaffSignInQuery
    | StaffSignIn,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(AnyMessage)


def type_name(cls: type[Message]) -> str:
    return cls.model_fields["type"].default


def _describe(exc: ValidationError) -> str:
    # Field paths and error kinds only: the input may hold an ID number or a phone number.
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{loc}: {err['type']}")
    return "; ".join(parts)


def decode(payload: bytes) -> Message:
    """Parse one payload into its model, or raise MalformedMessage."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"oversized: {len(payload)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        message = _adapter.validate_json(payload, strict=True)
    except ValidationError as exc:
        raise MalformedMessage(f"invalid message: {_describe(exc)}") from None
    missing = [f for f in ENVELOPE_FIELDS if f not in message.model_fields_set and f != "type"]
    if missing:
        raise MalformedMessage(f"invalid message: envelope lacks {', '.join(missing)}")
    return message


def decode_from(topic: str, payload: bytes) -> Message:
    """Parse a payload received on `topic` and check that topic and payload agree."""
    try:
        parsed = topics.parse(topic)
    except topics.TopicError as exc:
        raise MalformedMessage(str(exc)) from None
    message = decode(payload)
    if message.terminal_id != parsed.terminal_id:
        raise MalformedMessage(
            f"terminal id in payload ({message.terminal_id}) "
            f"differs from topic ({parsed.terminal_id})"
        )
    if message.topic() != topic:
        raise MalformedMessage(f"{type_name(type(message))} does not belong on {topic}")
    return message
