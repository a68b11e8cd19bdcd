"""Request/response pairs of wire contract v1: asked by a terminal, answered at once or never."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

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
