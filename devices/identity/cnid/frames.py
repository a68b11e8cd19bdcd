"""GA/T 467 serial frames between the business terminal and the reader's SAM module.

Command:  AA AA AA 96 69 | LEN (2, big-endian) | CMD | PARA | DATA | CHK
Response: AA AA AA 96 69 | LEN (2, big-endian) | SW1 | SW2 | SW3 | DATA | CHK

LEN counts every byte after itself, the checksum included. CHK is the XOR of every byte
between the preamble and the checksum (LEN included).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

PREAMBLE = bytes.fromhex("AAAAAA9669")
# Bigger than any answer we ask for (read with fingerprints: 3+6+256+1024+1024+1 = 2314).
MAX_LENGTH = 0x1000


class Command(Enum):
    """The commands this driver sends, as (CMD, PARA)."""

    RESET_SAM = (0x10, 0xFF)
    SAM_STATUS = (0x11, 0xFF)
    SAM_ID = (0x12, 0xFF)
    FIND_CARD = (0x20, 0x01)
    SELECT_CARD = (0x20, 0x02)
    READ_BASE = (0x30, 0x01)
    READ_BASE_WITH_FINGERPRINT = (0x30, 0x10)

    @property
    def label(self) -> str:
        """e.g. 'find card (20 01)', for technician messages."""
        cmd, para = self.value
        return f"{self.name.lower().replace('_', ' ')} ({cmd:02X} {para:02X})"


# SW3, the SAM's own status byte (SW1 SW2 relay the card's APDU status and are usually 00 00).
SW3_SUCCESS = 0x90
SW3_FIND_SUCCESS = 0x9F
SW3_MEANING: dict[int, str] = {
    0x90: "success",
    0x9F: "card found",
    0x91: "no content for this item on the card",
    0x10: "checksum error in the command received by the SAM",
    0x11: "length error in the command received by the SAM",
    0x21: "command error (unknown command or bad parameters)",
    0x23: "operation not permitted",
    0x24: "unrecognised error",
    0x31: "card failed to authenticate the SAM",
    0x32: "SAM failed to authenticate the card",
    0x33: "information verification failed",
    0x37: "fingerprint information verification failed",
    0x3F: "information length error",
    0x40: "unrecognised card type",
    0x41: "reading the card failed",
    0x47: "get challenge failed",
    0x60: "SAM self-test failed; it accepts no command",
    0x66: "SAM is not authorised",
    0x80: "finding a card failed (no card)",
    0x81: "selecting the card failed",
}


class FrameError(ValueError):
    """Bytes on the line are not a well-formed response frame."""


def checksum(body: bytes) -> int:
    """XOR of the bytes between preamble and checksum."""
    x = 0
    for b in body:
        x ^= b
    return x


def encode_command(command: Command, data: bytes = b"") -> bytes:
    """The full command frame, preamble to checksum."""
    cmd, para = command.value
    return encode_frame(bytes((cmd, para)) + data)


def encode_frame(payload: bytes) -> bytes:
    """Frame a payload (CMD PARA DATA, or SW1 SW2 SW3 DATA) with preamble, length and checksum."""
    length = len(payload) + 1
    if length > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame")
    body = length.to_bytes(2, "big") + payload
    return PREAMBLE + body + bytes((checksum(body),))


@dataclass(frozen=True)
class Response:
    """A response frame that passed its checksum."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def status(self) -> str:
        """SW1 SW2 SW3 as hex, e.g. '00 00 90'."""
        return f"{self.sw1:02X} {self.sw2:02X} {self.sw3:02X}"

    @property
    def meaning(self) -> str:
        """What the SAM says SW3 means."""
        return SW3_MEANING.get(self.sw3, "undocumented status")

    def __repr__(self) -> str:  # data may be personal (card text, photo): never shown
        return f"Response(status={self.status!r}, data_len={len(self.data)})"


def decode_response_body(body: bytes) -> Response:
    """Decode LEN..CHK of a response (the bytes after the preamble); FrameError if malformed."""
    if len(body) < 2:
        raise FrameError("response truncated before its length field")
    length = int.from_bytes(body[:2], "big")
    if length < 4:
        raise FrameError(f"response length {length} is shorter than SW1 SW2 SW3 CHK")
    if len(body) != 2 + length:
        raise FrameError(f"response length field says {length}, frame has {len(body) - 2}")
    if checksum(body[:-1]) != body[-1]:
        raise FrameError(
            f"response checksum {body[-1]:02X} does not match computed {checksum(body[:-1]):02X}"
        )
    return Response(body[2], body[3], body[4], bytes(body[5:-1]))


def decode_command_body(body: bytes) -> tuple[int, int, bytes]:
    """Decode LEN..CHK of a command (SAM side): (CMD, PARA, DATA); FrameError if malformed."""
    if len(body) < 2:
        raise FrameError("command truncated before its length field")
    length = int.from_bytes(body[:2], "big")
    if length < 3 or len(body) != 2 + length:
        raise FrameError(f"command length field {length} does not match the frame")
    if checksum(body[:-1]) != body[-1]:
        raise FrameError("command checksum mismatch")
    return body[2], body[3], bytes(body[4:-1])
