"""GA/T 467 frames on any bytes: a frame or FrameError, and framed payloads decode back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.identity.cnid import frames


@given(st.binary(max_size=600))
def test_any_response_body_decodes_or_raises_frame_error(body):
    try:
        response = frames.decode_response_body(body)
    except frames.FrameError:
        return
    assert len(response.data) == len(body) - 6
    assert isinstance(response.meaning, str) and "data_len" in repr(response)


@given(st.binary(max_size=600))
def test_any_command_body_decodes_or_raises_frame_error(body):
    try:
        cmd, para, data = frames.decode_command_body(body)
    except frames.FrameError:
        return
    assert 0 <= cmd <= 0xFF and 0 <= para <= 0xFF and len(data) == len(body) - 5


@given(st.binary(min_size=3, max_size=frames.MAX_LENGTH))
def test_a_framed_payload_decodes_back(payload):
    frame = frames.encode_frame(payload)
    assert frame.startswith(frames.PREAMBLE)

    response = frames.decode_response_body(frame[len(frames.PREAMBLE) :])

    assert (response.sw1, response.sw2, response.sw3, response.data) == (
        payload[0],
        payload[1],
        payload[2],
        payload[3:],
    )


@given(st.binary(min_size=3, max_size=300), st.integers(min_value=0), st.integers(1, 255))
def test_one_flipped_byte_is_caught_by_the_checksum_or_the_length(payload, where, flip):
    body = bytearray(frames.encode_frame(payload)[len(frames.PREAMBLE) :])
    body[where % len(body)] ^= flip
    try:
        frames.decode_response_body(bytes(body))
    except frames.FrameError:
        return
    raise AssertionError("a corrupted frame was accepted")
