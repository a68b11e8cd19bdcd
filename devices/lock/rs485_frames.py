"""Frames of the common RS-485 cabinet lock-control board ("锁控板", KR-CU family).

Every frame is ``header, board address, lock number, data, BCC`` where BCC is the
XOR of all bytes before it (9600 8N1, half duplex, the host always speaks first):

=====================  ==========================  =====================================
request                bytes                       answer
=====================  ==========================  =====================================
open lock L            ``8A AA LL 11 BCC``         ``8A AA LL SS BCC`` after the pulse
read lock L            ``80 AA LL 33 BCC``         ``80 AA LL SS BCC``
read all locks         ``80 AA 00 33 BCC``         ``80 AA Sk .. S1 33 BCC``
=====================  ==========================  =====================================

``SS`` is the lock's feedback switch: with the usual wiring (switch closed while
the door is shut and latched, "上锁短路") 0x11 means closed and 0x00 open; boards
wired the other way round report the inverse. In the read-all answer S1 holds
locks 1..8 (bit 0 = lock 1), S2 locks 9..16, and so on, sent highest group first;
a set bit has the meaning of 0x11.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HEADER_OPEN = 0x8A
HEADER_READ = 0x80
CMD_OPEN = 0x11
CMD_READ = 0x33
STATE_ACTIVE = 0x11  # the feedback switch is closed
STATE_INACTIVE = 0x00

# Which level of the lock's feedback switch means "door closed".
Polarity = Literal["closed_high", "open_high"]


def bcc(data: bytes) -> int:
    """Block check character: the XOR of every byte."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def _frame(*fields: int) -> bytes:
    body = bytes(fields)
    return body + bytes([bcc(body)])


def open_frame(address: int, lock: int) -> bytes:
    """Request: pulse lock `lock` (1..) of board `address`."""
    return _frame(HEADER_OPEN, address, lock, CMD_OPEN)


def read_lock_frame(address: int, lock: int) -> bytes:
    """Request: state of one lock."""
    return _frame(HEADER_READ, address, lock, CMD_READ)


def read_all_frame(address: int) -> bytes:
    """Request: state of every lock of the board in one answer."""
    return _frame(HEADER_READ, address, 0x00, CMD_READ)


def status_bytes(channels: int) -> int:
    """How many state bytes a read-all answer carries for a board of `channels` locks."""
    return (channels + 7) // 8


def read_all_answer_length(channels: int) -> int:
    """Length of the read-all answer: header, address, state bytes, 0x33, BCC."""
    return 4 + status_bytes(channels)


def state_means_open(state_active: bool, polarity: Polarity) -> bool:
    """Translate the feedback level into "door open"."""
    return not state_active if polarity == "closed_high" else state_active


def level_for(is_open: bool, polarity: Polarity) -> bool:
    """The feedback level a door in that position produces."""
    return not is_open if polarity == "closed_high" else is_open


@dataclass(frozen=True)
class Answer:
    """A frame that passed its checksum."""

    raw: bytes

    @property
    def header(self) -> int:
        """First byte: 0x8A or 0x80."""
        return self.raw[0]

    @property
    def address(self) -> int:
        """The answering board's address."""
        return self.raw[1]
