"""BER-TLV parsing on any bytes: a parse or TlvError, and what it encodes parses back."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.identity.emrtd import tlv
from devices.identity.emrtd.errors import TlvError

tags = st.one_of(
    st.integers(0x01, 0x1E),
    st.integers(0x20, 0x3E),
    st.integers(0x41, 0x5E),
    st.integers(0x61, 0x7E),
    st.integers(0x5F01, 0x5F7F),
    st.integers(0x7F01, 0x7F7F),
)


def _walk(items: list[tlv.Tlv]) -> int:
    """Visit every object below `items` without recursion; how many there were."""
    seen, stack = 0, list(items)
    while stack:
        item = stack.pop()
        seen += 1
        if item.constructed:
            stack.extend(item.children())
    return seen


@given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_tlv_error(data):
    with contextlib.suppress(TlvError):
        _walk(tlv.parse_all(data))
    with contextlib.suppress(TlvError):
        tlv.parse_single(data, expected_tag=0x77)
    with contextlib.suppress(TlvError):
        size = tlv.total_length(data)
        assert size is None or size >= 2


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=5))
def test_encoded_objects_parse_back_to_themselves(items):
    data = tlv.encode_many(*items)

    parsed = tlv.parse_all(data)

    assert [(p.tag, p.value) for p in parsed] == items
    assert b"".join(p.encode() for p in parsed) == data


@given(tags, st.binary(max_size=300), st.integers(min_value=0, max_value=8))
def test_a_cut_object_is_truncated_never_misread(tag, value, cut):
    data = tlv.encode(tag, value)
    short = data[: max(0, len(data) - 1 - cut)]
    with pytest.raises(tlv.TruncatedTlv):
        tlv.parse_single(short)
    assert tlv.total_length(data) == len(data)
