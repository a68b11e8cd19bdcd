"""The USB HID relay driver against the pyusb backend that emulates the board's firmware."""

from __future__ import annotations

import pytest
import usb.core
import usb.util
from lockdev_clock import SteppedClock

from devices.lock.door import PhysicalDoor
from devices.lock.port import LockFault, LockPort
from devices.lock.usb_relay import UsbRelayBoard, UsbRelayInfo
from devices.lock.usb_relay_emulator import (
    REPORT_DESCRIPTOR,
    EmulatedRelayBoard,
    UsbRelayBackend,
)
from devices.lock.usb_relay_protocol import UDEV_RULE

SET, GET = 0x21, 0xA1


def _board(serial: str, channels: int, clock: SteppedClock, address: int) -> EmulatedRelayBoard:
    doors = [PhysicalDoor(clock=clock, close_after_s=2.0) for _ in range(channels)]
    return EmulatedRelayBoard(serial, doors, address=address, clock=clock)


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def bus(clock):
    """Two boards on one bus: a 2-relay and a 4-relay one."""
    two = _board("AB12C", 2, clock, address=5)
    four = _board("ZX9Q1", 4, clock, address=7)
    return UsbRelayBackend([two, four]), two, four


def _driver(backend, serial, clock) -> UsbRelayBoard:
    return UsbRelayBoard(serial, backend=backend, clock=clock, sleep=clock.sleep)


def _commands(board: EmulatedRelayBoard) -> list[bytes]:
    return [data for rt, req, _, _, data in board.transfers if (rt, req) == (SET, 0x09)]


def test_the_emulated_board_enumerates_like_the_real_one_through_pyusb(bus):
    backend, _, _ = bus
    device = usb.core.find(backend=backend, idVendor=0x16C0, idProduct=0x05DF, address=5)
    assert usb.util.get_string(device, device.iManufacturer) == "www.dcttech.com"
    assert usb.util.get_string(device, device.iProduct) == "USBRelay2"
    interface = device.get_active_configuration()[(0, 0)]
    assert interface.bInterfaceClass == 3  # HID
    (endpoint,) = list(interface)
    assert endpoint.bEndpointAddress == 0x81
    assert usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
    with pytest.raises(usb.core.USBError) as busy:  # usbhid holds the interface, as on Linux
        device.ctrl_transfer(0x81, 0x06, 0x2200, 0, 64)
    assert busy.value.errno == 16
    device.detach_kernel_driver(0)
    report = device.ctrl_transfer(0x81, 0x06, 0x2200, 0, 64)
    assert bytes(report) == REPORT_DESCRIPTOR
    usb.util.dispose_resources(device)


def test_find_all_tells_the_boards_apart_by_serial_and_reads_the_relay_count(bus):
    backend, _, _ = bus
    assert UsbRelayBoard.find_all(backend=backend) == [
        UsbRelayInfo("AB12C", 2, 1, 5),
        UsbRelayInfo("ZX9Q1", 4, 1, 7),
    ]
    assert backend.opened == 0  # every handle find_all opened was closed again


def test_unlock_energises_exactly_the_commanded_relay_for_the_pulse_then_releases_it(bus, clock):
    backend, two, four = bus
    relay = _driver(backend, "ZX9Q1", clock)
    assert isinstance(relay, LockPort)
    relay.unlock(3, 450)
    assert [d.openings for d in four.doors] == [0, 0, 1, 0]
    assert [d.pulses for d in two.doors] == [0, 0]  # the other board never moved
    assert four.pulses == [(3, pytest.approx(0.45))]
    assert four.energised() == set()
    assert _commands(four) == [bytes.fromhex("ff03000000000000"), bytes.fromhex("fd03000000000000")]
    assert _commands(two) == []
    assert clock.slept == [0.45]


def test_every_switch_is_followed_by_a_get_report_read_back(bus, clock):
    backend, _, four = bus
    _driver(backend, "ZX9Q1", clock).unlock(1, 100)
    requests = [(rt, req) for rt, req, *_ in four.transfers if rt in (SET, GET)]
    assert requests[-4:] == [(SET, 0x09), (GET, 0x01), (SET, 0x09), (GET, 0x01)]
    assert [d for rt, req, _, _, d in four.transfers if rt == GET][-2:] == [
        b"ZX9Q1\x00\x00\x01",  # relay 1 energised
        b"ZX9Q1\x00\x00\x00",
    ]


def test_without_a_serial_the_only_board_is_used_and_several_boards_are_refused(clock):
    single = _board("SOLO1", 1, clock, address=3)
    relay = _driver(UsbRelayBackend([single]), None, clock)
    relay.unlock(1, 200)
    assert single.doors[0].is_open
    assert relay.serial == "SOLO1"
    pair = UsbRelayBackend([_board("AAAAA", 2, clock, 3), _board("BBBBB", 2, clock, 4)])
    with pytest.raises(LockFault, match=r"several USB relay boards found \(AAAAA, BBBBB\)"):
        _driver(pair, None, clock).unlock(1, 200)


def test_the_driver_takes_the_interface_from_the_kernel_hid_driver(bus, clock):
    backend, _, four = bus
    assert four.kernel_driver_active
    _driver(backend, "ZX9Q1", clock).unlock(2, 100)
    assert not four.kernel_driver_active


def test_a_jammed_door_still_gets_its_relay_fired_but_does_not_open(bus, clock):
    backend, _, four = bus
    four.doors[1].jam()
    _driver(backend, "ZX9Q1", clock).unlock(2, 300)  # relay boards cannot see the door
    assert four.doors[1].pulses == 1
    assert not four.doors[1].is_open
    assert four.pulses == [(2, pytest.approx(0.3))]


def test_a_relay_that_does_not_switch_on_is_a_fault_and_the_door_is_not_pulsed(bus, clock):
    backend, _, four = bus
    four.stuck.add(4)
    relay = _driver(backend, "ZX9Q1", clock)
    with pytest.raises(LockFault, match=r"relay 4 on USB relay board ZX9Q1 did not switch on"):
        relay.unlock(4, 300)
    assert four.doors[3].pulses == 0
    assert _commands(four)[-1] == bytes.fromhex("fd04000000000000")  # OFF sent anyway
    assert clock.slept == []  # no pulse wait for a relay that never closed


def test_a_channel_the_board_does_not_have_is_refused_before_anything_is_sent(bus, clock):
    backend, _, four = bus
    with pytest.raises(LockFault, match=r"has relays 1..4, not 5"):
        _driver(backend, "ZX9Q1", clock).unlock(5, 300)
    assert _commands(four) == []


def test_a_board_unplugged_mid_pulse_is_a_clear_fault_and_its_relays_are_released(bus, clock):
    backend, _, four = bus
    relay = _driver(backend, "ZX9Q1", clock)
    relay.unlock(1, 100)  # opens and caches the device
    sent = len(four.transfers)
    four.unplug(after_transfers=2)  # ON and its read-back pass, then the cable goes
    with pytest.raises(LockFault, match=r"board ZX9Q1 unplugged during the unlock of relay 3"):
        relay.unlock(3, 300)
    assert len(four.transfers) == sent + 2
    assert four.doors[2].openings == 1  # the latch was released before the cut
    assert four.energised() == set()
    assert four.pulses[-1][0] == 3
    assert relay.diagnostics()["connected"] is False


def test_a_board_unplugged_at_the_on_command_never_pulsed_the_door(bus, clock):
    backend, _, four = bus
    relay = _driver(backend, "ZX9Q1", clock)
    relay.relay_states()
    four.unplug(after_transfers=0)
    with pytest.raises(LockFault, match=r"board ZX9Q1 unplugged"):
        relay.unlock(2, 300)
    assert four.doors[1].pulses == 0
    assert clock.slept == []
    assert UsbRelayBoard.find_all(backend=backend) == [UsbRelayInfo("AB12C", 2, 1, 5)]


def test_an_unplugged_board_stays_a_clear_fault_until_it_is_plugged_back(bus, clock):
    backend, _, four = bus
    relay = _driver(backend, "ZX9Q1", clock)
    four.unplug()
    with pytest.raises(LockFault, match=r"USB relay board ZX9Q1 not found \(unplugged\?\)"):
        relay.unlock(1, 100)
    four.plug()
    relay.unlock(1, 100)
    assert four.doors[0].is_open


def test_a_stalled_request_is_a_fault_and_the_relay_is_still_switched_off(bus, clock):
    backend, _, four = bus
    relay = _driver(backend, "ZX9Q1", clock)
    relay.relay_states()  # open the device first, so the stall hits the ON command
    four.stall_next(1)
    with pytest.raises(LockFault, match=r"ZX9Q1 stalled the request"):
        relay.unlock(2, 300)
    assert four.energised() == set()
    assert _commands(four)[-1] == bytes.fromhex("fd02000000000000")


def test_an_off_command_that_fails_says_the_relay_may_still_be_energised(bus, clock):
    backend, _, four = bus
    relay = _driver(backend, "ZX9Q1", clock)
    relay.relay_states()

    def stall_after_pulse(seconds: float) -> None:
        clock.sleep(seconds)
        four.stall_next(1)  # the OFF is refused

    relay._sleep = stall_after_pulse
    with pytest.raises(LockFault, match=r"could not switch relay 2 off .* may still be energised"):
        relay.unlock(2, 300)
    assert four.energised() == {2}  # the emulator shows what the message warns about


def test_permission_denied_names_the_udev_rule_to_install(clock):
    locked = _board("PERM1", 2, clock, address=9)
    locked.access_denied = True
    backend = UsbRelayBackend([locked])
    with pytest.raises(LockFault) as failure:
        _driver(backend, "PERM1", clock).unlock(1, 100)
    assert UDEV_RULE in str(failure.value)
    assert "bus 1 address 9" in str(failure.value)
    (info,) = UsbRelayBoard.find_all(backend=backend)
    assert info.serial is None
    assert UDEV_RULE in (info.problem or "")


def test_the_udev_rule_matches_the_board_ids():
    assert 'ATTR{idVendor}=="16c0"' in UDEV_RULE
    assert 'ATTR{idProduct}=="05df"' in UDEV_RULE


def test_relay_states_and_diagnostics_report_the_board(bus, clock):
    backend, _, _ = bus
    relay = _driver(backend, "ZX9Q1", clock)
    assert relay.relay_states() == {1: False, 2: False, 3: False, 4: False}
    report = relay.diagnostics()
    assert report["serial"] == "ZX9Q1"
    assert report["channels"] == 4
    assert report["where"] == "bus 1 address 7"
    assert report["connected"] is True


def test_firmware_ignores_relay_numbers_out_of_range_and_stalls_unknown_commands(bus):
    backend, two, _ = bus
    device = usb.core.find(backend=backend, address=5)
    device.detach_kernel_driver(0)
    device.ctrl_transfer(SET, 0x09, 0x0300, 0, bytes.fromhex("ff09000000000000"))
    assert two.energised() == set()
    with pytest.raises(usb.core.USBError) as stall:
        device.ctrl_transfer(SET, 0x09, 0x0300, 0, bytes.fromhex("0100000000000000"))
    assert stall.value.errno == 32
    device.ctrl_transfer(SET, 0x09, 0x0300, 0, bytes.fromhex("fe00000000000000"))
    assert two.energised() == {1, 2}
    device.ctrl_transfer(SET, 0x09, 0x0300, 0, bytes.fromhex("fc00000000000000"))
    assert two.energised() == set()
    device.ctrl_transfer(SET, 0x09, 0x0300, 0, bytes.fromhex("fa4e45573031" + "0000"))
    assert bytes(device.ctrl_transfer(GET, 0x01, 0x0300, 0, 8))[:5] == b"NEW01"
    usb.util.dispose_resources(device)
