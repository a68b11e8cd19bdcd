"""The progress query and the rating on the wire: what they may carry, and what they refuse."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema

PERSONAL = {"name", "applicant", "id_number", "phone", "note", "detail", "reason", "text"}


def _fields(schema_doc: dict) -> dict[str, dict]:
    """Every property of the message and of its nested models, by name."""
    props = dict(schema_doc.get("properties", {}))
    for definition in schema_doc.get("$defs", {}).values():
        props |= definition.get("properties", {})
    return props


def _free_text(prop: dict, defs: dict) -> bool:
    """A string the sender may fill as it likes: not a fixed list, a pattern or a constant."""
    if "$ref" in prop:
        prop = defs[prop["$ref"].rsplit("/", 1)[-1]]
    alternatives = prop.get("anyOf") or prop.get("items", {}).get("anyOf") or [prop]
    return any(
        alt.get("type") == "string" and not ({"enum", "pattern", "const", "format"} & set(alt))
        for alt in alternatives
    )


def test_the_status_answer_has_no_field_that_could_hold_personal_data_or_free_text():
    doc = schema.json_schemas()["response.application_status"]
    fields, defs = _fields(doc), doc.get("$defs", {})
    # A supplement request's reason is named "reason" but is a code from the fixed list.
    assert fields["reason"]["enum"] == list(get_args(m.SupplementReason))
    assert not {name for name in fields if name in PERSONAL and _free_text(fields[name], defs)}
    assert not {name for name, prop in fields.items() if _free_text(prop, defs)}
    assert "found" in fields and "state" in fields


def test_the_phone_tail_is_four_digits_and_stays_out_of_reprs():
    example = schema.examples()["request.application_status"]
    assert "8000" not in repr(example)
    raw = json.loads(example.encode())
    for bad in ("800", "80001", "80a0", "138****8000"):
        with pytest.raises(m.MalformedMessage) as info:
            m.decode(json.dumps(raw | {"phone_tail": bad}).encode())
        assert bad not in info.value.reason


def test_a_rating_carries_a_score_from_1_to_5_and_reasons_from_the_fixed_list_only():
    raw = json.loads(schema.examples()["event.service_rated"].encode())
    for bad in ({"score": 0}, {"score": 6}, {"reasons": ["the clerk was rude"]}, {"comment": "x"}):
        with pytest.raises(m.MalformedMessage):
            m.decode(json.dumps(raw | bad).encode())
    assert {r.value for r in m.RatingReason} == {
        "waiting",
        "unclear_guidance",
        "device_problem",
        "too_many_steps",
        "other",
    }


def test_a_rating_goes_to_its_own_events_topic_and_the_status_pair_to_requests_and_responses():
    ex = schema.examples()
    assert ex["event.service_rated"].topic() == "allhours/v1/terminals/T0001/events/service_rated"
    assert ex["request.application_status"].topic() == "allhours/v1/terminals/T0001/requests"
    assert ex["response.application_status"].topic() == "allhours/v1/terminals/T0001/responses"
    wrong = "allhours/v1/terminals/T0001/events/alarm"
    with pytest.raises(m.MalformedMessage):
        m.decode_from(wrong, ex["event.service_rated"].encode())
