"""Driver for the "USBRelayN" HID relay boards (VID 16c0, PID 05df), through pyusb.

An unlock is: relay ON, read the state back (the relay must show energised),
hold for the pulse, relay OFF, read back again (it must show released). The OFF
is sent in a `finally`: a coil left energised burns, and a door left unlatched is
worse. Relay boards have no door feedback: a confirmed relay means the latch was
powered, not that the door moved.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from devices.lock.port import LockFault
from devices.lock.usb_relay_protocol import (
    CMD_OFF,
    CMD_ON,
    FEATURE_REPORT_0,
    HID_GET_REPORT,
    HID_SET_REPORT,
    INTERFACE,
    MANUFACTURER,
    PRODUCT_ID,
    REPORT_LENGTH,
    REQUEST_TYPE_GET,
    REQUEST_TYPE_SET,
    SERIAL_LENGTH,
    UDEV_RULE,
    UDEV_RULE_FILE,
    VENDOR_ID,
    channels_from_product,
)

log = logging.getLogger(__name__)

_TIMEOUT_MS = 1000
_UNPLUGGED = {errno.ENODEV, errno.ENOENT, errno.ESHUTDOWN}


@dataclass(frozen=True)
class UsbRelayInfo:
    """One relay board seen on the bus; `problem` says why it cannot be used, if so."""

    serial: str | None
    channels: int | None
    bus: int | None
    address: int | None
    problem: str | None = None


def permission_message(where: str) -> str:
    """The technician's fix for a board the service user may not open."""
    return (
        f"permission denied opening USB relay board at {where}: the service user may not "
        f"access it. Install the udev rule {UDEV_RULE} in {UDEV_RULE_FILE}, add the user to "
        "group plugdev, run `udevadm control --reload-rules && udevadm trigger`, then replug "
        "the board"
    )


def _where(device: Any) -> str:
    return f"bus {device.bus} address {device.address}"


def _is_relay_board(device: Any) -> bool:
    return device.idVendor == VENDOR_ID and device.idProduct == PRODUCT_ID


def _read_strings(device: Any) -> tuple[str | None, str | None]:
    # Ask for the language ids ourselves: pyusb's `langids` property swallows the
    # USBError (permission denied, unplugged) and leaves only a vague ValueError.
    langids = usb.util.get_langids(device)
    langid = langids[0] if langids else 0x0409
    try:
        return (
            usb.util.get_string(device, device.iManufacturer, langid),
            usb.util.get_string(device, device.iProduct, langid),
        )
    except UnicodeDecodeError:
        # Not UTF-16 (a lone surrogate, a cut pair): not one of these boards, whose firmware
        # sends plain ASCII; it raised out of discovery and ended `allhours doctor`.
        return None, None


def _read_report(device: Any) -> bytes:
    report = device.ctrl_transfer(
        REQUEST_TYPE_GET, HID_GET_REPORT, FEATURE_REPORT_0, INTERFACE, REPORT_LENGTH, _TIMEOUT_MS
    )
    data = bytes(report)
    if len(data) != REPORT_LENGTH:
        raise LockFault(
            f"USB relay board at {_where(device)} answered GET_REPORT with {len(data)} bytes "
            f"({data.hex(' ')}), expected {REPORT_LENGTH}"
        )
    return data


def _serial_of(report: bytes) -> str:
    return report[:SERIAL_LENGTH].rstrip(b"\x00").decode("ascii", "replace")


def _prepare(device: Any) -> None:
    """Take the interface from usbhid so control transfers to it can claim it."""
    try:
        if device.is_kernel_driver_active(INTERFACE):
            device.detach_kernel_driver(INTERFACE)
    except NotImplementedError:  # backends without kernel drivers (non-Linux)
        pass


class UsbRelayBoard:
    """One USBRelayN board, chosen by its 5-character serial, as a LockPort."""

    def __init__(
        self,
        serial: str | None = None,
        *,
        backend: Any = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`serial` None: use the only board present (several boards then are an error)."""
        self.serial = serial
        self._backend = backend
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._device: Any = None
        self.channels: int | None = None
        self._where: str | None = None
        self._unlocks = 0
        self._faults = 0
        self._last_error: str | None = None
        self._last_state: int | None = None

    # -- discovery ---------------------------------------------------------------------------

    @staticmethod
    def find_all(backend: Any = None) -> list[UsbRelayInfo]:
        """Every relay board on the bus, with serial and channel count (or why unreadable)."""
        found = []
        for device in usb.core.find(find_all=True, backend=backend, custom_match=_is_relay_board):
            try:
                manufacturer, product = _read_strings(device)
                channels = channels_from_product(product)
                if manufacturer != MANUFACTURER or channels is None:
                    continue  # some other V-USB device sharing the shared VID/PID pair
                _prepare(device)
                serial = _serial_of(_read_report(device))
                found.append(UsbRelayInfo(serial, channels, device.bus, device.address))
            except (usb.core.USBError, LockFault) as e:
                if isinstance(e, usb.core.USBError) and e.errno in _UNPLUGGED:
                    continue  # unplugged while we looked: it is no longer on the bus
                problem = (
                    _describe(e, _where(device), serial=None)
                    if isinstance(e, usb.core.USBError)
                    else str(e)
                )
                found.append(UsbRelayInfo(None, None, device.bus, device.address, problem))
            finally:
                usb.util.dispose_resources(device)
        return found

    # -- LockPort ----------------------------------------------------------------------------

    def unlock(self, channel: int, pulse_ms: int) -> None:
        """Energise relay `channel` for `pulse_ms`, confirming ON and OFF by reading back."""
        if pulse_ms <= 0:
            raise ValueError(f"pulse_ms must be positive, got {pulse_ms}")
        with self._lock:
            device = self._open()
            if not 1 <= channel <= (self.channels or 0):
                self._fail(
                    f"USB relay board {self._name()} has relays 1..{self.channels}, not {channel}"
                )
            self._unlocks += 1
            try:
                self._command(device, CMD_ON, channel)
                if not self._relay_on(self._state(device), channel):
                    self._fail(
                        f"relay {channel} on USB relay board {self._name()} did not switch on "
                        f"(state read back {self._last_state:08b}): its output is faulty"
                    )
                self._sleep(pulse_ms / 1000)
            finally:
                self._switch_off(device, channel)

    def diagnostics(self) -> dict[str, object]:
        """Board identity, channel count, relays energised at the last read, fault counts."""
        with self._lock:
            energised = None
            if self._last_state is not None:
                energised = [n for n in range(1, 9) if self._last_state & (1 << (n - 1))]
            return {
                "name": f"usb-relay {self._name()}",
                "driver": "usb-hid-relay",
                "serial": self.serial,
                "channels": self.channels,
                "where": self._where,
                "connected": self._device is not None,
                "unlocks": self._unlocks,
                "energised_at_last_read": energised,
                "faults": self._faults,
                "last_error": self._last_error,
            }

    def relay_states(self) -> dict[int, bool]:
        """Relay number -> energised, as the board reports it now."""
        with self._lock:
            device = self._open()
            state = self._state(device)
            return {n: self._relay_on(state, n) for n in range(1, (self.channels or 0) + 1)}

    def close(self) -> None:
        """Release the USB handle (the relays stay as they are: all off after an unlock)."""
        with self._lock:
            self._drop()

    # -- internals -----------------------------------------------------------------------------

    def _switch_off(self, device: Any, channel: int) -> None:
        try:
            self._command(device, CMD_OFF, channel)
            state = self._state(device)
        except LockFault as e:
            if self._device is None:
                # A bus-powered board that lost its cable lost its relay coils' supply too.
                raise LockFault(
                    f"board {self._name()} unplugged during the unlock of relay {channel}; "
                    "without power its relays are released"
                ) from e
            log.critical(
                "relay %s on USB relay board %s may still be energised: %s",
                channel,
                self._name(),
                e,
            )
            raise LockFault(
                f"could not switch relay {channel} off on USB relay board {self._name()}: "
                f"it may still be energised ({e})"
            ) from e
        if self._relay_on(state, channel):
            log.critical("relay %s on USB relay board %s stuck energised", channel, self._name())
            self._fail(
                f"relay {channel} on USB relay board {self._name()} is STILL ENERGISED after the "
                f"OFF command (state read back {state:08b}): unplug the board"
            )

    @staticmethod
    def _relay_on(state: int, channel: int) -> bool:
        return bool(state & (1 << (channel - 1)))

    def _name(self) -> str:
        return self.serial if self.serial is not None else "(only board)"

    def _open(self) -> Any:
        if self._device is not None:
            return self._device
        try:
            candidates = [
                d
                for d in usb.core.find(
                    find_all=True, backend=self._backend, custom_match=_is_relay_board
                )
            ]
        except usb.core.USBError as e:
            self._fail(_describe(e, "the USB bus", self.serial))
        matches = []
        for device in candidates:
            try:
                manufacturer, product = _read_strings(device)
                channels = channels_from_product(product)
                if manufacturer != MANUFACTURER or channels is None:
                    usb.util.dispose_resources(device)
                    continue
                _prepare(device)
                serial = _serial_of(_read_report(device))
            except usb.core.USBError as e:
                usb.util.dispose_resources(device)
                if e.errno == errno.EACCES:
                    self._fail(permission_message(_where(device)))
                continue  # vanished while we looked: not ours to report
            if self.serial is None or serial == self.serial:
                matches.append((device, serial, channels))
            else:
                usb.util.dispose_resources(device)
        if not matches:
            self._fail(f"USB relay board {self._name()} not found (unplugged?)")
        if len(matches) > 1:
            serials = ", ".join(s for _, s, _ in matches)
            for device, _, _ in matches:
                usb.util.dispose_resources(device)
            self._fail(f"several USB relay boards found ({serials}); configure which serial to use")
        device, serial, channels = matches[0]
        self._device, self.channels, self._where = device, channels, _where(device)
        if self.serial is None:
            self.serial = serial
        return device

    def _command(self, device: Any, command: int, channel: int) -> None:
        report = bytes([command, channel]).ljust(REPORT_LENGTH, b"\x00")
        try:
            written = device.ctrl_transfer(
                REQUEST_TYPE_SET, HID_SET_REPORT, FEATURE_REPORT_0, INTERFACE, report, _TIMEOUT_MS
            )
        except usb.core.USBError as e:
            self._usb_failed(e)
        if written != REPORT_LENGTH:
            self._fail(
                f"USB relay board {self._name()} took {written} of {REPORT_LENGTH} report bytes"
            )

    def _state(self, device: Any) -> int:
        try:
            report = _read_report(device)
        except usb.core.USBError as e:
            self._usb_failed(e)
        except LockFault as e:
            self._fail(str(e))
        serial = _serial_of(report)
        if self.serial is not None and serial != self.serial:
            self._fail(
                f"USB relay board {self._name()} now reports serial {serial!r}: "
                "another board answered"
            )
        self._last_state = report[7]
        return report[7]

    def _usb_failed(self, e: usb.core.USBError) -> None:
        if e.errno in _UNPLUGGED:
            self._drop()
        self._fail(_describe(e, self._where or "?", self.serial))

    def _drop(self) -> None:
        if self._device is not None:
            with contextlib.suppress(usb.core.USBError):
                usb.util.dispose_resources(self._device)
            self._device = None

    def _fail(self, message: str) -> Any:
        self._faults += 1
        self._last_error = message
        raise LockFault(message)


def _describe(e: usb.core.USBError, where: str, serial: str | None) -> str:
    name = serial if serial is not None else f"at {where}"
    if e.errno in _UNPLUGGED:
        return f"board {name} unplugged ({e.strerror})"
    if e.errno == errno.EACCES:
        return permission_message(where)
    if e.errno == errno.EPIPE:
        return f"USB relay board {name} stalled the request (firmware refused it)"
    if e.errno == errno.EBUSY:
        return f"USB relay board {name} is held by another program or kernel driver"
    if isinstance(e, usb.core.USBTimeoutError) or e.errno == errno.ETIMEDOUT:
        return f"USB relay board {name} did not answer in {_TIMEOUT_MS} ms"
    return f"USB relay board {name}: USB error {e.errno} ({e.strerror})"
