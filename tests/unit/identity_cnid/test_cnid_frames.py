"""GA/T 467 frames: the bytes the driver puts on the line and how it judges answers."""

from __future__ import annotations

import contextlib
import random

import pytest

from devices.identity.cnid.frames import (
    Command,
    FrameError,
    checksum,
    decode_command_body,
    decode_response_body,
    encode_command,
    encode_frame,
)


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        # The command frames as published for SAM modules (checksum = XOR of LEN..PARA).
        (Command.RESET_SAM, "AA AA AA 96 69 00 03 10 FF EC"),
        (Command.SAM_STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
        (Command.SAM_ID, "AA AA AA 96 69 00 03 12 FF EE"),
        (Command.FIND_CARD, "AA AA AA 96 69 00 03 20 01 22"),
        (Command.SELECT_CARD, "AA AA AA 96 69 00 03 20 02 21"),
        (Command.READ_BASE, "AA AA AA 96 69 00 03 30 01 32"),
        (Command.READ_BASE_WITH_FINGERPRINT, "AA AA AA 96 69 00 03 30 10 23"),
    ],
)
def test_command_frames_are_byte_exact(command: Command, wire: str) -> None:
    assert encode_command(command) == bytes.fromhex(wire)


def test_a_published_read_failure_answer_decodes_to_status_41() -> None:
    frame = bytes.fromhex("aa aa aa 96 69 00 04 00 00 41 45")
    response = decode_response_body(frame[5:])
    assert (response.sw1, response.sw2, response.sw3) == (0, 0, 0x41)
    assert response.data == b""
    assert response.status == "00 00 41"
    assert "reading the card failed" in response.meaning


def test_answer_data_is_returned_without_the_checksum() -> None:
    frame = encode_frame(bytes((0, 0, 0x9F)) + bytes(4))
    assert frame[5:7] == b"\x00\x08"
    assert decode_response_body(frame[5:]).data == bytes(4)


def test_a_flipped_checksum_is_refused() -> None:
    body = bytearray(encode_frame(bytes((0, 0, 0x90)))[5:])
    body[-1] ^= 0x01
    with pytest.raises(FrameError, match="checksum"):
        decode_response_body(bytes(body))


def test_a_length_field_that_disagrees_with_the_frame_is_refused() -> None:
    body = encode_frame(bytes((0, 0, 0x90)) + b"abc")[5:]
    with pytest.raises(FrameError, match="length"):
        decode_response_body(body[:-1])
    with pytest.raises(FrameError, match="shorter"):
        decode_response_body(b"\x00\x02\x00\x02")


def test_response_repr_never_shows_card_data() -> None:
    body = encode_frame(bytes((0, 0, 0x90)) + "张三".encode("utf-16-le"))[5:]
    assert "张" not in repr(decode_response_body(body))


def test_the_sam_side_decodes_commands() -> None:
    frame = encode_command(Command.READ_BASE)
    assert decode_command_body(frame[5:]) == (0x30, 0x01, b"")
    with pytest.raises(FrameError):
        decode_command_body(frame[5:-1] + bytes((frame[-1] ^ 1,)))


def test_checksum_is_xor_of_the_body() -> None:
    assert checksum(bytes.fromhex("00 03 20 01")) == 0x22
    assert checksum(b"") == 0


def test_random_bytes_never_raise_anything_but_frame_error() -> None:
    rng = random.Random(467)
    for _ in range(5000):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        with contextlib.suppress(FrameError):
            decode_response_body(blob)
