"""Request/response pairs of wire contract v1: asked by a terminal, answered at once or never."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .. import topics
from .envelope import (
    ApplicationNo,
    ContentType,
    ContractModel,
    MaterialCode,
    MaterialReference,
    Message,
    MessageId,
    OperationId,
    Sha256,
    TerminalId,
    UtcTime,
    utcnow,
)

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


class OnFileMaterial(ContractModel):
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


class SupplementDue(ContractModel):
    """A material the applicant still owes, and the last day to supply it."""

    material_code: MaterialCode
    due_on: date


# The office's fixed list of why it asks for a material (补正); the terminal words each code
# from its own catalogs, and staff free text never travels.
SupplementReason = Literal[
    "missing_material", "unclear_scan", "expired_document", "incomplete_form"
]


class RequestedMaterial(ContractModel):
    """A material staff asked for in a supplement request (补正), not brought yet.

    One of the item's materials, with the reason from the office's fixed list. Bringing it at
    any terminal (`event.supplement_provided`) is how the applicant answers; once every material
    of the request has arrived, the case's deadline clock restarts by itself.
    """

    material_code: MaterialCode
    reason: SupplementReason


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
    requested: list[RequestedMaterial] = Field(
        default_factory=list,
        max_length=20,
        description="materials a supplement request asks for, not brought yet"
        " (only while `state` is supplement_needed)",
    )
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


# How many applications one `response.owing_applications` lists at most: a person rarely has
# more than one or two open, and a longer list would not fit a kiosk page either.
MAX_OWING_APPLICATIONS = 10


class OwingApplicationsQuery(Message):
    """Which applications of the citizen at the card reader still owe materials?

    Asked only after the card was read and the live face matched its photo; the applicant is
    named by `applicant_ref.digest(...)`, never by the number.
    """

    channel: ClassVar[str] = topics.REQUESTS
    type: Literal["request.owing_applications"] = "request.owing_applications"
    operation_id: OperationId
    applicant_ref: Sha256 = Field(repr=False, description="applicant_ref.digest(...) of the card")
    expires_at: UtcTime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


class OwingApplication(ContractModel):
    """One open application of the applicant that still owes materials: no person named.

    `supplements` are the materials tolerated missing (容缺) with their last day, `requested`
    those a staff supplement request (补正) asks for, as in `response.application_status`.
    """

    application_no: ApplicationNo
    item_code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    state: CitizenState
    submitted_on: date
    supplements: list[SupplementDue] = Field(default_factory=list, max_length=50)
    requested: list[RequestedMaterial] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _owes_something(self) -> OwingApplication:
        if not self.supplements and not self.requested:
            raise ValueError("an owing application owes at least one material")
        return self


class OwingApplications(Message):
    """The answer to one `request.owing_applications`: the earliest due first, at most
    `MAX_OWING_APPLICATIONS`; `more` says others owe too. An empty list when none owes."""

    channel: ClassVar[str] = topics.RESPONSES
    type: Literal["response.owing_applications"] = "response.owing_applications"
    operation_id: OperationId
    request_id: MessageId
    applications: list[OwingApplication] = Field(
        default_factory=list, max_length=MAX_OWING_APPLICATIONS
    )
    more: bool = False
    expires_at: UtcTime
