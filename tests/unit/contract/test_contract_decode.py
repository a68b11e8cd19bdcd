"""Decoding payloads from the wire: what is refused, and what a refusal may say."""

from __future__ import annotations

import base64
import json
import traceback
from typing import Any

import pytest

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema, topics

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"


def _example(name: str) -> dict[str, Any]:
    return json.loads(schema.examples()[name].encode())


def _bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _refused(payload: bytes) -> m.MalformedMessage:
    with pytest.raises(m.MalformedMessage) as info:
        m.decode(payload)
    return info.value


# ---------------------------------------------------------------- size and syntax


def test_a_payload_at_the_size_limit_is_accepted_and_one_byte_more_is_refused():
    raw = schema.examples()["status"].encode()
    at_limit = raw + b" " * (m.MAX_MESSAGE_BYTES - len(raw))
    assert m.decode(at_limit) == schema.examples()["status"]
    exc = _refused(at_limit + b" ")
    assert "oversized" in exc.reason


def test_a_full_blob_chunk_fits_in_one_message():
    chunk = m.BlobChunk(
        terminal_id="T0001",
        sha256="0" * 64,
        index=0,
        count=1,
        total_size=m.BLOB_CHUNK_BYTES,
        data=base64.b64encode(b"\xff" * m.BLOB_CHUNK_BYTES).decode(),
    )
    assert len(chunk.encode()) <= m.MAX_MESSAGE_BYTES
    assert m.decode(chunk.encode()).raw() == b"\xff" * m.BLOB_CHUNK_BYTES


@pytest.mark.parametrize("payload", [b"", b"not json", b"\xff\xfe{}", b"{", b"[]", b"42", b"null"])
def test_a_payload_that_is_not_a_json_object_is_refused(payload):
    _refused(payload)


def test_an_unknown_type_is_refused():
    _refused(_bytes({**_example("status"), "type": "event.unknown"}))
    exc = _refused(_bytes({k: v for k, v in _example("status").items() if k != "type"}))
    assert exc.reason


# ---------------------------------------------------------------- fields


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("event.application_submitted", "application_no"),
        ("event.application_submitted", "applicant"),
        ("status", "terminal_id"),
        ("command.load_result", "expires_at"),
        ("event.result_loaded", "operation_id"),
        ("receipt", "items"),
    ],
)
def test_a_missing_field_is_refused(name, field):
    payload = _example(name)
    del payload[field]
    exc = _refused(_bytes(payload))
    assert field in exc.reason


@pytest.mark.parametrize("field", ["message_id", "sent_at", "schema_version"])
def test_a_payload_without_an_envelope_field_is_refused(field):
    payload = _example("event.application_submitted")
    del payload[field]
    _refused(_bytes(payload))


def test_an_extra_field_is_refused_at_the_top_and_inside():
    _refused(_bytes({**_example("status"), "colour": "blue"}))
    payload = _example("event.application_submitted")
    payload["applicant"]["nickname"] = "x"
    _refused(_bytes(payload))


@pytest.mark.parametrize("version", [2, 0, None, "1", "v1"])
def test_a_wrong_schema_version_is_refused(version):
    exc = _refused(_bytes({**_example("status"), "schema_version": version}))
    assert "schema_version" in exc.reason


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("blob.chunk", "index", "0"),
        ("telemetry", "outbox_backlog", "3"),
        ("event.application_submitted", "deposit_expected", "true"),
    ],
)
def test_decode_refuses_a_string_where_the_schema_wants_a_number_or_boolean(name, field, value):
    _refused(_bytes({**_example(name), field: value}))


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("status", "sent_at"),
        ("status", "since"),
        ("event.application_submitted", "submitted_at"),
        ("command.set_pickup_code", "code_expires_at"),
    ],
)
def test_a_naive_datetime_is_refused(name, field):
    payload = _example(name)
    payload[field] = "2026-11-20T21:30:00"
    exc = _refused(_bytes(payload))
    assert field in exc.reason


@pytest.mark.parametrize(
    "digest", ["9F86D081" + "0" * 56, "0" * 63, "0" * 65, "g" * 64, "", "0" * 63 + "\n"]
)
def test_a_bad_sha256_is_refused(digest):
    _refused(_bytes({**_example("blob.chunk"), "sha256": digest}))
    payload = _example("event.application_submitted")
    payload["materials"][0]["sha256"] = digest
    _refused(_bytes(payload))
    _refused(_bytes({**_example("command.set_pickup_code"), "code_digest": digest}))


def test_blob_chunk_raw_returns_the_decoded_bytes():
    chunk = m.decode(schema.examples()["blob.chunk"].encode())
    assert isinstance(chunk, m.BlobChunk)
    assert chunk.raw() == b"%PDF-1.4\n"


@pytest.mark.parametrize("data", ["not base64!", "JVBERi0xLjQ", "JVBE\nRi0xLjQK", "JVBERi0x*jQK"])
def test_blob_chunk_data_that_is_not_strict_base64_is_refused(data):
    chunk = m.decode(_bytes({**_example("blob.chunk"), "data": data}))
    assert isinstance(chunk, m.BlobChunk)
    with pytest.raises(m.MalformedMessage):
        chunk.raw()


def test_blob_chunk_data_longer_than_one_chunk_is_refused():
    too_long = "A" * ((m.BLOB_CHUNK_BYTES * 4) // 3 + 8)
    _refused(_bytes({**_example("blob.chunk"), "data": too_long}))


# ---------------------------------------------------------------- personal data in refusals


def _bad_submission(**applicant: str) -> bytes:
    payload = _example("event.application_submitted")
    payload["applicant"].update(applicant)
    return _bytes(payload)


@pytest.mark.parametrize(
    "payload",
    [
        _bad_submission(phone="1380013800x"),
        _bad_submission(id_number="110105-19491231002X", phone="138 0013 8000"),
        _bad_submission(id_document_type="driving_licence"),
        _bad_submission(name=""),
    ],
)
def test_a_refusal_never_repeats_the_applicants_id_number_or_phone(payload):
    exc = _refused(payload)
    told = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    for secret in (ID_NUMBER, "110105-19491231002X", PHONE, "1380013800x", "138 0013 8000"):
        assert secret not in told
    assert "applicant" in exc.reason


# ---------------------------------------------------------------- decode_from


@pytest.mark.parametrize("name", sorted(schema.examples()))
def test_decode_from_accepts_every_example_on_its_own_topic(name):
    message = schema.examples()[name]
    assert m.decode_from(message.topic(), message.encode()) == message


def test_decode_from_refuses_a_terminal_id_that_differs_from_the_topics():
    message = schema.examples()["event.application_submitted"]
    other = message.topic().replace("/T0001/", "/T0002/")
    with pytest.raises(m.MalformedMessage, match="differs"):
        m.decode_from(other, message.encode())


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("status", topics.telemetry("T0001")),
        ("event.alarm", topics.event("T0001", "result_loaded")),
        ("event.alarm", topics.event("T0001", "event.alarm")),
        ("command.load_result", topics.receipts("T0001")),
        ("receipt", topics.commands("T0001")),
        ("command.ack", topics.commands("T0001")),
        ("blob.chunk", topics.event("T0001", "blob")),
    ],
)
def test_decode_from_refuses_a_type_on_the_wrong_topic(name, topic):
    with pytest.raises(m.MalformedMessage, match="does not belong"):
        m.decode_from(topic, schema.examples()[name].encode())


@pytest.mark.parametrize(
    "topic", ["allhours/v2/terminals/T0001/status", "allhours/v1/terminals/T0001/nowhere"]
)
def test_decode_from_turns_a_foreign_topic_into_a_malformed_message(topic):
    with pytest.raises(m.MalformedMessage):
        m.decode_from(topic, schema.examples()["status"].encode())
