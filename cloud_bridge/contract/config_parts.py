"""A configuration bundle's layout and remote settings: what each may say, checked the same way
on both sides.

A bundle (`messages.ApplyConfigBundle`) carries up to three parts: the catalog (`catalog.py`),
the locker layout and the settings that may change remotely. The backend checks a push with
these functions before it signs it, and the terminal checks the bundle again with the same ones
when it arrives, so a bundle the console accepts is one the terminal accepts. The terminal then
checks what only it knows: which lock boards and channels it has, and what its compartments
hold.

- `check_settings`: only the keys of `REMOTE_SETTINGS`, with the limits of the terminal's
  settings file (its kiosk and link sections extend these models, so each limit is written
  once). Keys, the enrollment, the broker and the devices are never in that list.
- `check_layout`: the compartments as the devices file lists them (id, size, board, channel,
  door, pulse_ms), against the boards and channel counts given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigRefused(ValueError):
    """A part of a bundle cannot run; the message names the part and the place."""


class _Remote(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteKiosk(_Remote):
    """The kiosk settings a bundle may change."""

    lang: Literal["zh", "en"] = "zh"
    large: bool = False
    idle_timeout_s: float = Field(default=90.0, ge=15, le=600)
    idle_warning_s: float = Field(default=20.0, ge=5, le=120)
    speech: bool = False
    # Where the out-of-service page sends citizens: the service hall counter's office hours as
    # each language says them, and the service hotline. Unset, the page names neither.
    office_hours: dict[Literal["zh", "en"], str] = Field(default_factory=dict)
    hotline: str | None = Field(default=None, pattern=r"^[0-9][0-9 -]{1,22}[0-9]$")

    @field_validator("office_hours")
    @classmethod
    def _hours_said(cls, value: dict[str, str]) -> dict[str, str]:
        for lang, text in value.items():
            if not 1 <= len(text.strip()) <= 60:
                raise ValueError(f"office_hours.{lang}: 1..60 characters")
        return {lang: text.strip() for lang, text in value.items()}


class RemoteLink(_Remote):
    """The link settings a bundle may change."""

    telemetry_interval_s: float = Field(default=60.0, ge=1, le=3600)
    # Sent every third of the MQTT keep-alive unless this says otherwise.
    heartbeat_s: float | None = Field(default=None, ge=1, le=3600)


# What a bundle may change of the terminal's settings, by section; all else is refused, naming
# the key.
REMOTE_SETTINGS: dict[str, type[_Remote]] = {"kiosk": RemoteKiosk, "link": RemoteLink}


def _allowed(section: str) -> tuple[str, ...]:
    return tuple(REMOTE_SETTINGS[section].model_fields)


def check_settings(doc: Any) -> dict[str, dict[str, Any]]:
    """The remote settings of a bundle, allow-listed and checked; only the keys it gives."""
    if not isinstance(doc, dict):
        raise ConfigRefused("settings: a table of sections (kiosk, link)")
    out: dict[str, dict[str, Any]] = {}
    for section, values in doc.items():
        model = REMOTE_SETTINGS.get(section)
        if model is None:
            every = (f"{s}.{k}" for s in REMOTE_SETTINGS for k in _allowed(s))
            raise ConfigRefused(
                f"settings: {section} may not change remotely (allowed: {', '.join(every)})"
            )
        if not isinstance(values, dict):
            raise ConfigRefused(f"settings: {section} is a table of keys")
        for key in values:
            if key not in model.model_fields:
                raise ConfigRefused(
                    f"settings: {section}.{key} may not change remotely "
                    f"(allowed in {section}: {', '.join(_allowed(section))})"
                )
        try:
            checked = model(**values)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigRefused(f"settings: {section}.{key}: {first['msg']}") from None
        out[section] = {k: getattr(checked, k) for k in values}
    return out


@dataclass(frozen=True)
class CompartmentEntry:
    """One compartment of a bundle's layout, checked; `door` is (board, input) or None."""

    id: str
    size: Literal["S", "M", "L"]
    board: str
    channel: int
    door: tuple[str, int] | None
    pulse_ms: int | None


_COMPARTMENT_KEYS = {"id", "size", "board", "channel", "door", "pulse_ms"}


def check_layout(doc: Any, board_channels: dict[str, int | None]) -> tuple[CompartmentEntry, ...]:
    """A bundle's locker layout, checked against lock boards (id: channels, None if unknown)."""
    if not isinstance(doc, list) or not doc:
        raise ConfigRefused("layout: a non-empty list of compartments")
    entries: list[CompartmentEntry] = []
    ids: set[str] = set()
    channels: dict[tuple[str, int], str] = {}
    inputs: dict[tuple[str, int], str] = {}  # door inputs, as the devices file allows: one each
    for index, item in enumerate(doc):
        where = f"layout: compartment {index + 1}"
        if not isinstance(item, dict):
            raise ConfigRefused(f"{where}: a table (id, size, board, channel, door)")
        cid = item.get("id")
        if (
            not isinstance(cid, str)
            or not cid.strip()
            or len(cid) > 16
            or cid != cid.strip()
            or not cid.isprintable()
        ):
            raise ConfigRefused(f"{where}: id is a short printable name without spaces around it")
        where = f"layout: {cid}"
        unknown = sorted(set(item) - _COMPARTMENT_KEYS)
        if unknown:
            raise ConfigRefused(f"{where}: unknown key {unknown[0]!r}")
        if cid in ids:
            raise ConfigRefused(f"{where}: listed twice")
        ids.add(cid)
        size = item.get("size")
        if size not in ("S", "M", "L"):
            raise ConfigRefused(f"{where}: size is S, M or L")
        board = item.get("board", "main")
        if not isinstance(board, str) or board not in board_channels:
            raise ConfigRefused(
                f"{where}: no lock board {board!r} on this terminal "
                f"(boards: {', '.join(board_channels)})"
            )
        channel = item.get("channel")
        limit = board_channels[board]
        if not isinstance(channel, int) or isinstance(channel, bool) or channel < 1:
            raise ConfigRefused(f"{where}: channel is a whole number from 1")
        if limit is not None and channel > limit:
            raise ConfigRefused(f"{where}: board {board} has channels 1..{limit}, not {channel}")
        if (board, channel) in channels:
            raise ConfigRefused(
                f"{where}: board {board} channel {channel} already opens {channels[board, channel]}"
            )
        channels[board, channel] = cid
        door = _door(where, item.get("door", "none"), (board, channel), board_channels)
        if door is not None:
            if door in inputs:
                raise ConfigRefused(
                    f"{where}: door input {door[1]} of board {door[0]} already senses "
                    f"{inputs[door]}"
                )
            inputs[door] = cid
        entries.append(CompartmentEntry(cid, size, board, channel, door, _pulse(where, item)))
    return tuple(entries)


def _door(
    where: str, door: Any, lock: tuple[str, int], boards: dict[str, int | None]
) -> tuple[str, int] | None:
    """The (board, input) sensing a door: none, the lock's own (board, channel), or given."""
    if door == "none":
        return None
    if door == "same":
        return lock
    if (
        isinstance(door, dict)
        and set(door) == {"board", "input"}
        and isinstance(door["board"], str)
        and door["board"] in boards
        and isinstance(door["input"], int)
        and not isinstance(door["input"], bool)
        and door["input"] >= 1
    ):
        return (door["board"], door["input"])
    raise ConfigRefused(f'{where}: door is "none", "same" or {{ board, input }}')


def _pulse(where: str, item: dict[str, Any]) -> int | None:
    pulse = item.get("pulse_ms")
    if pulse is not None and (
        not isinstance(pulse, int) or isinstance(pulse, bool) or not 50 <= pulse <= 5000
    ):
        raise ConfigRefused(f"{where}: pulse_ms is 50..5000")
    return pulse
