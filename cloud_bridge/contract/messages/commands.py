"""Downstream commands of wire contract v1 and the terminal's acks of them."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

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

    The bundle travels in the signed command itself, so the backend's key signs it. Its parts,
    each optional (an absent part stays as the terminal runs it): `catalog`, a catalog document
    (contract/catalog.py checks its shape); `layout`, the locker's compartments as the devices
    file lists them (id, size, board, channel, door, pulse_ms); `settings`, the settings that
    may change remotely (contract/config_parts.py's allow-list: never keys or the broker).
    The terminal checks every part, refuses a layout that would orphan a compartment holding
    something, applies the whole bundle at once, keeps it only if its health check passes,
    and acks with the configuration version it runs (`result["config_version"]`).
    """

    type: Literal["command.apply_config_bundle"] = "command.apply_config_bundle"
    bundle_version: BundleVersion
    catalog: dict[str, Any] | None = None
    layout: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None

    @field_validator("catalog", "layout", "settings")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        # Typed numbers refuse infinity; these parts are free-form JSON, where `1e999` parses
        # as infinity and would not encode back as it came (nor be stored as JSON).
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError("a number that is not finite")
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return value

    @model_validator(mode="after")
    def _carries_something(self) -> ApplyConfigBundle:
        if self.catalog is None and self.layout is None and self.settings is None:
            raise ValueError("a bundle carries a catalog, a layout or settings")
        return self


class RollbackConfigBundle(Command):
    """Go back to the configuration the terminal ran before its current bundle."""

    type: Literal["command.rollback_config_bundle"] = "command.rollback_config_bundle"
    reason: str = Field(min_length=1, max_length=200)


SoftwareVersion = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$")]
# A release archive larger than this is refused before a byte is fetched.
MAX_ARCHIVE_BYTES = 1024**3


class UpdateSoftware(Command):
    """Install and run software `version`; operation_id names the rollout.

    The terminal fetches the archive over HTTPS from `archive_url` (a server whose certificate
    the site CA issued, the terminal showing its own), refuses it unless it is `size_bytes`
    long and hashes to `sha256` (both signed here with the command), and hands it to its
    updater (two installed versions, switch, health check, fall back). The ack says the
    update was accepted; the outcome follows as `event.software_update`. The updater, which
    runs as root, installs nothing unless it has checked this command's signature itself.
    """

    type: Literal["command.update_software"] = "command.update_software"
    version: SoftwareVersion
    archive_url: str = Field(max_length=500, pattern=r"^https://[^\s]+$")
    sha256: Sha256
    size_bytes: int = Field(ge=1, le=MAX_ARCHIVE_BYTES)
    # The backend's signing keys (Ed25519, hex, newest first) as it sends this command. The
    # terminal's root updater checks this command's signature itself, against the keys it
    # keeps, and then trusts these instead: that is how a key rotation reaches it.
    backend_keys: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=4
    )


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


class ServiceReason(StrEnum):
    """Why an operator takes a terminal or a compartment out of service, or puts it back.

    A fixed list, so the fleet can be counted by reason; `other` needs the operator's note.
    """

    MAINTENANCE = "maintenance"
    DEVICE_FAULT = "device_fault"
    CLEANING = "cleaning"
    SECURITY = "security"
    SITE_CLOSED = "site_closed"
    REPAIRED = "repaired"
    CHECKED = "checked"
    OTHER = "other"


class ServiceHold(StrEnum):
    """How far an out-of-service goes.

    `closed`: nothing new goes in (no submission, deposit or result load), but a result already
    inside can still be picked up while the locker is safe. `locked`: nothing goes in or out;
    a citizen with a pickup code is sent to the counter.
    """

    CLOSED = "closed"
    LOCKED = "locked"


class _ServiceChange(Command):
    compartment_id: CompartmentId | None = Field(
        default=None, description="one compartment; absent: the whole terminal"
    )
    reason: ServiceReason
    note: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _other_needs_a_note(self) -> _ServiceChange:
        if self.reason == ServiceReason.OTHER and not self.note.strip():
            raise ValueError("reason 'other' needs a note")
        return self


class OutOfService(_ServiceChange):
    """Take the whole terminal, or one compartment, out of service until `back_in_service`.

    The terminal keeps it on disk (a restart keeps it), reports it in its telemetry and the
    kiosk shows it. Sent again with another hold or reason, it replaces the earlier one.
    """

    type: Literal["command.out_of_service"] = "command.out_of_service"
    hold: ServiceHold = ServiceHold.CLOSED


class BackInService(_ServiceChange):
    """Put the whole terminal, or one compartment, back in service."""

    type: Literal["command.back_in_service"] = "command.back_in_service"


class AckOutcome(StrEnum):
    """`received` is a stage, sent before the command runs; the others are the final answer."""

    RECEIVED = "received"  # signature and sequence verified, the handler about to run
    DONE = "done"
    REJECTED = "rejected"
    EXPIRED = "expired"


class CommandAck(Message):
    """The terminal's word on one command: `received` once verified, then its final answer
    (repeated unchanged for a duplicate command). The backend's command lifecycle follows them."""

    channel: ClassVar[str] = topics.ACKS
    type: Literal["command.ack"] = "command.ack"
    command_id: MessageId
    command_type: str = Field(max_length=64)
    operation_id: OperationId
    outcome: AckOutcome
    detail: str = Field(default="", max_length=500)
    result: dict[str, str] = Field(default_factory=dict)
