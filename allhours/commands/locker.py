"""`allhours locker status | open ID | test`: the locker's boards and doors, for technicians.

Stop the terminal service first: a serial port and a USB relay serve one program at a time,
and the terminal's journal must not be driven by two locker banks at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allhours.wiring import LockerEmulation, build_boards, emulate_locker
from locker.bank import DoorCheck, LockerAlarm, LockerBank
from locker.boards import BoardSet
from locker.config import LockerConfig, load_locker_config
from locker.errors import DoorJammed, LayoutError, LockerError, LockerFault, UnknownCompartment
from locker.journal import LockerJournal
from locker.supervision import DoorSupervisor

CONFIG_ENV = "ALLHOURS_LOCKER_CONFIG"
DEFAULT_CONFIG = Path("/etc/allhours/locker.toml")


class UsageError(Exception):
    """Bad arguments or configuration: exit 2 with the message."""


def add_hardware_arguments(p: argparse.ArgumentParser, *, config_required: bool) -> None:
    """--config, --journal, --emulate and --emulate-jam, shared with `allhours doctor`."""
    default = os.environ.get(CONFIG_ENV)
    p.add_argument(
        "--config",
        type=Path,
        default=Path(default) if default else None,
        required=config_required and not default,
        help=f"locker configuration TOML (${CONFIG_ENV}; default {DEFAULT_CONFIG})",
    )
    p.add_argument("--journal", type=Path, help="locker journal (default: [locker] journal)")
    p.add_argument(
        "--emulate",
        action="store_true",
        help="run on emulators built from the configuration, not on hardware (training aid)",
    )
    p.add_argument(
        "--emulate-jam",
        action="append",
        default=[],
        metavar="ID",
        help="with --emulate: this compartment's door is jammed",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours locker status|open|test`."""
    p = sub.add_parser("locker", help="locker boards and doors, for technicians")
    lsub = p.add_subparsers(dest="locker_command", required=True)
    s = lsub.add_parser(
        "status",
        help="state, board, channel and door of every compartment",
        description="Exit 0 when every door sensor answered, 1 when a board did not, 2 on "
        "a bad configuration.",
    )
    add_hardware_arguments(s, config_required=False)
    s.set_defaults(func=cmd_status)
    o = lsub.add_parser(
        "open",
        help="open one compartment, watch its door, journal it as a technician open",
        description="Exit 0 when the door opened (or was pulsed, if it has no sensor), 1 when "
        "it did not, 2 on bad usage.",
    )
    o.add_argument("compartment", help="compartment id as configured, e.g. A01")
    add_hardware_arguments(o, config_required=False)
    o.set_defaults(func=cmd_open)
    t = lsub.add_parser(
        "test",
        help="pulse every compartment in turn and confirm its door; print a table",
        description="Exit 0 when every door opened (unsensed doors: pulsed), 1 on any failure.",
    )
    add_hardware_arguments(t, config_required=False)
    t.set_defaults(func=cmd_test)


# ---------------------------------------------------------------- the hardware session


@dataclass
class Hardware:
    """The configured boards (real or emulated) for one command run."""

    config: LockerConfig
    boards: BoardSet
    emulation: LockerEmulation | None
    alarms: list[LockerAlarm] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def config_path(args: argparse.Namespace) -> Path:
    """The configuration file to use, or UsageError."""
    path = args.config or DEFAULT_CONFIG
    if not path.exists():
        raise UsageError(f"no locker configuration at {path}; pass --config FILE")
    return path


@contextlib.contextmanager
def hardware(args: argparse.Namespace) -> Iterator[Hardware]:
    """Load and validate the configuration, then build the drivers (on emulators if asked)."""
    if args.emulate_jam and not args.emulate:
        raise UsageError("--emulate-jam needs --emulate")
    config = load_locker_config(config_path(args))
    emulation = None
    if args.emulate:
        emulation = emulate_locker(config, close_after_s=2.0, pace=True)
        for cid in args.emulate_jam:
            try:
                emulation.doors[cid].jam()
            except KeyError:
                emulation.stop()
                raise UsageError(f"--emulate-jam: no compartment {cid!r}") from None
    try:
        boards = build_boards(config, emulation)
    except BaseException:
        if emulation:
            emulation.stop()
        raise
    try:
        yield Hardware(config, boards, emulation)
    finally:
        boards.close()
        if emulation:
            emulation.stop()


@contextlib.contextmanager
def bank(args: argparse.Namespace, hw: Hardware) -> Iterator[LockerBank]:
    """A locker bank on the terminal's journal, so every opening is audited there."""
    journal_path = journal_of(args, hw)
    with contextlib.ExitStack() as stack:
        if journal_path is None:
            if not hw.emulation:
                raise UsageError(
                    "opening doors needs the terminal's journal, so the opening is audited: "
                    "pass --journal FILE or set [locker] journal"
                )
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="allhours-locker-"))
            journal_path = Path(scratch) / "locker.sqlite"
            hw.notes.append("emulated run: the journal is a throwaway file")
        journal = open_journal(journal_path)
        stack.callback(journal.close)
        yield LockerBank(
            list(hw.config.compartments),
            journal,
            hw.boards,
            code_digest=_no_codes,
            on_alarm=hw.alarms.append,
            supervision=hw.config.supervision,
        )


def journal_of(args: argparse.Namespace, hw: Hardware) -> Path | None:
    """--journal, else the configured one; an emulated run never touches the configured one."""
    if args.journal is not None:
        return Path(args.journal)
    return None if hw.emulation else hw.config.journal


def open_journal(path: Path) -> LockerJournal:
    """The journal, or UsageError naming the file."""
    try:
        return LockerJournal(path)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the locker journal {path}: {exc}") from None


def _no_codes(code: str) -> str:
    raise LockerError("technician commands never check pickup codes")


def run(args: argparse.Namespace, body: Any) -> int:
    """Run ``body(hw)`` with clear exits: 2 for usage and configuration, else its own code."""
    try:
        with hardware(args) as hw:
            return int(body(hw))
    except (UsageError, LayoutError) as exc:
        print(f"allhours: {exc}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------- status


def cmd_status(args: argparse.Namespace) -> int:
    """Print every compartment's state, board, channel and door."""
    return run(args, lambda hw: _status(args, hw))


def _status(args: argparse.Namespace, hw: Hardware) -> int:
    journal_path = journal_of(args, hw)
    states: dict[str, str] = {}
    if journal_path is None:
        print("(no journal given: states unknown; pass --journal)", file=sys.stderr)
    elif not journal_path.exists():
        print(f"(no locker journal at {journal_path}: states unknown)", file=sys.stderr)
        journal_path = None
    if journal_path is not None:
        journal = open_journal(journal_path)
        try:
            replayed = journal.replay()
        finally:
            journal.close()
        states = {cid: rec["state"] for cid, rec in replayed.compartments.items()}
    # Read only: no alarms from a technician's look at the doors.
    supervisor = DoorSupervisor(hw.config.compartments, hw.boards)
    doors = supervisor.poll()
    failed = supervisor.faults()
    rows = []
    for spec in hw.config.compartments:
        rows.append(
            {
                "id": spec.id,
                "size": spec.size.value,
                "state": states.get(spec.id, "empty") if journal_path else "-",
                "board": spec.board,
                "channel": spec.channel,
                "door": doors[spec.id].value,
                "door_input": f"{spec.door.board}:{spec.door.input}" if spec.door else None,
            }
        )
    if args.json:
        print(json.dumps({"compartments": rows, "boards_not_answering": failed}, indent=2))
    else:
        _table(rows, ["id", "size", "state", "board", "channel", "door", "door_input"])
        for error in failed.values():
            print(f"door sensors do not answer: {error}", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- open and test


def cmd_open(args: argparse.Namespace) -> int:
    """Open one compartment under supervision, journalled as a technician open."""
    return run(args, lambda hw: _open(args, hw))


def _open(args: argparse.Namespace, hw: Hardware) -> int:
    with bank(args, hw) as b:
        try:
            hw.config.compartment(args.compartment)
        except LayoutError as exc:
            raise UsageError(str(exc)) from None
        row = _open_one(b, args.compartment, "technician open")
    _print_rows(args, hw, [row])
    return 0 if row["ok"] else 1


def cmd_test(args: argparse.Namespace) -> int:
    """Pulse each compartment in turn, confirm its door, and print a table."""
    return run(args, lambda hw: _test(args, hw))


def _test(args: argparse.Namespace, hw: Hardware) -> int:
    with bank(args, hw) as b:
        rows = [_open_one(b, spec.id, "technician test") for spec in hw.config.compartments]
    _print_rows(args, hw, rows)
    return 0 if all(r["ok"] for r in rows) else 1


_RESULTS = {
    DoorCheck.CONFIRMED: "door seen open",
    DoorCheck.UNSENSED: "pulsed; no door sensor: check by eye",
    DoorCheck.SENSOR_FAILED: "pulsed; door sensor did not answer: check by eye",
}


def _open_one(b: LockerBank, compartment_id: str, reason: str) -> dict[str, Any]:
    spec = next(c.spec for c in b.compartments() if c.id == compartment_id)
    row: dict[str, Any] = {"id": spec.id, "board": spec.board, "channel": spec.channel}
    started = time.monotonic()
    try:
        check = b.open(compartment_id, reason=reason)
    except DoorJammed:
        row.update(ok=False, result="door did not open after two pulses: now out of service")
    except LockerFault as exc:
        row.update(ok=False, result=f"board fault: {exc.detail}")
    except UnknownCompartment as exc:
        raise UsageError(str(exc)) from None
    else:
        # Nobody will answer a door question here: the technician looks at the door.
        b.abandon_opening(compartment_id)
        row.update(ok=check != DoorCheck.SENSOR_FAILED, result=_RESULTS[check])
    row["ms"] = round((time.monotonic() - started) * 1000)
    return row


def _print_rows(args: argparse.Namespace, hw: Hardware, rows: list[dict[str, Any]]) -> None:
    alarms = [
        {"kind": a.kind, "compartment": a.compartment_id, "detail": a.detail} for a in hw.alarms
    ]
    if args.json:
        print(json.dumps({"results": rows, "alarms": alarms, "notes": hw.notes}, indent=2))
        return
    _table(
        [{**r, "ok": "ok" if r["ok"] else "FAIL"} for r in rows],
        ["id", "board", "channel", "ok", "ms", "result"],
    )
    for alarm in alarms:
        where = alarm["compartment"] or "-"
        print(f"alarm {alarm['kind']} on {where}: {alarm['detail']}", file=sys.stderr)
    for note in hw.notes:
        print(f"({note})", file=sys.stderr)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    cells = [[("-" if r[c] is None else str(r[c])) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
