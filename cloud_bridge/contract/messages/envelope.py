"""The envelope of wire contract v1: what every message carries, its limits and types.

Every message is one JSON object with the same envelope (`schema_version`, `type`,
`message_id`, `terminal_id`, `sent_at`); business messages add an `operation_id` that is kept
across retries, so every handler can be idempotent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .. import topics

SCHEMA_VERSION = 1
# Mosquitto accepts far more, but nothing in v1 needs it: a bigger payload is an error or an attack.
MAX_MESSAGE_BYTES = 128 * 1024
# Raw bytes per blob chunk; base64 makes it 4/3 larger and still well inside MAX_MESSAGE_BYTES.
BLOB_CHUNK_BYTES = 48 * 1024
MAX_BLOB_BYTES = 64 * 1024 * 1024

TerminalId = Annotated[str, Field(pattern=topics.TERMINAL_ID.pattern, max_length=64)]
MessageId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
# `#` joins an operation to its part (`L-7f3a9c#1`, `{application_no}#on-file`): a URL that
# carries an operation id (the alarm routes) must percent-encode it (%23).
OPERATION_ID_PATTERN = r"^[A-Za-z0-9_.:#-]+$"
MAX_OPERATION_ID = 128
OperationId = Annotated[
    str, Field(min_length=1, max_length=MAX_OPERATION_ID, pattern=OPERATION_ID_PATTERN)
]
ApplicationNo = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{5,63}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CompartmentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9]{6,15}$")]
MaterialCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
# The backend's handle on a material it holds: opaque to the terminal, never a file hash.
MaterialReference = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
ContentType = Literal["application/pdf", "image/jpeg", "image/png"]
# Every date-time on the wire lies in [EARLIEST_TIME, END_OF_TIME): a terminal's clock that says
# otherwise was never set (before 2000) or is garbage (year 3000 and on). Such a time is refused
# like any malformed field, in every message type, before anything stores it: near year 9999 it
# cannot even be shown in China Standard Time (`astimezone` overflows past 9999-12-31).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(3000, 1, 1, tzinfo=UTC)
UtcTime = Annotated[
    AwareDatetime,
    Field(
        ge=EARLIEST_TIME,
        lt=END_OF_TIME,
        # Not enforced by a JSON Schema validator; named for readers and for format-aware ones.
        json_schema_extra={
            "formatMinimum": "2000-01-01T00:00:00Z",
            "formatExclusiveMaximum": "3000-01-01T00:00:00Z",
        },
    ),
]


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


class ContractModel(BaseModel):
    """The base of every part of a message: strict, frozen, and silent about its input."""

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


class Message(ContractModel):
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
