"""Exact bytes of the lock-board frames, checked against the vendor's published examples."""

from __future__ import annotations

import pytest

from devices.lock.rs485_frames import (
    bcc,
    level_for,
    open_frame,
    read_all_answer_length,
    read_all_frame,
    read_lock_frame,
    state_means_open,
)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (open_frame(1, 1), "8A 01 01 11 9B"),  # vendor example: open lock 1 of board 1
        (open_frame(1, 2), "8A 01 02 11 98"),
        (open_frame(2, 1), "8A 02 01 11 98"),
        (read_lock_frame(1, 1), "80 01 01 33 B3"),  # vendor example: read lock 1
        (read_all_frame(1), "80 01 00 33 B2"),  # read every lock of board 1
        (read_all_frame(2), "80 02 00 33 B1"),
    ],
)
def test_requests_are_byte_exact(frame, expected):
    assert frame == bytes.fromhex(expected)


def test_bcc_is_the_xor_of_every_byte_so_a_full_frame_xors_to_zero():
    assert bcc(bytes.fromhex("8A 01 01 00")) == 0x8A  # vendor's "open succeeded" answer
    assert bcc(bytes.fromhex("8A 01 01 00 8A")) == 0


@pytest.mark.parametrize(("channels", "length"), [(8, 5), (12, 6), (16, 6), (24, 7), (48, 10)])
def test_read_all_answer_carries_one_state_byte_per_eight_locks(channels, length):
    assert read_all_answer_length(channels) == length


def test_polarity_decides_what_the_feedback_level_means():
    assert state_means_open(False, "closed_high") is True  # 0x00 with the usual wiring
    assert state_means_open(True, "closed_high") is False
    assert state_means_open(True, "open_high") is True
    for polarity in ("closed_high", "open_high"):
        for is_open in (True, False):
            assert state_means_open(level_for(is_open, polarity), polarity) is is_open
