"""Personal data on the wire: models that do not print it (the masks: tests/unit/privacy)."""

from __future__ import annotations

import json

import pytest

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
NAME = "张三"


def test_the_repr_of_a_submission_does_not_show_the_applicant():
    message = schema.examples()["event.application_submitted"]
    assert isinstance(message, m.ApplicationSubmitted)
    assert message.applicant.id_number == ID_NUMBER
    for shown in (repr(message), str(message), f"{message!r}"):
        assert ID_NUMBER not in shown
        assert PHONE not in shown
        assert NAME not in shown
        assert "AH-T0001-20261120-0001" in shown


def test_the_repr_of_an_applicant_does_not_show_the_id_number_phone_or_name():
    applicant = schema.examples()["event.application_submitted"].applicant  # type: ignore[attr-defined]
    assert ID_NUMBER not in repr(applicant)
    assert PHONE not in repr(applicant)
    assert NAME not in repr(applicant)


def test_a_refusal_names_no_field_the_sender_made_up():
    # An extra field's name (or a free-form map's key) came out verbatim in the refusal, which
    # is logged, kept in rejected_messages and sent back: the sender's text, of any length.
    payload = schema.examples()["event.application_submitted"].model_dump(mode="json")
    payload["applicant"][f"address {ID_NUMBER}"] = "x"
    with pytest.raises(m.MalformedMessage) as refused:
        m.decode(json.dumps(payload).encode())
    reason = str(refused.value)
    assert reason.endswith("event.application_submitted.applicant.<key>: extra_forbidden")
    assert ID_NUMBER not in reason
    telemetry = schema.examples()["telemetry"].model_dump(mode="json")
    telemetry["devices"] = {PHONE: "ok"}  # a key of a free-form map, with a bad value
    with pytest.raises(m.MalformedMessage) as refused:
        m.decode(json.dumps(telemetry).encode())
    assert PHONE not in str(refused.value) and "devices.<key>" in str(refused.value)


def test_building_an_applicant_with_a_bad_value_does_not_print_it():
    with pytest.raises(ValueError) as info:
        m.Applicant(
            name="张三", id_document_type="cn_resident_id", id_number=ID_NUMBER + "-", phone=PHONE
        )
    assert ID_NUMBER not in str(info.value)


def test_an_identity_decision_carries_scores_and_no_image():
    fields = set(m.IdentityDecision.model_fields)
    assert fields == {"method", "verified", "face_distance", "threshold", "liveness_passed"}
    payload = schema.examples()["event.application_submitted"].encode()
    assert b"image" not in payload and b"photo" not in payload and b"jpeg" not in payload.lower()
