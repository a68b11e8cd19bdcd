"""The contract decoder on hostile payloads: a valid message or MalformedMessage, nothing else."""

from __future__ import annotations

import pytest
from fuzz_messages import EXAMPLES, mutated, payloads
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.contract import messages as m


@given(payloads)
def test_decode_returns_a_message_or_raises_malformed(payload):
    try:
        message = m.decode(payload)
    except m.MalformedMessage as exc:
        assert exc.reason and len(exc.reason) < 1000
        return
    assert m.decode(message.encode()) == message


@given(mutated())
def test_a_mutated_example_that_decodes_reencodes_to_itself(item):
    topic, payload = item
    try:
        message = m.decode_from(topic, payload)
    except m.MalformedMessage:
        return
    assert m.decode_from(message.topic(), message.encode()) == message


@given(st.text(max_size=120), payloads)
def test_decode_from_any_topic_returns_or_raises_malformed(topic, payload):
    try:
        message = m.decode_from(topic, payload)
    except m.MalformedMessage:
        return
    assert message.topic() == topic


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"schema_version":1e999}',
        b"\xff\xfe{}",
        b"",
    ],
    ids=["brackets", "nested-objects", "huge-number", "invalid-utf8", "empty"],
)
def test_known_poison_is_malformed(payload):
    with pytest.raises(m.MalformedMessage):
        m.decode(payload)


@pytest.mark.parametrize(
    "kind, number, error",
    [
        ("event.application_submitted", b'"face_distance":0.38', "finite_number"),
        # Found by the mutated-example property: a bundle's catalog is free-form JSON, where
        # 1e999 parsed as infinity and the message no longer encoded back as it came.
        ("command.apply_config_bundle", b'"promised_days":1', "catalog: value_error"),
    ],
    ids=["typed-score", "free-form-bundle"],
)
def test_an_infinite_number_is_malformed_not_a_message(kind, number, error):
    example = EXAMPLES[kind].encode()
    payload = example.replace(number, number.split(b":")[0] + b":1e999")
    assert payload != example

    with pytest.raises(m.MalformedMessage, match=error):
        m.decode(payload)
