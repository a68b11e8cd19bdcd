"""A terminal whose locker runs on the wire-level board emulators built from a configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from command_delivery import deliver
from enrolled_terminal import enrolled_offline
from jsonschema import Draft202012Validator

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices, LockerEmulation, build_boards, emulate_locker
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityDocument
from face.decision import FaceDecision, FixedFaceVerifier
from locker.boards import BoardSet
from locker.config import LockerConfig, parse_locker_config
from terminal.flows.staff import StaffMember
from terminal.node import TerminalNode

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

TERMINAL = "T0001"
KEY = b"pickup-code-key-of-T0001"
REPO = Path(__file__).resolve().parents[3]
CITIZEN = IdentityDocument(
    document_type="cn_resident_id", name="张三", number="11010519491231002X", photo=b"\xff\xd8"
)
MATCH = FaceDecision(matched=True, distance=0.31, threshold=0.5, liveness_passed=True)

# Short limits: a jam is a door that never opens, so the wait is the whole limit.
LIMITS = {
    "pulse_ms": 100,
    "open_confirm_s": 0.3,
    "close_confirm_s": 0.3,
    "poll_interval_s": 0.02,
    "door_left_open_s": 60,
}


def rs485_config() -> dict[str, Any]:
    """Four compartments on one RS-485 board with door feedback."""
    return {
        "locker": {
            **LIMITS,
            "board": [
                {"id": "cab1", "kind": "rs485", "port": "/dev/ttyCAB", "address": 3, "channels": 8}
            ],
            "compartment": [
                {"id": f"A0{n}", "size": "S", "board": "cab1", "channel": n, "door": "same"}
                for n in range(1, 5)
            ],
        }
    }


def relay_config() -> dict[str, Any]:
    """A USB relay board; B01/B02 doors on an RS-485 input board, B03 unsensed."""
    return {
        "locker": {
            **LIMITS,
            "board": [
                {"id": "relay1", "kind": "usbrelay", "serial": "RLY01", "channels": 4},
                {
                    "id": "inputs",
                    "kind": "rs485",
                    "port": "/dev/ttyIN",
                    "address": 2,
                    "channels": 8,
                },
            ],
            "compartment": [
                {
                    "id": "B01",
                    "size": "S",
                    "board": "relay1",
                    "channel": 1,
                    "door": {"board": "inputs", "input": 5},
                },
                {
                    "id": "B02",
                    "size": "S",
                    "board": "relay1",
                    "channel": 2,
                    "door": {"board": "inputs", "input": 6},
                },
                {"id": "B03", "size": "S", "board": "relay1", "channel": 3, "door": "none"},
            ],
        }
    }


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class HardwareTerminal:
    """A never-started TerminalNode (no broker) on emulated boards, with its parts in reach."""

    data_dir: Path
    config: LockerConfig
    emulation: LockerEmulation
    clock: Clock = field(default_factory=Clock)
    nodes: list[TerminalNode] = field(default_factory=list)
    board_sets: list[BoardSet] = field(default_factory=list)

    @property
    def node(self) -> TerminalNode:
        return self.nodes[-1]

    def boot(self, wrap: Callable[[BoardSet], BoardSet] = lambda b: b) -> TerminalNode:
        """Build drivers and a node on the same data dir, as a terminal does at power-on."""
        boards = wrap(build_boards(self.config, self.emulation))
        self.board_sets.append(boards)
        devices = EmulatedDevices(
            reader=ScriptedIdentityReader([CITIZEN] * 3),
            face=FixedFaceVerifier(MATCH),
            layout=list(self.config.compartments),
            boards=boards,
            supervision=self.config.supervision,
        )
        node = training_terminal(self.data_dir, devices=devices, clock=self.clock).node
        self.nodes.append(node)
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.locker.doors.stop()
            node.journal.close()
            node.db.close()
        for boards in self.board_sets:
            boards.close()
        self.emulation.stop()

    def reserve_load(self, load_id: str) -> str:
        """The backend's LoadResult: a compartment reserved for the result; its id."""
        done = deliver(
            self.node,
            m.LoadResult(
                terminal_id=TERMINAL,
                operation_id=load_id,
                load_id=load_id,
                application_no=f"APP-{load_id}",
                expires_at=self.clock() + timedelta(hours=1),
                item_code="SB-0203",  # collected with the code alone
            ),
        )
        assert done.outcome == m.AckOutcome.DONE, done.detail
        return done.result["compartment_id"]

    def load_result(self, load_id: str, code: str, phone: str | None = None) -> str:
        """What the backend and a clerk do: LoadResult, staff load (door shut after), code.

        With ``phone`` the code goes out with its tail's digest, as the backend sends it.
        """
        node, now = self.node, self.clock()
        compartment = self.reserve_load(load_id)
        staff = node.staff(CLERK)
        staff.open_for_load(load_id)
        self.emulation.doors[compartment].close()  # the clerk shuts the door on the result
        staff.confirm_loaded(load_id)
        armed = deliver(
            node,
            m.SetPickupCode(
                terminal_id=TERMINAL,
                operation_id=f"{load_id}#1",
                load_id=load_id,
                application_no=f"APP-{load_id}",
                code_digest=pickup_code.digest(KEY, TERMINAL, code),
                code_expires_at=now + timedelta(days=3),
                expires_at=now + timedelta(hours=1),
                phone_tail_digest=(
                    pickup_code.tail_digest(KEY, TERMINAL, load_id, phone[-4:]) if phone else None
                ),
            ),
        )
        assert armed.outcome == m.AckOutcome.DONE, armed.detail
        return compartment

    def messages(self, cls: type[m.Message]) -> list[Any]:
        """Decoded messages of one type waiting in the outbox, oldest first."""
        rows = self.node.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
        return [x for x in (m.decode(p) for (p,) in rows) if isinstance(x, cls)]

    def alarms(self) -> list[tuple[str, str | None]]:
        """Alarm events in the outbox, each checked against the contract's JSON Schema."""
        name = m.type_name(m.Alarm)
        schema = json.loads((REPO / "docs/contract/schemas" / f"{name}.json").read_text())
        rows = self.node.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
        found = []
        for (payload,) in rows:
            message = m.decode(payload)
            if isinstance(message, m.Alarm):
                Draft202012Validator(schema).validate(json.loads(payload))
                found.append((message.kind.value, message.compartment_id))
        return found


def hardware_terminal(tmp_path: Path, data: dict[str, Any], **limits: float) -> HardwareTerminal:
    config = parse_locker_config(data)
    if limits:
        config = replace(config, supervision=replace(config.supervision, **limits))
    emulation = emulate_locker(config, close_after_s=None, pace=False)
    data_dir = enrolled_offline(tmp_path / "terminal", TERMINAL, pickup_code_key=KEY)
    rig = HardwareTerminal(data_dir, config, emulation)
    try:
        rig.boot()
    except BaseException:
        rig.close()
        raise
    return rig
