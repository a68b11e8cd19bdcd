"""The firmware of one emulated USBRelayN board: descriptors, feature reports, relays, doors.

It answers control transfers byte for byte like the V-USB relay firmware
(unknown commands stall, relay numbers out of range are silently ignored,
GET_REPORT carries the serial and the relay bitmask). Each relay is wired to a
`PhysicalDoor`: energising it releases the latch. `usb_relay_emulator` puts
such boards on a pyusb backend.
"""

from __future__ import annotations

import array
import errno
import struct
import threading
import time
from collections.abc import Callable, Sequence

import usb.core

from devices.lock.door import PhysicalDoor
from devices.lock.usb_relay_protocol import (
    CMD_ALL_OFF,
    CMD_ALL_ON,
    CMD_OFF,
    CMD_ON,
    CMD_SET_SERIAL,
    HID_GET_REPORT,
    HID_SET_REPORT,
    MANUFACTURER,
    PRODUCT_ID,
    REPORT_LENGTH,
    SERIAL_LENGTH,
    VENDOR_ID,
)

# The 22-byte report descriptor of the V-USB relay firmware: one vendor-defined
# feature report of 8 bytes, no report id.
REPORT_DESCRIPTOR = bytes.fromhex(
    "06 00 ff 09 01 a1 01 15 00 26 ff 00 75 08 95 08 09 00 b2 02 01 c0"
)
_LANGID_EN_US = 0x0409
ENDPOINT_IN = 0x81


class Descriptor:
    """Attribute bag: pyusb reads descriptor fields as attributes."""

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


def usb_error(code: int, message: str, libusb_code: int) -> usb.core.USBError:
    return usb.core.USBError(message, libusb_code, code)


def no_device() -> usb.core.USBError:
    return usb_error(errno.ENODEV, "No such device (it may have been disconnected)", -4)


def _stall() -> usb.core.USBError:
    return usb_error(errno.EPIPE, "Pipe error", -9)


class EmulatedRelayBoard:
    """One USBRelayN board: firmware state, relays wired to doors, and fault switches."""

    def __init__(
        self,
        serial: str = "QAAAA",
        doors: Sequence[PhysicalDoor] | None = None,
        *,
        channels: int | None = None,
        bus: int = 1,
        address: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`doors[i]` hangs on relay i+1; the channel count defaults to len(doors) (else 2)."""
        if doors is None:
            doors = [PhysicalDoor(clock=clock) for _ in range(channels or 2)]
        channels = channels or len(doors)
        if not 1 <= channels <= 8 or len(doors) != channels:
            raise ValueError(f"a USBRelay board has 1..8 relays, one door each; got {channels}")
        raw = serial.encode("ascii")
        if len(raw) > SERIAL_LENGTH:
            raise ValueError(f"a relay board serial has at most 5 characters, got {serial!r}")
        self.serial_bytes = raw.ljust(SERIAL_LENGTH, b"\x00")
        self.doors = list(doors)
        self.channels = channels
        self.bus = bus
        self.address = address
        self._clock = clock
        self._lock = threading.RLock()
        self.state = 0  # the firmware's relay port: bit n-1 = relay n energised
        self.plugged = True
        self.access_denied = False
        self.kernel_driver_active = True  # usbhid binds every HID device on plug-in
        self.stuck: set[int] = set()  # relays whose output stage never switches
        self._stalls = 0
        self._unplug_after: int | None = None
        self._energised_at: dict[int, float] = {}
        # Wire log like a Dummy printer's bytes: (bmRequestType, bRequest, wValue, wIndex,
        # data sent, or data answered for IN requests); stalled requests are not logged.
        self.transfers: list[tuple[int, int, int, int, bytes]] = []
        self.pulses: list[tuple[int, float]] = []  # (relay, seconds it stayed energised)
        self.processing_s = 0.0  # time spent inside this firmware, for the benchmark

    @property
    def product(self) -> str:
        """The product string, which is how hosts learn the relay count."""
        return f"USBRelay{self.channels}"

    @property
    def serial(self) -> str:
        """The serial as stored in EEPROM, trailing NULs dropped."""
        return self.serial_bytes.rstrip(b"\x00").decode("ascii", "replace")

    def energised(self) -> set[int]:
        """Relays whose coil is powered right now."""
        with self._lock:
            return {n for n in range(1, self.channels + 1) if self.state & (1 << (n - 1))}

    # -- faults ---------------------------------------------------------------------------

    def unplug(self, *, after_transfers: int | None = None) -> None:
        """Pull the cable now, or just before control transfer number `after_transfers` + 1."""
        with self._lock:
            if after_transfers is None:
                self._power_off()
            else:
                self._unplug_after = after_transfers

    def plug(self) -> None:
        """Plug the board back in: it enumerates afresh, relays off, usbhid bound again."""
        with self._lock:
            self.plugged = True
            self._unplug_after = None
            self.kernel_driver_active = True

    def stall_next(self, count: int = 1) -> None:
        """The next `count` class requests stall (EPIPE), as a confused firmware would."""
        with self._lock:
            self._stalls = count

    def _power_off(self) -> None:
        # A bus-powered board loses power with the cable: every relay drops out.
        self.plugged = False
        for relay in list(self._energised_at):
            self._release(relay)
        self.state = 0

    # -- what the backend calls -------------------------------------------------------------

    def transfer(
        self, bm_request_type: int, b_request: int, w_value: int, w_index: int, data: array.array
    ) -> int:
        """Run one control transfer; return bytes moved (IN data is written into `data`)."""
        started = time.perf_counter()
        try:
            with self._lock:
                if not self.plugged:
                    raise no_device()
                if self._unplug_after is not None:
                    if self._unplug_after <= 0:
                        self._power_off()
                        raise no_device()
                    self._unplug_after -= 1
                setup = (bm_request_type, b_request, w_value, w_index)
                is_in = bool(bm_request_type & 0x80)
                if not is_in:
                    self.transfers.append((*setup, data.tobytes()))
                moved = 0
                if bm_request_type & 0x60 == 0x00:
                    moved = self._standard(bm_request_type, b_request, w_value, w_index, data)
                elif bm_request_type & 0x60 == 0x20:
                    moved = self._hid_class(bm_request_type, b_request, w_value, data)
                if is_in:
                    self.transfers.append((*setup, data.tobytes()[:moved]))
                return moved
        finally:
            self.processing_s += time.perf_counter() - started

    def _standard(
        self, bm_request_type: int, b_request: int, w_value: int, w_index: int, data: array.array
    ) -> int:
        if b_request != 0x06 or not bm_request_type & 0x80:  # only GET_DESCRIPTOR has data
            return 0
        kind, index = w_value >> 8, w_value & 0xFF
        if kind == 0x01:
            payload = self.device_descriptor_bytes()
        elif kind == 0x02 and index == 0:
            payload = self.configuration_descriptor_bytes()
        elif kind == 0x03:
            payload = self._string_descriptor(index)
        elif kind == 0x22 and bm_request_type & 0x1F == 0x01:
            payload = REPORT_DESCRIPTOR
        else:
            raise _stall()
        return _fill(data, payload)

    def _string_descriptor(self, index: int) -> bytes:
        if index == 0:
            return struct.pack("<BBH", 4, 3, _LANGID_EN_US)
        texts = {1: MANUFACTURER, 2: self.product}
        if index not in texts:
            raise _stall()
        encoded = texts[index].encode("utf-16-le")
        return bytes([2 + len(encoded), 3]) + encoded

    def _hid_class(
        self, bm_request_type: int, b_request: int, w_value: int, data: array.array
    ) -> int:
        if self._stalls:
            self._stalls -= 1
            raise _stall()
        # V-USB's usbFunctionSetup: only report type 3 (feature) with id 0 is handled;
        # anything else answers with no data.
        if w_value != 0x0300:
            return 0
        if b_request == HID_GET_REPORT and bm_request_type & 0x80:
            report = bytearray(REPORT_LENGTH)
            report[:SERIAL_LENGTH] = self.serial_bytes
            report[7] = self.state
            return _fill(data, bytes(report))
        if b_request == HID_SET_REPORT and not bm_request_type & 0x80:
            self._feature_write(bytes(data.tobytes()))
            return len(data)
        return 0

    def _feature_write(self, report: bytes) -> None:
        # usbFunctionWrite: returning 0xff there makes V-USB stall the data stage.
        if not report:
            raise _stall()
        command = report[0]
        if command == CMD_SET_SERIAL:
            if len(report) < 1 + SERIAL_LENGTH:
                raise _stall()
            self.serial_bytes = report[1 : 1 + SERIAL_LENGTH]
        elif command == CMD_ALL_ON:
            for relay in range(1, self.channels + 1):
                self._switch(relay, True)
        elif command == CMD_ALL_OFF:
            for relay in range(1, self.channels + 1):
                self._switch(relay, False)
        elif command in (CMD_ON, CMD_OFF):
            if len(report) < 2:
                raise _stall()
            if 1 <= report[1] <= self.channels:  # out of range: ignored, no error
                self._switch(report[1], command == CMD_ON)
        else:
            raise _stall()

    def _switch(self, relay: int, on: bool) -> None:
        if relay in self.stuck:
            return
        bit = 1 << (relay - 1)
        if on and not self.state & bit:
            self.state |= bit
            self._energised_at[relay] = self._clock()
            self.doors[relay - 1].pulse()
        elif not on and self.state & bit:
            self.state &= ~bit
            self._release(relay)

    def _release(self, relay: int) -> None:
        since = self._energised_at.pop(relay, None)
        if since is not None:
            self.pulses.append((relay, self._clock() - since))

    # -- descriptors ------------------------------------------------------------------------

    def device_descriptor(self) -> Descriptor:
        """The device descriptor as pyusb's backends hand it over."""
        return Descriptor(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0110,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=8,
            idVendor=VENDOR_ID,
            idProduct=PRODUCT_ID,
            bcdDevice=0x0100,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=0,  # the serial lives in the feature report, not in a string
            bNumConfigurations=1,
            address=self.address,
            bus=self.bus,
            port_number=1,
            port_numbers=(1,),
            speed=1,  # low speed
        )

    def device_descriptor_bytes(self) -> bytes:
        """The 18 bytes a GET_DESCRIPTOR(DEVICE) returns."""
        d = self.device_descriptor()
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            18,
            1,
            d.bcdUSB,
            0,
            0,
            0,
            8,
            VENDOR_ID,
            PRODUCT_ID,
            d.bcdDevice,
            1,
            2,
            0,
            1,
        )

    def configuration_descriptor_bytes(self) -> bytes:
        """Configuration + interface + HID + endpoint descriptors, 34 bytes."""
        config = struct.pack("<BBHBBBBB", 9, 2, 34, 1, 1, 0, 0x80, 50)
        interface = struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 1, 3, 0, 0, 0)
        hid = struct.pack("<BBHBBBH", 9, 0x21, 0x0101, 0, 1, 0x22, len(REPORT_DESCRIPTOR))
        endpoint = struct.pack("<BBBBHB", 7, 5, ENDPOINT_IN, 0x03, 8, 10)
        return config + interface + hid + endpoint


def _fill(buffer: array.array, payload: bytes) -> int:
    n = min(len(buffer), len(payload))
    buffer[:n] = array.array("B", payload[:n])
    return n
