"""The USB HID relay driver facing a hostile board: odd product strings and report bytes."""

from __future__ import annotations

import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.lock.port import LockFault
from devices.lock.usb_relay import UsbRelayBoard
from devices.lock.usb_relay_emulator import EmulatedRelayBoard, UsbRelayBackend
from devices.lock.usb_relay_protocol import channels_from_product


class _HostileFirmware(EmulatedRelayBoard):
    """A board on the shared V-USB ids that answers with whatever bytes it was given."""

    def __init__(self, product: bytes, report: bytes) -> None:
        super().__init__("QAAAA")
        self.product_descriptor, self.report = product, report

    def _string_descriptor(self, index: int) -> bytes:
        if index == 2:
            return bytes([min(255, 2 + len(self.product_descriptor)), 3]) + self.product_descriptor
        return super()._string_descriptor(index)

    def _hid_class(self, bm_request_type: int, b_request: int, w_value: int, data) -> int:
        if bm_request_type & 0x80:  # GET_REPORT: the hostile answer, cut to the buffer
            n = min(len(data), len(self.report))
            data[:n] = array.array("B", self.report[:n])
            return n
        return super()._hid_class(bm_request_type, b_request, w_value, data)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


products = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=12).map(lambda t: _utf16("USBRelay" + t)),
    st.sampled_from(["USBRelay²", "USBRelay٣", "USBRelay0", "USBRelay9", "USBRelay"]).map(_utf16),
)


@given(products, st.binary(max_size=12))
def test_discovery_lists_or_skips_a_hostile_board_and_never_crashes(product, report):
    backend = UsbRelayBackend([_HostileFirmware(product, report)])

    for info in UsbRelayBoard.find_all(backend=backend):
        assert info.channels is None or 1 <= info.channels <= 8
        assert info.serial is None or len(info.serial) <= 5


@given(st.binary(max_size=12))
def test_reading_relays_gives_states_or_a_lock_fault(report):
    board = UsbRelayBoard(
        None, backend=UsbRelayBackend([_HostileFirmware(_utf16("USBRelay2"), report)])
    )
    try:
        states = board.relay_states()
    except LockFault:
        return
    finally:
        board.close()
    assert set(states) == {1, 2}


@given(st.text(max_size=16))
def test_the_channel_count_is_read_from_ascii_digits_only(product):
    channels = channels_from_product(product)
    assert channels is None or (1 <= channels <= 8 and product == f"USBRelay{channels}")


@pytest.mark.parametrize("product", ["USBRelay²", "USBRelay٣", "USBRelay𝟜"])
def test_a_non_ascii_digit_is_not_a_relay_count(product):
    # "²".isdigit() is True but int("²") raises: discovery used to crash on such a board.
    assert channels_from_product(product) is None


def test_a_product_string_that_is_not_utf16_is_skipped_in_discovery():
    lone_surrogate = b"\x00\xd8"
    backend = UsbRelayBackend([_HostileFirmware(lone_surrogate, bytes(8))])

    assert UsbRelayBoard.find_all(backend=backend) == []
