"""Depositing originals through the relay board emulator: jams and doors without a sensor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from locker_hw_rig import HardwareTerminal, hardware_terminal, relay_config

from cloud_bridge.contract import messages as m
from locker.compartment import State
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


def test_a_jammed_deposit_door_goes_out_of_service_and_the_citizen_gets_another(relay):
    relay.emulation.doors["B01"].jam()
    flow = to_deposit(relay)
    with pytest.raises(FlowError, match="another compartment"):
        flow.open_deposit()
    assert state_of(relay, "B01") == State.OUT_OF_SERVICE
    assert relay.alarms() == [("lock_fault", "B01")]
    assert flow.open_deposit() == "B02"
    assert not flow.deposit_door_unconfirmed
    with pytest.raises(FlowError, match="still open"):
        flow.close_deposit()  # the sensor reads the door open: not taken as closed
    assert state_of(relay, "B02") == State.RESERVED
    relay.emulation.doors["B02"].close()
    flow.close_deposit()
    flow.submit()
    [deposited] = relay.messages(m.MaterialsDeposited)
    assert deposited.compartment_id == "B02"


def test_an_unsensed_deposit_door_is_asked_about_and_no_twice_takes_it_out(relay):
    relay.emulation.doors["B01"].jam()
    relay.emulation.doors["B02"].jam()
    flow = to_deposit(relay)
    for _ in range(2):
        with pytest.raises(FlowError):
            flow.open_deposit()
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
    with pytest.raises(WrongStep):
        flow.close_deposit()
    flow.skip_deposit()
    assert flow.step == Step.REVIEW


def test_an_unsensed_deposit_door_confirmed_by_the_citizen_holds_the_originals(relay):
    relay.emulation.doors["B01"].jam()
    relay.emulation.doors["B02"].jam()
    flow = to_deposit(relay)
    for _ in range(2):
        with pytest.raises(FlowError):
            flow.open_deposit()
    flow.open_deposit()
    flow.deposit_door_opened(True)
    flow.close_deposit()
    assert state_of(relay, "B03") == State.HOLDING_DEPOSIT
