"""Topic names of wire contract v1, all rooted at `allhours/v1/`, keyed by terminal id."""

from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "allhours/v1"
TERMINAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SHARED_GROUP = "allhours-backend"

# Upstream (terminal -> backend): a terminal publishes only under its own id.
STATUS = "status"
TELEMETRY = "telemetry"
EVENTS = "events"
BLOBS = "blobs"
ACKS = "acks"
REQUESTS = "requests"  # questions that want an answer now (materials on file), not stored
# Downstream (backend -> terminal): a terminal subscribes only under its own id.
COMMANDS = "commands"
RECEIPTS = "receipts"
RESPONSES = "responses"  # answers to requests, matched by operation id and request id

UPSTREAM = (STATUS, TELEMETRY, EVENTS, BLOBS, ACKS, REQUESTS)
DOWNSTREAM = (COMMANDS, RECEIPTS, RESPONSES)


class TopicError(ValueError):
    """A topic that is not part of the contract."""


def check_terminal_id(terminal_id: str) -> str:
    """Return the id if it can stand in a topic, else raise TopicError."""
    if not TERMINAL_ID.fullmatch(terminal_id or ""):
        raise TopicError(f"invalid terminal id {terminal_id!r}")
    return terminal_id


def terminal_topic(terminal_id: str, channel: str, suffix: str | None = None) -> str:
    """`allhours/v1/terminals/{id}/{channel}[/{suffix}]`."""
    check_terminal_id(terminal_id)
    if channel not in UPSTREAM + DOWNSTREAM:
        raise TopicError(f"unknown channel {channel!r}")
    base = f"{ROOT}/terminals/{terminal_id}/{channel}"
    return f"{base}/{suffix}" if suffix else base


def status(terminal_id: str) -> str:
    return terminal_topic(terminal_id, STATUS)


def telemetry(terminal_id: str) -> str:
    return terminal_topic(terminal_id, TELEMETRY)


def event(terminal_id: str, event_type: str) -> str:
    """Events go to `.../events/{type}` so a subscriber can pick kinds with a filter."""
    return terminal_topic(terminal_id, EVENTS, event_type)


def blobs(terminal_id: str) -> str:
    return terminal_topic(terminal_id, BLOBS)


def acks(terminal_id: str) -> str:
    return terminal_topic(terminal_id, ACKS)


def commands(terminal_id: str) -> str:
    return terminal_topic(terminal_id, COMMANDS)


def receipts(terminal_id: str) -> str:
    return terminal_topic(terminal_id, RECEIPTS)


def requests(terminal_id: str) -> str:
    return terminal_topic(terminal_id, REQUESTS)


def responses(terminal_id: str) -> str:
    return terminal_topic(terminal_id, RESPONSES)


def backend_subscriptions(group: str | None = SHARED_GROUP) -> list[str]:
    """The backend's filters, one per upstream channel: shared under `group`, plain if None."""
    prefix = f"$share/{group}/" if group else ""
    out = []
    for channel in UPSTREAM:
        tail = "/#" if channel == EVENTS else ""
        out.append(f"{prefix}{ROOT}/terminals/+/{channel}{tail}")
    return out


@dataclass(frozen=True)
class ParsedTopic:
    """A contract topic split into its parts."""

    terminal_id: str
    channel: str
    suffix: str | None


def parse(topic: str) -> ParsedTopic:
    """Split a contract topic; raise TopicError on anything else."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != ROOT or parts[2] != "terminals":
        raise TopicError(f"not an allhours/v1 terminal topic: {topic!r}")
    terminal_id, channel, rest = parts[3], parts[4], parts[5:]
    check_terminal_id(terminal_id)
    if channel not in UPSTREAM + DOWNSTREAM:
        raise TopicError(f"unknown channel {channel!r} in {topic!r}")
    if channel == EVENTS:
        if len(rest) != 1 or not rest[0]:
            raise TopicError(f"event topic needs exactly one type segment: {topic!r}")
        return ParsedTopic(terminal_id, channel, rest[0])
    if rest:
        raise TopicError(f"unexpected segments after {channel!r}: {topic!r}")
    return ParsedTopic(terminal_id, channel, None)
