"""The locker's hardware mapping: boards, compartments on their channels, door inputs.

Read from the `[locker]` table of a TOML file (see docs/locker.md) and validated before any
board is opened, so a wiring mistake stops the terminal at start-up with a message that names
the entry and the key, instead of opening the wrong door in front of a citizen.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from locker.attempts import AttemptPolicy
from locker.errors import LayoutError
from locker.layout import CompartmentSpec, DoorInput, Size

USBRELAY = "usbrelay"
RS485 = "rs485"
EMULATED = "emulated"
KINDS = (USBRELAY, RS485, EMULATED)
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# HID relay boards are sold with 1, 2, 4 or 8 channels; lock-control boards with up to 48.
MAX_CHANNELS = {USBRELAY: 8, RS485: 48, EMULATED: 64}

_BOARD_KEYS = {
    USBRELAY: {"id", "kind", "channels", "serial"},
    RS485: {"id", "kind", "channels", "port", "address", "baudrate"},
    EMULATED: {"id", "kind", "channels", "doors"},
}
_COMPARTMENT_KEYS = {"id", "size", "board", "channel", "door", "pulse_ms"}
_LOCKER_KEYS = {
    "board",
    "compartment",
    "pulse_ms",
    "open_confirm_s",
    "close_confirm_s",
    "door_left_open_s",
    "poll_interval_s",
    "journal",
    "keypad",
}


class LockerConfigError(LayoutError):
    """The locker configuration is invalid; the message names the file, entry and key."""


@dataclass(frozen=True)
class BoardConfig:
    """One lock board as configured."""

    id: str
    kind: str
    channels: int
    serial: str | None = None  # usbrelay: which board, when several are plugged in
    port: str | None = None  # rs485: serial device, e.g. /dev/ttyUSB0
    address: int | None = None  # rs485: the board's address on the bus
    baudrate: int = 9600
    doors: bool = True  # emulated: whether it has door inputs

    @property
    def senses_doors(self) -> bool:
        """Whether this board has door inputs (relay boards have none)."""
        return self.kind == RS485 or (self.kind == EMULATED and self.doors)


@dataclass(frozen=True)
class SupervisionSettings:
    """Time limits of door supervision."""

    pulse_ms: int = 500
    open_confirm_s: float = 3.0  # after a pulse, the door must be seen open within this
    # When a person says they shut the door (a deposit, a result loaded), it must be seen shut
    # within this, or the compartment is not taken as closed.
    close_confirm_s: float = 5.0
    door_left_open_s: float = 120.0  # an open door raises door_left_open after this
    poll_interval_s: float = 0.2  # how often the supervisor reads the door inputs


@dataclass(frozen=True)
class LockerConfig:
    """Boards, compartments and supervision limits of one terminal's locker."""

    boards: tuple[BoardConfig, ...]
    compartments: tuple[CompartmentSpec, ...]
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    journal: Path | None = None
    keypad: AttemptPolicy = field(default_factory=AttemptPolicy)  # ADR 0011

    def board(self, board_id: str) -> BoardConfig:
        """The board with this id."""
        return next(b for b in self.boards if b.id == board_id)

    def compartment(self, compartment_id: str) -> CompartmentSpec:
        """The compartment with this id; LayoutError names the known ids otherwise."""
        for spec in self.compartments:
            if spec.id == compartment_id:
                return spec
        known = ", ".join(s.id for s in self.compartments)
        raise LayoutError(f"no compartment {compartment_id!r} in the configuration ({known})")


def load_locker_config(path: str | Path) -> LockerConfig:
    """Read and validate a TOML file; LockerConfigError names the file and the bad key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LockerConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: thousands of nested arrays or tables exhaust tomllib's parser.
        raise LockerConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = parse_locker_config(data)
    except LockerConfigError as exc:
        raise LockerConfigError(f"{path}: {exc}") from None
    if config.journal is not None and not config.journal.is_absolute():
        config = replace(config, journal=path.parent / config.journal)
    return config


def parse_locker_config(data: dict[str, Any]) -> LockerConfig:
    """Validate the parsed TOML document (its `[locker]` table) into a LockerConfig."""
    table = data.get("locker")
    if not isinstance(table, dict):
        raise LockerConfigError("missing [locker] table")
    _no_unknown(table, _LOCKER_KEYS, "[locker]")
    boards = _parse_boards(table.get("board"))
    by_id = {b.id: b for b in boards}
    supervision = _parse_supervision(table)
    compartments = _parse_compartments(table.get("compartment"), by_id)
    journal = table.get("journal")
    if journal is not None and (
        not isinstance(journal, str) or not journal.strip() or not journal.isprintable()
    ):
        raise LockerConfigError("[locker] journal: must be a file path")
    return LockerConfig(
        tuple(boards),
        tuple(compartments),
        supervision,
        Path(journal) if journal else None,
        _parse_keypad(table.get("keypad", {})),
    )


# ---------------------------------------------------------------- boards


def _parse_boards(items: Any) -> list[BoardConfig]:
    if not isinstance(items, list) or not items:
        raise LockerConfigError("needs at least one [[locker.board]]")
    boards: list[BoardConfig] = []
    seen: dict[str, int] = {}
    buses: dict[tuple[str, int], str] = {}
    serials: dict[str | None, str] = {}
    bauds: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"locker.board[{index}]"
        if not isinstance(item, dict):
            raise LockerConfigError(f"{where}: expected a table")
        bid = _name(item, "id", where)
        where += f" ({bid})"
        kind = item.get("kind")
        if kind not in KINDS:
            raise LockerConfigError(
                f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}"
            )
        _no_unknown(item, _BOARD_KEYS[kind], where)
        if bid in seen:
            raise LockerConfigError(f"{where}: board id {bid} is already used by board {seen[bid]}")
        seen[bid] = index
        channels = _int(item, "channels", where, low=1, high=MAX_CHANNELS[kind])
        board = BoardConfig(id=bid, kind=kind, channels=channels)
        if kind == USBRELAY:
            serial = item.get("serial")
            if serial is not None and (
                not isinstance(serial, str) or not serial.strip() or not serial.isprintable()
            ):
                raise LockerConfigError(f"{where}: serial must be a non-empty string")
            board = BoardConfig(id=bid, kind=kind, channels=channels, serial=serial)
            if serial in serials:
                what = f"serial {serial}" if serial else "no serial"
                raise LockerConfigError(f"{where}: board {serials[serial]} also has {what}")
            if None in serials or (serial is None and serials):
                raise LockerConfigError(
                    f"{where}: with several USB relay boards each needs its `serial`"
                )
            serials[serial] = bid
        elif kind == RS485:
            port = _name(item, "port", where)
            address = _int(item, "address", where, low=1, high=255)
            baudrate = item.get("baudrate", 9600)
            if baudrate not in BAUDRATES or isinstance(baudrate, bool):
                raise LockerConfigError(
                    f"{where}: baudrate must be one of {', '.join(map(str, BAUDRATES))}, "
                    f"got {baudrate!r}"
                )
            if (port, address) in buses:
                raise LockerConfigError(
                    f"{where}: address {address} on {port} is already board {buses[port, address]}"
                )
            buses[port, address] = bid
            if bauds.setdefault(port, baudrate) != baudrate:
                raise LockerConfigError(
                    f"{where}: boards on {port} share one line, so one baud rate: "
                    f"{bauds[port]} is configured before, not {baudrate}"
                )
            board = BoardConfig(
                id=bid, kind=kind, channels=channels, port=port, address=address, baudrate=baudrate
            )
        else:
            doors = item.get("doors", True)
            if not isinstance(doors, bool):
                raise LockerConfigError(f"{where}: doors must be true or false")
            board = BoardConfig(id=bid, kind=kind, channels=channels, doors=doors)
        boards.append(board)
    return boards


# ---------------------------------------------------------------- compartments


def _parse_compartments(items: Any, boards: dict[str, BoardConfig]) -> list[CompartmentSpec]:
    if not isinstance(items, list) or not items:
        raise LockerConfigError("needs at least one [[locker.compartment]]")
    specs: list[CompartmentSpec] = []
    ids: dict[str, int] = {}
    channels: dict[tuple[str, int], str] = {}
    inputs: dict[tuple[str, int], str] = {}
    known = ", ".join(boards)
    for index, item in enumerate(items):
        where = f"locker.compartment[{index}]"
        if not isinstance(item, dict):
            raise LockerConfigError(f"{where}: expected a table")
        cid = _name(item, "id", where)
        where += f" ({cid})"
        _no_unknown(item, _COMPARTMENT_KEYS, where)
        if cid in ids:
            raise LockerConfigError(f"{where}: id {cid} is already used by compartment {ids[cid]}")
        ids[cid] = index
        if "size" not in item:
            raise LockerConfigError(f"{where}: missing key 'size' (S, M or L)")
        if item["size"] not in ("S", "M", "L"):
            raise LockerConfigError(f"{where}: unknown size {item['size']!r} (known: S, M, L)")
        board_id = _name(item, "board", where)
        if board_id not in boards:
            raise LockerConfigError(f"{where}: unknown board {board_id!r} (boards: {known})")
        board = boards[board_id]
        channel = _int(item, "channel", where, low=1)
        if channel > board.channels:
            raise LockerConfigError(
                f"{where}: channel {channel} is beyond board {board_id}'s channels "
                f"1..{board.channels}"
            )
        if (board_id, channel) in channels:
            raise LockerConfigError(
                f"{where}: board {board_id} channel {channel} already opens "
                f"{channels[board_id, channel]}"
            )
        channels[board_id, channel] = cid
        door = _parse_door(item, where, board_id, channel, boards, known)
        if door is not None:
            if (door.board, door.input) in inputs:
                raise LockerConfigError(
                    f"{where}: door input {door.input} of board {door.board} already senses "
                    f"{inputs[door.board, door.input]}"
                )
            inputs[door.board, door.input] = cid
        pulse_ms = None
        if "pulse_ms" in item:
            pulse_ms = _int(item, "pulse_ms", where, low=50, high=5000)
        specs.append(
            CompartmentSpec(
                id=cid,
                size=Size(item["size"]),
                channel=channel,
                board=board_id,
                door=door,
                pulse_ms=pulse_ms,
            )
        )
    return specs


def _parse_door(
    item: dict[str, Any],
    where: str,
    board_id: str,
    channel: int,
    boards: dict[str, BoardConfig],
    known: str,
) -> DoorInput | None:
    if "door" not in item:
        # Explicit on purpose: a forgotten sensor would silently turn into "ask the citizen".
        raise LockerConfigError(
            f"{where}: missing key 'door' (door = {{ board = \"...\", input = N }}, "
            'door = "same" for the input of the lock\'s own channel, or door = "none")'
        )
    door = item["door"]
    if door == "none":
        return None
    if door == "same":
        sensor, number = board_id, channel
    elif isinstance(door, dict):
        _no_unknown(door, {"board", "input"}, f"{where} door")
        sensor = _name(door, "board", f"{where} door")
        number = _int(door, "input", f"{where} door", low=1)
    else:
        raise LockerConfigError(
            f'{where}: door must be a table {{ board, input }}, "same" or "none", got {door!r}'
        )
    if sensor not in boards:
        raise LockerConfigError(f"{where}: door on unknown board {sensor!r} (boards: {known})")
    if not boards[sensor].senses_doors:
        raise LockerConfigError(
            f"{where}: door on board {sensor}, which has no door inputs ({boards[sensor].kind}); "
            'wire the sensor to a lock-control board or use door = "none"'
        )
    if number > boards[sensor].channels:
        raise LockerConfigError(
            f"{where}: door input {number} is beyond board {sensor}'s inputs "
            f"1..{boards[sensor].channels}"
        )
    return DoorInput(sensor, number)


# ---------------------------------------------------------------- supervision


def _parse_supervision(table: dict[str, Any]) -> SupervisionSettings:
    defaults = SupervisionSettings()
    pulse_ms = (
        _int(table, "pulse_ms", "[locker]", low=50, high=5000)
        if "pulse_ms" in table
        else defaults.pulse_ms
    )
    values = {}
    limits = (
        ("open_confirm_s", 0.1),
        ("close_confirm_s", 0.1),
        ("door_left_open_s", 1.0),
        ("poll_interval_s", 0.01),
    )
    for key, low in limits:
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, int | float) or isinstance(value, bool) or value < low:
            raise LockerConfigError(f"[locker] {key}: must be a number >= {low}, got {value!r}")
        values[key] = float(value)
    for limit in ("open_confirm_s", "close_confirm_s"):
        if values["poll_interval_s"] >= values[limit]:
            raise LockerConfigError(f"[locker] poll_interval_s: must be shorter than {limit}")
    return SupervisionSettings(pulse_ms=pulse_ms, **values)


# ---------------------------------------------------------------- keypad


def _parse_keypad(table: Any) -> AttemptPolicy:
    """The `[locker.keypad]` table: the wrong-attempt policy of ADR 0011; absent keys default."""
    if not isinstance(table, dict):
        raise LockerConfigError("[locker.keypad]: expected a table")
    kinds = {f.name: f.type for f in fields(AttemptPolicy)}
    _no_unknown(table, set(kinds), "[locker.keypad]")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"[locker.keypad] {key}"
        if key == "idle_reset_s" and value is False:
            values[key] = None  # streaks end only with an opening
        elif kinds[key] == "int":
            values[key] = _int(table, key, "[locker.keypad]", low=0)
        elif not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise LockerConfigError(f"{where}: must be a number > 0, got {value!r}")
        else:
            values[key] = float(value)
    try:
        return AttemptPolicy(**values)
    except ValueError as exc:
        raise LockerConfigError(f"[locker.keypad]: {exc}") from None


# ---------------------------------------------------------------- small checks


def _no_unknown(item: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise LockerConfigError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _name(item: dict[str, Any], key: str, where: str) -> str:
    if key not in item:
        raise LockerConfigError(f"{where}: missing key {key!r}")
    value = item[key]
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise LockerConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
    if not value.isprintable():  # a NUL in a device path, a line break in a printed id
        raise LockerConfigError(f"{where}: {key} has a control character: {value!r}")
    return value


def _int(item: dict[str, Any], key: str, where: str, *, low: int, high: int | None = None) -> int:
    if key not in item:
        raise LockerConfigError(f"{where}: missing key {key!r}")
    value = item[key]
    # bool is an int in Python; `channel = true` is a typo, not channel 1.
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise LockerConfigError(f"{where}: {key} must be an integer {span}, got {value!r}")
    return value
