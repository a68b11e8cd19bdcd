"""Wire constants of the "USBRelayN" HID relay boards (V-USB firmware, www.dcttech.com).

The board is a low-speed HID device with one vendor-defined 8-byte feature
report (report id 0). Everything happens through control transfers on
endpoint 0:

- SET_REPORT (bmRequestType 0x21, bRequest 0x09, wValue 0x0300, wIndex 0), 8 bytes:
  ``FF n`` relay n on, ``FD n`` relay n off, ``FE`` all on, ``FC`` all off,
  ``FA s0..s4`` store a new 5-character serial;
- GET_REPORT (bmRequestType 0xA1, bRequest 0x01, wValue 0x0300, wIndex 0), 8 bytes back:
  bytes 0..4 the serial (ASCII), byte 7 the relay states (bit n-1 = relay n energised).

Shared by the driver and the emulator so both name the same bytes; the emulator's
firmware logic is written separately from the driver's request building.
"""

from __future__ import annotations

VENDOR_ID = 0x16C0
PRODUCT_ID = 0x05DF
MANUFACTURER = "www.dcttech.com"
PRODUCT_PREFIX = "USBRelay"

REQUEST_TYPE_SET = 0x21  # host to device, class, interface
REQUEST_TYPE_GET = 0xA1  # device to host, class, interface
HID_GET_REPORT = 0x01
HID_SET_REPORT = 0x09
FEATURE_REPORT_0 = 0x0300  # report type 3 (feature) << 8 | report id 0
REPORT_LENGTH = 8
INTERFACE = 0

CMD_ON = 0xFF
CMD_OFF = 0xFD
CMD_ALL_ON = 0xFE
CMD_ALL_OFF = 0xFC
CMD_SET_SERIAL = 0xFA
SERIAL_LENGTH = 5

# The one udev rule that lets the kiosk's service user open the boards without root.
UDEV_RULE = (
    'SUBSYSTEM=="usb", ATTR{idVendor}=="16c0", ATTR{idProduct}=="05df", '
    'MODE="0660", GROUP="plugdev"'
)
UDEV_RULE_FILE = "/etc/udev/rules.d/50-usb-relay.rules"


def channels_from_product(product: str | None) -> int | None:
    """Relay count from the product string ("USBRelay4" -> 4); None if it is not a relay board."""
    if not product or not product.startswith(PRODUCT_PREFIX):
        return None
    tail = product[len(PRODUCT_PREFIX) :]
    # isascii too: "²".isdigit() is True, and int("²") raised out of discovery.
    if not (tail.isascii() and tail.isdigit()):
        return None
    count = int(tail)
    return count if 1 <= count <= 8 else None
