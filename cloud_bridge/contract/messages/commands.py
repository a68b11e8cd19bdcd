"""Downstream commands of wire contract v1 and the terminal's acks of them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .. import topics
from .envelope import (
    ApplicationNo,
    CompartmentId,
    Message,
    MessageId,
    OperationId,
    Sha256,
    UtcTime,
    utcnow,
)

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
