"""Depositing originals through the relay board emulator: jams and doors without a sensor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from locker_hw_rig import (
    CLERK,
    LIMITS,
    TERMINAL,
    HardwareTerminal,
    hardware_terminal,
    relay_config,
)

from cloud_bridge.contract import messages as m
from locker.compartment import State
from locker.layout import Size
from terminal.flows.session import FlowError, WrongStep
from terminal.flows.submission import Step, SubmissionFlow


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[HardwareTerminal]:
    rig = hardware_terminal(tmp_path, relay_config())
    yield rig
    rig.close()


def to_deposit(rig: HardwareTerminal) -> SubmissionFlow:
    flow = rig.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    for code in flow.missing_materials():
        flow.scan_material(code)
    flow.finish_materials()
    assert flow.step == Step.DEPOSIT
    return flow


def state_of(rig: HardwareTerminal, compartment: str) -> State:
    return next(c.state for c in rig.node.locker.compartments() if c.id == compartment)


def test_a_jammed_deposit_door_goes_out_of_service_and_the_session_opens_no_other(relay):
    relay.emulation.doors["B01"].jam()
    flow = to_deposit(relay)
    board = relay.emulation.relay_boards["relay1"]
    with pytest.raises(FlowError, match="continue without depositing"):
        flow.open_deposit()
    assert state_of(relay, "B01") == State.OUT_OF_SERVICE
    assert relay.alarms() == [("lock_fault", "B01")]
    pulses = len(board.pulses)
    assert not flow.deposit_can_open
    with pytest.raises(FlowError, match="No other compartment"):
        flow.open_deposit()  # one jammed compartment per session: nothing more opens
    assert len(board.pulses) == pulses and state_of(relay, "B02") == State.EMPTY
    flow.skip_deposit()
    flow.submit()
    [submitted] = relay.messages(m.ApplicationSubmitted)
    assert submitted.deposit_expected is False
    # The next citizen deposits in the next compartment; its sensor must see the door shut.
    following = to_deposit(relay)
    assert following.open_deposit() == "B02"
    assert not following.deposit_door_unconfirmed
    with pytest.raises(FlowError, match="still open"):
        following.close_deposit()  # the sensor reads the door open: not taken as closed
    assert state_of(relay, "B02") == State.RESERVED
    relay.emulation.doors["B02"].close()
    following.close_deposit()
    following.submit()
    [deposited] = relay.messages(m.MaterialsDeposited)
    assert deposited.compartment_id == "B02"


def occupy(rig: HardwareTerminal, *compartments: str) -> None:
    """Other citizens' originals already fill these (small) compartments."""
    for n, cid in enumerate(compartments, 1):
        slot = rig.node.locker.reserve_for_deposit(f"AH-{TERMINAL}-20261120-09{n:02d}", Size.S)
        assert slot.id == cid
        rig.node.locker.confirm_deposit(cid)


def test_an_unsensed_deposit_door_is_asked_about_and_no_twice_takes_it_out(relay):
    occupy(relay, "B01", "B02")
    flow = to_deposit(relay)
    assert flow.open_deposit() == "B03"  # the only one left: no sensor
    assert flow.deposit_door_unconfirmed
    board = relay.emulation.relay_boards["relay1"]
    before = len(board.pulses)
    flow.deposit_door_opened(False)  # "No": pulsed once more
    assert len(board.pulses) == before + 1 and flow.deposit_door_unconfirmed
    relay.emulation.doors["B03"].jam()
    with pytest.raises(FlowError, match="out of service"):
        flow.deposit_door_opened(False)
    assert state_of(relay, "B03") == State.OUT_OF_SERVICE
    [alarm] = relay.messages(m.Alarm)
    assert (alarm.kind, alarm.compartment_id) == (m.AlarmKind.LOCK_FAULT, "B03")
    assert "answered twice that it did not open" in alarm.detail  # only their word says so
    with pytest.raises(WrongStep):
        flow.close_deposit()
    flow.skip_deposit()
    assert flow.step == Step.REVIEW


def test_an_unsensed_deposit_door_confirmed_by_the_citizen_holds_the_originals(relay):
    occupy(relay, "B01", "B02")
    flow = to_deposit(relay)
    assert flow.open_deposit() == "B03"
    flow.deposit_door_opened(True)
    flow.close_deposit()
    assert state_of(relay, "B03") == State.HOLDING_DEPOSIT


def test_a_citizen_who_leaves_an_unsensed_door_unanswered_leaves_it_to_staff(relay):
    """The idle wipe after "Did the door open?": papers may be inside, the door may be open."""
    occupy(relay, "B01", "B02")
    flow = to_deposit(relay)
    assert flow.open_deposit() == "B03"
    board = relay.emulation.relay_boards["relay1"]
    pulses = len(board.pulses)
    application_no = flow.application_no

    flow.abandon("idle")

    assert len(board.pulses) == pulses  # nothing more opens
    [slot] = [c for c in relay.node.locker.compartments() if c.id == "B03"]
    assert (slot.state, slot.abandoned_application_no) == (
        State.HOLDING_DEPOSIT,
        application_no,
    )
    assert relay.node.locker.awaiting_answer() == []
    [alarm] = relay.messages(m.Alarm)
    assert (alarm.kind, alarm.severity) == (m.AlarmKind.DEPOSIT_ABANDONED, m.Severity.CRITICAL)
    assert "deposit abandoned (idle)" in alarm.detail and application_no in alarm.detail
    assert "nobody said whether the door opened" in alarm.detail
    events = [r.event for r in relay.node.journal.records() if r.compartment_id == "B03"]
    assert events[-3:] == ["deposit_abandoned", "door_unanswered", "alarm"]
    # Staff collect the papers in service mode: the door opens for them, then it is free.
    staff = relay.node.staff(CLERK)
    assert [c.id for c in staff.deposits()] == ["B01", "B02", "B03"]
    staff.collect_deposit("B03")
    assert len(board.pulses) == pulses + 1
    assert state_of(relay, "B03") == State.EMPTY
    assert relay.messages(m.DepositCollected) == []  # no application exists to report on


def test_a_reserved_compartment_whose_door_never_opened_is_freed_when_the_session_ends(relay):
    """The relay board refused the pulse and B01's sensor saw the door stay shut."""
    relay.emulation.relay_boards["relay1"].unplug(after_transfers=0)
    flow = to_deposit(relay)
    with pytest.raises(FlowError):
        flow.open_deposit()
    assert flow.deposit_compartment == "B01" and not flow.deposit_door_pulsed

    flow.abandon("idle")

    assert state_of(relay, "B01") == State.EMPTY
    assert [a for a in relay.alarms() if a[0] == "deposit_abandoned"] == []


def unsensed_relay_config() -> dict[str, Any]:
    """A USB relay board and no door inputs at all: S, S, M, M, L, L."""
    sizes = ["S", "S", "M", "M", "L", "L"]
    return {
        "locker": {
            **LIMITS,
            "board": [{"id": "relay1", "kind": "usbrelay", "serial": "RLY01", "channels": 8}],
            "compartment": [
                {"id": f"C0{n}", "size": size, "board": "relay1", "channel": n, "door": "none"}
                for n, size in enumerate(sizes, 1)
            ],
        }
    }


def test_a_session_saying_no_again_and_again_jams_at_most_one_compartment(tmp_path):
    """Unsensed doors: "No, it did not open" twice per compartment used to walk the whole bank
    (the small item reaching the M and L compartments too) out of service in one session."""
    rig = hardware_terminal(tmp_path, unsensed_relay_config())
    try:
        flow = to_deposit(rig)
        board = rig.emulation.relay_boards["relay1"]
        refusals = []
        for _ in range(len(rig.config.compartments)):
            try:
                flow.open_deposit()
                flow.deposit_door_opened(False)
                flow.deposit_door_opened(False)
            except FlowError as exc:
                refusals.append(exc.key)
        assert refusals[0] == "deposit.error.jammed"
        assert set(refusals[1:]) == {"deposit.error.no_more"}
        states = {c.id: c.state for c in rig.node.locker.compartments()}
        assert [cid for cid, st in states.items() if st == State.OUT_OF_SERVICE] == ["C01"]
        assert len(board.pulses) == 2  # one door, pulsed twice
        assert rig.alarms() == [("lock_fault", "C01")]
        flow.skip_deposit()
        flow.submit()
        # The next citizen still has a small compartment.
        assert to_deposit(rig).open_deposit() == "C02"
    finally:
        rig.close()
