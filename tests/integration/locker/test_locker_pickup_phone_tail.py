"""The phone tail as the code's second factor, from the backend's command to the RS-485 lock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from locker_hw_rig import KEY, TERMINAL, HardwareTerminal, hardware_terminal, rs485_config

from cloud_bridge.contract import pickup_code
from locker.compartment import State
from terminal.flows.pickup import PickupRefused

CODE = "482913"
PHONE = "13912348000"


@pytest.fixture
def rs485(tmp_path: Path) -> Iterator[HardwareTerminal]:
    rig = hardware_terminal(tmp_path, rs485_config())
    yield rig
    rig.close()


def refused(rig: HardwareTerminal, code: str, tail: str | None) -> PickupRefused:
    with pytest.raises(PickupRefused) as caught:
        rig.node.pickup().enter_code(code, tail)
    return caught.value


def wait_out_lockout(rig: HardwareTerminal) -> None:
    rig.clock.now += timedelta(seconds=rig.node.locker.lockout_remaining())


def slot(rig: HardwareTerminal, compartment: str):
    return next(c for c in rig.node.locker.compartments() if c.id == compartment)


def test_a_code_sent_with_its_phone_tail_opens_only_with_both(rs485):
    target = rs485.load_result("L-7", CODE, phone=PHONE)
    door = rs485.emulation.doors[target]
    loaded = door.pulses  # the clerk's opening to put the result in
    assert refused(rs485, CODE, None).reason == "wrong"  # the code alone
    assert refused(rs485, CODE, "8001").reason == "wrong"
    assert door.pulses == loaded

    opened = rs485.node.pickup().enter_code(CODE, "8000")

    assert opened.compartment_id == target and opened.confirmed
    assert rs485.emulation.doors[target].is_open
    assert slot(rs485, target).state == State.EMPTY


def test_the_terminal_keeps_only_a_digest_of_the_tail_bound_to_its_load(rs485):
    target = rs485.load_result("L-7", CODE, phone=PHONE)
    kept = slot(rs485, target).tail_digest
    assert kept == pickup_code.tail_digest(KEY, TERMINAL, "L-7", "8000")
    assert kept != pickup_code.tail_digest(KEY, TERMINAL, "L-8", "8000")
    assert "8000" not in repr(slot(rs485, target))
    bodies = [record.body for record in rs485.node.journal.records()]
    assert not any(value in ("8000", PHONE) for body in bodies for value in body.values())


def test_a_malformed_tail_is_told_and_not_counted(rs485):
    rs485.load_result("L-7", CODE, phone=PHONE)
    for tail in ("800", "80a0", "８０００"):
        assert refused(rs485, CODE, tail).reason == "tail"
    assert rs485.node.locker.wrong_code_streak() == 0


def test_guesses_with_the_applicants_tail_lock_the_code_and_tell_the_backend(rs485):
    target = rs485.load_result("L-7", CODE, phone=PHONE)
    loaded = rs485.emulation.doors[target].pulses
    for n in range(5):
        wait_out_lockout(rs485)
        assert refused(rs485, f"{n:06d}", "8000").reason == "wrong"
    wait_out_lockout(rs485)

    locked = refused(rs485, CODE, "8000")

    assert locked.reason == "code_locked"
    assert rs485.emulation.doors[target].pulses == loaded
    assert ("wrong_code_limit", target) in rs485.alarms()  # schema-checked, in the outbox
    # Staff re-send: the backend rotates the code; the new one opens with the same tail.
    rs485.node.locker.set_pickup_code(
        "L-7",
        pickup_code.digest(KEY, TERMINAL, "135790"),
        (rs485.clock() + timedelta(days=3)).timestamp(),
        pickup_code.tail_digest(KEY, TERMINAL, "L-7", "8000"),
    )
    assert rs485.node.pickup().enter_code("135790", "8000").compartment_id == target
