"""The machine-readable contract: JSON Schemas, canonical examples and the AsyncAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema

REPO = Path(__file__).resolve().parents[3]
CONTRACT_DIR = REPO / "docs" / "contract"
REGENERATE = (
    'python -c "from pathlib import Path; from cloud_bridge.contract import schema; '
    "schema.export(Path('docs/contract'))\""
)
TYPE_NAMES = [m.type_name(cls) for cls in m.ALL_TYPES]
ENVELOPE = ("schema_version", "type", "message_id", "terminal_id", "sent_at")


def _committed(kind: str, name: str) -> dict[str, Any]:
    return json.loads((CONTRACT_DIR / kind / f"{name}.json").read_text())


def _asyncapi() -> dict[str, Any]:
    return json.loads((CONTRACT_DIR / "asyncapi.json").read_text())


# ---------------------------------------------------------------- JSON Schemas and examples


def test_there_is_one_schema_and_one_example_per_message_type():
    assert sorted(schema.json_schemas()) == sorted(TYPE_NAMES)
    assert sorted(schema.examples()) == sorted(TYPE_NAMES)
    assert len(set(TYPE_NAMES)) == len(m.ALL_TYPES)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_schema_is_a_valid_draft_2020_12_schema(name):
    for candidate in (schema.json_schemas()[name], _committed("schemas", name)):
        assert candidate["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(candidate)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_canonical_example_validates_against_its_schema(name):
    example = _committed("examples", name)
    Draft202012Validator(_committed("schemas", name)).validate(example)
    assert example["type"] == name


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_a_schema_refuses_an_example_with_an_unknown_field(name):
    example = {**_committed("examples", name), "surprise": 1}
    with pytest.raises(ValidationError):
        Draft202012Validator(_committed("schemas", name)).validate(example)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_canonical_example_round_trips_through_decode(name):
    raw = (CONTRACT_DIR / "examples" / f"{name}.json").read_bytes()
    decoded = m.decode(raw)
    assert type(decoded) is m.BY_TYPE[name]
    assert decoded == schema.examples()[name]
    assert m.decode(decoded.encode()) == decoded
    assert json.loads(decoded.encode()) == json.loads(raw)


def test_every_schema_requires_the_whole_envelope():
    missing = {
        name: sorted(set(ENVELOPE) - set(s.get("required", [])))
        for name, s in schema.json_schemas().items()
    }
    assert not {name: fields for name, fields in missing.items() if fields}


# ---------------------------------------------------------------- docs/contract cannot drift


def test_committed_contract_files_equal_what_the_code_generates(tmp_path):
    schema.export(tmp_path)
    generated = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(CONTRACT_DIR).as_posix() for p in CONTRACT_DIR.rglob("*") if p.is_file()
    }
    hint = f"docs/contract is out of date with cloud_bridge/contract; regenerate: {REGENERATE}"
    assert committed == generated, hint
    stale = sorted(
        rel for rel in generated if (tmp_path / rel).read_text() != (CONTRACT_DIR / rel).read_text()
    )
    assert not stale, f"{hint} (stale: {', '.join(stale)})"


# ---------------------------------------------------------------- AsyncAPI


def test_asyncapi_document_is_version_3_0_0():
    doc = _asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["defaultContentType"] == "application/json"


def test_asyncapi_has_one_channel_per_message_type_at_its_topic_template():
    doc = _asyncapi()
    by_message: dict[str, str] = {}
    for channel in doc["channels"].values():
        [ref] = [msg["$ref"] for msg in channel["messages"].values()]
        message = _resolve(doc, ref)
        by_message[message["name"]] = channel["address"]
        assert set(channel["parameters"]) == {"terminal_id"}
    assert len(doc["channels"]) == len(m.ALL_TYPES)
    assert by_message == {m.type_name(cls): schema.topic_template(cls) for cls in m.ALL_TYPES}


def test_asyncapi_operations_send_upstream_and_receive_downstream():
    doc = _asyncapi()
    actions = {}
    for op in doc["operations"].values():
        channel = _resolve(doc, op["channel"]["$ref"])
        [ref] = [msg["$ref"] for msg in channel["messages"].values()]
        actions[_resolve(doc, ref)["name"]] = op["action"]
    expected = {
        m.type_name(cls): "send" if schema.direction(cls) == "terminal→backend" else "receive"
        for cls in m.ALL_TYPES
    }
    assert actions == expected


def test_every_ref_in_the_asyncapi_document_resolves_inside_it():
    doc = _asyncapi()
    refs = list(_refs(doc))
    assert refs, "the document has no $ref at all"
    for ref in refs:
        assert ref.startswith("#/"), f"{ref} points outside the document"
        _resolve(doc, ref)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_asyncapi_payload_schemas_accept_the_canonical_examples(name):
    doc = _asyncapi()
    [message] = [msg for msg in doc["components"]["messages"].values() if msg["name"] == name]
    example = _committed("examples", name)
    assert message["examples"] == [{"payload": example}]
    base = "urn:allhours:asyncapi"
    registry = Registry().with_resource(
        base, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator({"$ref": base + message["payload"]["$ref"]}, registry=registry)
    validator.validate(example)
    with pytest.raises(ValidationError):
        validator.validate({**example, "surprise": 1})


def test_asyncapi_mqtt_bindings_sit_where_binding_0_2_0_defines_them():
    doc = _asyncapi()
    for channel in doc["channels"].values():
        assert set(channel.get("bindings", {}).get("mqtt", {})) <= {"bindingVersion"}
    for message in doc["components"]["messages"].values():
        assert "messageExpiryInterval" not in message.get("bindings", {}).get("mqtt", {})
    for op in doc["operations"].values():
        assert op["bindings"]["mqtt"]["qos"] == 1


def _refs(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for token in ref.removeprefix("#/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and token in node, f"{ref} does not resolve"
        node = node[token]
    return node
