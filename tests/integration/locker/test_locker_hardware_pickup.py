"""Pickups through the real drivers and their wire-level emulators (RS-485 pty, pyusb backend)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from locker_hw_rig import CLERK, HardwareTerminal, hardware_terminal, relay_config, rs485_config

from cloud_bridge.contract import messages as m
from devices.lock.rs485_frames import open_frame
from locker.boards import BoardSet
from locker.compartment import State
from terminal.flows.pickup import PickupRefused, PickupStep
from terminal.flows.session import FlowError

CODE = "482913"
OTHER = "111111"


@pytest.fixture
def rs485(tmp_path: Path) -> Iterator[HardwareTerminal]:
    rig = hardware_terminal(tmp_path, rs485_config())
    yield rig
    rig.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[HardwareTerminal]:
    rig = hardware_terminal(tmp_path, relay_config())
    yield rig
    rig.close()


def state_of(rig: HardwareTerminal, compartment: str) -> State:
    return next(c.state for c in rig.node.locker.compartments() if c.id == compartment)


def open_requests(rig: HardwareTerminal, port: str) -> list[bytes]:
    return [r for r in rig.emulation.buses[port].requests if r[:1] == open_frame(1, 1)[:1]]


def test_rs485_pickup_sends_the_open_frame_of_exactly_that_lock_and_confirms_by_feedback(rs485):
    rs485.load_result("L-OTHER", OTHER)
    target = rs485.load_result("L-7", CODE)
    bus = rs485.emulation.buses["/dev/ttyCAB"]
    bus.requests.clear()
    flow = rs485.node.pickup()

    opened = flow.enter_code(CODE)

    assert (opened.compartment_id, opened.confirmed, flow.step) == (target, True, PickupStep.OPEN)
    channel = rs485.config.compartment(target).channel
    assert open_requests(rs485, "/dev/ttyCAB") == [open_frame(3, channel)]
    assert rs485.emulation.doors[target].is_open
    assert [d.pulses for cid, d in rs485.emulation.doors.items() if cid != target] == [1, 0, 0]
    assert state_of(rs485, target) == State.EMPTY
    [picked] = rs485.messages(m.ResultPickedUp)
    assert (picked.load_id, picked.compartment_id) == ("L-7", target)


def test_relay_pickup_switches_exactly_that_relay_and_reads_the_door_on_the_input_board(relay):
    target = relay.load_result("L-7", CODE)
    board = relay.emulation.relay_boards["relay1"]
    board.pulses.clear()

    opened = relay.node.pickup().enter_code(CODE)

    assert (opened.compartment_id, opened.confirmed) == ("B01", True) and target == "B01"
    assert [relay_no for relay_no, _ in board.pulses] == [1]
    assert board.energised() == set()  # the coil was released after the pulse
    reads = relay.emulation.buses["/dev/ttyIN"].requests
    assert reads and all(r[2] == 0x00 for r in reads)  # door reads only, never an open
    assert relay.messages(m.ResultPickedUp)


def test_relay_pickup_without_a_sensor_asks_the_citizen_before_it_counts(relay):
    relay.load_result("L-1", "222222")
    relay.load_result("L-2", "333333")
    target = relay.load_result("L-3", CODE)
    assert target == "B03"
    board = relay.emulation.relay_boards["relay1"]
    board.pulses.clear()
    flow = relay.node.pickup()

    opened = flow.enter_code(CODE)
    assert (opened.confirmed, flow.step) == (False, PickupStep.CONFIRM_DOOR)
    assert relay.messages(m.ResultPickedUp) == []
    assert state_of(relay, "B03") == State.HOLDING_RESULT

    flow.door_opened(False)  # "No": one more pulse
    assert [r for r, _ in board.pulses] == [3, 3]
    confirmed = flow.door_opened(True)
    assert confirmed.confirmed and flow.step == PickupStep.OPEN
    assert state_of(relay, "B03") == State.EMPTY
    assert [p.load_id for p in relay.messages(m.ResultPickedUp)] == ["L-3"]


def test_relay_pickup_without_a_sensor_two_noes_end_out_of_service_with_an_alarm(relay):
    for n in range(1, 4):
        relay.load_result(f"L-{n}", CODE if n == 3 else f"{n}{n}{n}{n}{n}{n}")
    flow = relay.node.pickup()
    flow.enter_code(CODE)
    flow.door_opened(False)
    with pytest.raises(PickupRefused, match="will contact you") as caught:
        flow.door_opened(False)
    assert (caught.value.reason, flow.step) == ("jammed", PickupStep.OUT_OF_SERVICE)
    assert state_of(relay, "B03") == State.OUT_OF_SERVICE
    assert relay.messages(m.ResultPickedUp) == []
    assert relay.alarms() == [("lock_fault", "B03")]


def test_a_jammed_rs485_door_ends_out_of_service_with_an_alarm_never_picked_up(rs485):
    target = rs485.load_result("L-7", CODE)
    rs485.emulation.doors[target].jam()
    flow = rs485.node.pickup()
    with pytest.raises(PickupRefused, match="will contact you") as caught:
        flow.enter_code(CODE)
    assert (caught.value.reason, flow.step) == ("jammed", PickupStep.OUT_OF_SERVICE)
    assert rs485.emulation.doors[target].pulses == 1 + 2  # staff load, pickup, one retry
    assert state_of(rs485, target) == State.OUT_OF_SERVICE
    assert rs485.messages(m.ResultPickedUp) == []
    assert rs485.alarms() == [("lock_fault", target)]
    with pytest.raises(PickupRefused) as again:
        rs485.node.pickup().enter_code(CODE)
    assert again.value.reason == "out_of_service"


def test_a_forced_door_reaches_the_outbox_as_one_contract_alarm(rs485):
    supervisor = rs485.node.locker.doors
    supervisor.poll()
    rs485.emulation.doors["A03"].force()
    supervisor.start()
    try:
        deadline = time.monotonic() + 5
        while not rs485.alarms() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # several more polls: still one alarm for one opening
    finally:
        supervisor.stop()
    assert rs485.alarms() == [("door_forced", "A03")]
    [alarm] = rs485.messages(m.Alarm)
    assert alarm.severity == m.Severity.CRITICAL


def test_an_rs485_board_unplugged_after_it_pulsed_leaves_the_pickup_unconfirmed(rs485):
    """The board pulses, then the adapter is pulled before it answers; its door feedback goes
    with it. The door stands open, so the result must not look untouched."""
    target = rs485.load_result("L-7", CODE)
    rs485.emulation.buses["/dev/ttyCAB"].unplug_on_next_open()
    flow = rs485.node.pickup()
    started = time.monotonic()
    with pytest.raises(PickupRefused, match="cannot tell whether its door opened") as caught:
        flow.enter_code(CODE)
    assert time.monotonic() - started < 10  # bounded by the driver's timeouts, no hang
    assert caught.value.reason == "unconfirmed" and flow.step == PickupStep.ENTER_CODE
    assert rs485.emulation.doors[target].is_open
    slot = next(c for c in rs485.node.locker.compartments() if c.id == target)
    assert (slot.state, slot.load_id) == (State.HOLDING_RESULT, "L-7")
    assert rs485.node.locker.unconfirmed_openings() == [target]
    assert rs485.messages(m.ResultPickedUp) == []
    alarms = rs485.alarms()
    assert alarms[0] == ("lock_fault", target) and ("opening_unconfirmed", target) in alarms
    assert {kind for kind, _ in alarms} <= {"lock_fault", "opening_unconfirmed", "device_fault"}


def test_relay_board_lost_on_the_second_pulse_after_a_no_leaves_the_pickup_unconfirmed(relay):
    """No sensor: the first pulse opens the door, the person says "No" and pulls the relay
    board's cable, so the second pulse fails. The opening stays on record for staff."""
    for n in range(1, 4):
        relay.load_result(f"L-{n}", CODE if n == 3 else f"{n}{n}{n}{n}{n}{n}")
    flow = relay.node.pickup()
    flow.enter_code(CODE)
    relay.emulation.relay_boards["relay1"].unplug()
    with pytest.raises(PickupRefused, match="cannot tell whether its door opened") as caught:
        flow.door_opened(False)
    assert caught.value.reason == "unconfirmed"
    assert state_of(relay, "B03") == State.HOLDING_RESULT
    assert relay.node.locker.unconfirmed_openings() == ["B03"]
    assert relay.alarms() == [("lock_fault", "B03"), ("opening_unconfirmed", "B03")]
    assert relay.messages(m.ResultPickedUp) == []


def test_a_relay_board_unplugged_before_the_pulse_is_settled_shut_by_the_door_sensor(relay):
    target = relay.load_result("L-7", CODE)
    relay.emulation.relay_boards["relay1"].unplug(after_transfers=0)  # the ON never arrives
    flow = relay.node.pickup()
    with pytest.raises(PickupRefused, match="could not be opened") as caught:
        flow.enter_code(CODE)
    # The input board answers and saw the door stay shut: nothing can have been taken.
    assert caught.value.reason == "fault"
    assert state_of(relay, target) == State.HOLDING_RESULT
    assert relay.node.locker.unconfirmed_openings() == []
    assert relay.alarms() == [("lock_fault", target)]


def test_a_relay_board_unplugged_mid_pulse_is_settled_by_the_door_sensor(relay):
    target = relay.load_result("L-7", CODE)
    board = relay.emulation.relay_boards["relay1"]
    board.unplug(after_transfers=1)  # the ON report goes through, then the cable is out
    opened = relay.node.pickup().enter_code(CODE)
    # The latch was released before the board vanished and the input board saw the door open.
    assert (opened.compartment_id, opened.confirmed) == (target, True)
    assert state_of(relay, target) == State.EMPTY
    assert relay.alarms() == [("lock_fault", target)]


class PowerCut(BaseException):
    """The terminal losing power: nothing after the line that raised it runs."""


class CutAfterUnlock(BoardSet):
    """The real drivers; the power goes the moment a board has accepted an unlock."""

    def __init__(self, inner: BoardSet) -> None:
        self.inner = inner
        self.__dict__.update(inner.__dict__)

    def unlock(self, spec, pulse_ms):
        self.inner.unlock(spec, pulse_ms)
        raise PowerCut()


def test_a_power_cut_between_unlock_and_door_confirmed_is_recovered_on_restart(rs485):
    target = rs485.load_result("L-7", CODE)
    doomed = rs485.boot(wrap=CutAfterUnlock)
    with pytest.raises(PowerCut):
        doomed.pickup().enter_code(CODE)
    assert rs485.emulation.doors[target].is_open  # the door did open before the power went
    assert rs485.messages(m.ResultPickedUp) == []

    restarted = rs485.boot()  # same data dir, same boards, same doors
    assert restarted.report_unreported_pickups() == 1
    assert state_of(rs485, target) == State.EMPTY
    [picked] = rs485.messages(m.ResultPickedUp)
    assert (picked.load_id, picked.compartment_id) == ("L-7", target)
    assert rs485.alarms() == []  # the open door was the interrupted pickup, not a forced one
    assert restarted.report_unreported_pickups() == 0


def test_a_power_cut_with_the_door_shut_again_keeps_the_result_and_alarms(rs485):
    target = rs485.load_result("L-7", CODE)
    doomed = rs485.boot(wrap=CutAfterUnlock)
    with pytest.raises(PowerCut):
        doomed.pickup().enter_code(CODE)
    rs485.emulation.doors[target].close()
    rs485.boot()
    assert state_of(rs485, target) == State.HOLDING_RESULT
    assert rs485.alarms() == [("opening_unconfirmed", target)]
    assert rs485.messages(m.ResultPickedUp) == []


def test_a_result_behind_a_door_left_open_is_not_loaded_and_no_code_goes_out(rs485):
    """The clerk confirms the load with the door ajar: the backend would text the code with
    the result free to take, and the pickup would pulse a door standing open. Refused until
    the door's sensor reads it shut."""
    compartment = rs485.reserve_load("L-9")
    staff = rs485.node.staff(CLERK)
    staff.open_for_load("L-9")

    with pytest.raises(FlowError, match="still open") as refused:
        staff.confirm_loaded("L-9")

    assert refused.value.key == "staff.error.still_open"
    assert state_of(rs485, compartment) == State.RESERVED
    assert rs485.messages(m.ResultLoaded) == []
    rs485.emulation.doors[compartment].close()
    staff.confirm_loaded("L-9")
    assert state_of(rs485, compartment) == State.HOLDING_RESULT
    assert [x.load_id for x in rs485.messages(m.ResultLoaded)] == ["L-9"]
