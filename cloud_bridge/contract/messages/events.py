"""Upstream messages of wire contract v1: presence, telemetry, business events, blob chunks,
and the backend's settlement of them (receipts)."""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from .. import topics
from .commands import BundleVersion, ServiceHold, ServiceReason
from .envelope import (
    BLOB_CHUNK_BYTES,
    MAX_BLOB_BYTES,
    ApplicationNo,
    CompartmentId,
    ContentType,
    ContractModel,
    MalformedMessage,
    MaterialCode,
    MaterialReference,
    Message,
    MessageId,
    OperationId,
    Phone,
    Sha256,
    UtcTime,
)

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


class DeviceHealth(ContractModel):
    """One device port's health: ok or not, why, and its diagnostics report (facts by name)."""

    ok: bool
    detail: str = Field(default="", max_length=200)
    data: dict[Annotated[str, Field(max_length=40)], DiagnosticValue] = Field(
        default_factory=dict, max_length=24
    )


class ServiceEntry(ContractModel):
    """One out-of-service an operator set: how far it goes, why, since when, by which command."""

    hold: ServiceHold
    reason: ServiceReason
    note: str = Field(default="", max_length=200)
    since: UtcTime
    command_id: MessageId


class ServiceState(ContractModel):
    """What is out of service on a terminal: the whole of it, and compartments one by one."""

    terminal: ServiceEntry | None = None
    compartments: dict[CompartmentId, ServiceEntry] = Field(default_factory=dict, max_length=256)


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
    # What an operator has taken out of service (None from a terminal that predates it).
    service: ServiceState | None = None


# ---------------------------------------------------------------- events


class IdDocumentType(StrEnum):
    CN_RESIDENT_ID = "cn_resident_id"
    PASSPORT = "passport"
    OTHER = "other"


class Applicant(ContractModel):
    """The person an application is for: only what the item needs."""

    name: str = Field(min_length=1, max_length=64, repr=False)
    id_document_type: IdDocumentType
    id_number: str = Field(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9<]+$", repr=False)
    phone: Phone = Field(repr=False)


class IdentityMethod(StrEnum):
    FACE = "face"
    STAFF_ASSISTED = "staff_assisted"


class IdentityDecision(ContractModel):
    """How the applicant was identified: scores only, never images."""

    method: IdentityMethod
    verified: bool
    face_distance: float | None = Field(default=None, ge=0)
    threshold: float | None = Field(default=None, ge=0)
    liveness_passed: bool | None = None


class MaterialRef(ContractModel):
    """One scanned material, by the SHA-256 of its file; the file travels as blob chunks."""

    material_code: MaterialCode
    sha256: Sha256
    size: int = Field(gt=0, le=MAX_BLOB_BYTES)
    content_type: ContentType
    pages: int = Field(ge=1, le=200)
    valid_until: date | None = Field(
        default=None, description="the last day it may be reused for this applicant; null: never"
    )


class ReusedMaterial(ContractModel):
    """A material the backend already holds for this applicant, taken instead of a new scan."""

    material_code: MaterialCode
    reference: MaterialReference


class ToleratedMaterial(ContractModel):
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
    # The version of the catalog the item and its promise came from (its document's
    # `version`): the backend takes the item's step days from that version when it knows it.
    catalog_version: BundleVersion | None = None


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
    one of two ways, and the event carries exactly one proof: the application number and the
    phone number's last 4 digits (`phone_tail`, as in `request.application_status`), or their
    ID card and live face check (`applicant_ref`, the card's digest as in
    `request.owing_applications`, with the face check's `identity`). The backend checks the
    proof again and takes only materials the application still owes.
    """

    type: Literal["event.supplement_provided"] = "event.supplement_provided"
    application_no: ApplicationNo
    phone_tail: str | None = Field(default=None, pattern=r"^[0-9]{4}$", repr=False)
    applicant_ref: Sha256 | None = Field(
        default=None, repr=False, description="applicant_ref.digest(...) of the card read"
    )
    identity: IdentityDecision | None = None
    materials: list[MaterialRef] = Field(min_length=1, max_length=20)
    provided_at: UtcTime

    @model_validator(mode="after")
    def _one_proof(self) -> SupplementProvided:
        if (self.phone_tail is None) == (self.applicant_ref is None):
            raise ValueError("give either phone_tail or applicant_ref")
        if (self.applicant_ref is None) != (self.identity is None):
            raise ValueError("applicant_ref comes with identity, and only with it")
        if self.identity is not None and not self.identity.verified:
            raise ValueError("identity is not verified")
        return self


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
    # Paper originals left in a compartment by a session that ended unsubmitted (the citizen
    # walked away, the kiosk failed or stopped): kept shut in, for staff to collect.
    DEPOSIT_ABANDONED = "deposit_abandoned"
    # A message refused as forged, replayed or out of order: someone on the wire, or a broker,
    # is not what it should be.
    SECURITY = "security"
    # Raised by the backend itself: a terminal offline beyond the grace period, and
    # thresholds on telemetry (docs/fleet.md).
    OFFLINE = "offline"
    DISK_NEARLY_FULL = "disk_nearly_full"
    CLOCK_OFF = "clock_off"
    BACKLOG_GROWING = "backlog_growing"
    # A software update the terminal reports failed (refused, or rolled back after its health
    # check); cleared when it later reports an update that succeeded.
    UPDATE_FAILED = "update_failed"


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


class SoftwareUpdated(_Event):
    """How a software update ended on the terminal; operation_id is the UpdateSoftware's.

    `ok`: the terminal runs `version` and its health check passed. Otherwise `detail` says why
    (the archive was refused, or the new version failed its health check and `rolled_back` to
    `running`).
    """

    type: Literal["event.software_update"] = "event.software_update"
    version: str = Field(max_length=40)
    ok: bool
    running: str | None = Field(default=None, max_length=40)
    rolled_back: bool = False
    detail: str = Field(default="", max_length=500)


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


def blob_chunks(terminal_id: str, data: bytes, size: int = BLOB_CHUNK_BYTES) -> list[BlobChunk]:
    """A whole file cut into chunks of `size` bytes (the last one shorter), each a message."""
    sha = hashlib.sha256(data).hexdigest()
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        BlobChunk(
            terminal_id=terminal_id,
            sha256=sha,
            index=i,
            count=len(parts),
            total_size=len(data),
            data=base64.b64encode(part).decode(),
        )
        for i, part in enumerate(parts)
    ]


# ---------------------------------------------------------------- receipts


class ReceiptOutcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ReceiptItem(ContractModel):
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
