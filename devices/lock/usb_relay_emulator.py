"""A pyusb backend that behaves like a bus of USBRelayN boards at control-transfer level.

`usb.core.find(backend=UsbRelayBackend([...]))` sees the boards exactly as libusb
would: enumeration, the V-USB device, configuration, interface, HID and endpoint
descriptors, open/claim/release, the kernel driver bound to the HID interface,
and control transfers handed to each board's firmware
(`devices.lock.usb_relay_firmware`). Faults: unplug (now, or after N
transfers), stall, permission denied on open, a busy kernel driver, a relay
whose output never switches.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence

import usb.backend

from devices.lock.usb_relay_firmware import (
    ENDPOINT_IN,
    REPORT_DESCRIPTOR,
    Descriptor,
    EmulatedRelayBoard,
    no_device,
    usb_error,
)

__all__ = ["REPORT_DESCRIPTOR", "EmulatedRelayBoard", "UsbRelayBackend"]


class _Handle:
    def __init__(self, board: EmulatedRelayBoard) -> None:
        self.board = board
        self.claimed: set[int] = set()


class UsbRelayBackend(usb.backend.IBackend):
    """A pyusb backend whose bus holds the given emulated relay boards.

    Method names and signatures are pyusb's IBackend contract.
    """

    def __init__(self, boards: Sequence[EmulatedRelayBoard]) -> None:
        self.boards = list(boards)
        self.opened = 0  # open handles, so tests can see the driver closes what it opens

    def enumerate_devices(self):
        return [b for b in self.boards if b.plugged]

    def get_device_descriptor(self, dev: EmulatedRelayBoard):
        return dev.device_descriptor()

    def get_configuration_descriptor(self, dev: EmulatedRelayBoard, config: int):
        if config != 0:
            raise IndexError("the board has one configuration")
        return Descriptor(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=34,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=50,
            extra_descriptors=[],
        )

    def get_interface_descriptor(self, dev, intf: int, alt: int, config: int):
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("the board has one interface with one setting")
        hid = struct.pack("<BBHBBBH", 9, 0x21, 0x0101, 0, 1, 0x22, len(REPORT_DESCRIPTOR))
        return Descriptor(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=1,
            bInterfaceClass=3,
            bInterfaceSubClass=0,
            bInterfaceProtocol=0,
            iInterface=0,
            extra_descriptors=list(hid),
        )

    def get_endpoint_descriptor(self, dev, ep: int, intf: int, alt: int, config: int):
        if (ep, intf, alt, config) != (0, 0, 0, 0):
            raise IndexError("the board has one endpoint")
        return Descriptor(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=ENDPOINT_IN,
            bmAttributes=0x03,
            wMaxPacketSize=8,
            bInterval=10,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    def open_device(self, dev: EmulatedRelayBoard) -> _Handle:
        if not dev.plugged:
            raise no_device()
        if dev.access_denied:
            raise usb_error(errno.EACCES, "Access denied (insufficient permissions)", -3)
        self.opened += 1
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        self.opened -= 1

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._alive(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._alive(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._alive(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        board = self._alive(dev_handle)
        if board.kernel_driver_active:
            raise usb_error(errno.EBUSY, "Resource busy", -6)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.claimed.discard(intf)
        self._alive(dev_handle)

    def ctrl_transfer(
        self, dev_handle, bm_request_type, b_request, w_value, w_index, data, timeout
    ):
        return dev_handle.board.transfer(bm_request_type, b_request, w_value, w_index, data)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return self._alive(dev_handle).kernel_driver_active

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle).kernel_driver_active = False

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle).kernel_driver_active = True

    @staticmethod
    def _alive(dev_handle: _Handle) -> EmulatedRelayBoard:
        if not dev_handle.board.plugged:
            raise no_device()
        return dev_handle.board
