"""Parsing of wire contract v1: the registry of message types and `decode` / `decode_from`."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from .. import topics
from .commands import (
    ApplyConfigBundle,
    BackInService,
    Command,
    CommandAck,
    FetchDiagnostics,
    LoadResult,
    OpenCompartment,
    OutOfService,
    RestartKiosk,
    ResyncState,
    RollbackConfigBundle,
    SetPickupCode,
    UpdateSoftware,
    WithdrawResult,
)
from .envelope import (
    ENVELOPE_FIELDS,
    MAX_MESSAGE_BYTES,
    MalformedMessage,
    Message,
)
from .events import (
    Alarm,
    ApplicationSubmitted,
    BlobChunk,
    DepositCollected,
    MaterialsDeposited,
    ResultLoaded,
    ResultPickedUp,
    ServiceRated,
    Settlement,
    SoftwareUpdated,
    Status,
    SupplementProvided,
    Telemetry,
)
from .requests import (
    ApplicationStatus,
    ApplicationStatusQuery,
    MaterialsOnFile,
    MaterialsOnFileQuery,
    OwingApplications,
    OwingApplicationsQuery,
    StaffSignIn,
    StaffSignInQuery,
)

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
    SoftwareUpdated,
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
    OutOfService,
    BackInService,
    UpdateSoftware,
)
REQUEST_TYPES = (
    MaterialsOnFileQuery,
    ApplicationStatusQuery,
    StaffSignInQuery,
    OwingApplicationsQuery,
)
RESPONSE_TYPES = (MaterialsOnFile, ApplicationStatus, StaffSignIn, OwingApplications)
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
    | OutOfService
    | BackInService
    | UpdateSoftware
    | CommandAck
    | Settlement
    | MaterialsOnFileQuery
    | MaterialsOnFile
    | ServiceRated
    | ApplicationStatusQuery
    | ApplicationStatus
    | DepositCollected
    | SupplementProvided
    | SoftwareUpdated
    | StaffSignInQuery
    | StaffSignIn
    | OwingApplicationsQuery
    | OwingApplications,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(AnyMessage)


def type_name(cls: type[Message]) -> str:
    return cls.model_fields["type"].default


@functools.cache
def _field_names() -> frozenset[str]:
    """Every field name and type tag of the contract: the path parts a refusal may name."""
    names: set[str] = set(BY_TYPE)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(properties := node.get("properties"), dict):
                names.update(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_adapter.json_schema())
    return frozenset(names)


def _describe(exc: ValidationError) -> str:
    # Field paths and error kinds only: the input may hold an ID number or a phone number. A
    # path part the contract does not name (an extra field, a key of a free-form map) is the
    # sender's text, so it is not repeated either.
    known = _field_names()
    parts = []
    for err in exc.errors()[:3]:
        path = (str(p) if isinstance(p, int) or p in known else "<key>" for p in err["loc"])
        parts.append(f"{'.'.join(path) or 'message'}: {err['type']}")
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
