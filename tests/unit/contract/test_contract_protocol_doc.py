"""docs/protocol.md explains the contract to people; it must not drift from the code either."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema, topics
from privacy import mask_id_number, mask_phone

PROTOCOL = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
JSON_BLOCK = re.compile(r"^```json\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="module")
def text() -> str:
    return PROTOCOL.read_text()


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(block) for block in JSON_BLOCK.findall(text)]


def _message_blocks(text: str) -> list[dict[str, Any]]:
    return [b for b in _json_blocks(text) if isinstance(b, dict) and b.get("type") in m.BY_TYPE]


@pytest.mark.parametrize("cls", m.ALL_TYPES, ids=m.type_name)
def test_protocol_names_every_message_type_and_its_topic(text, cls):
    assert f"`{m.type_name(cls)}`" in text
    assert f"### {m.type_name(cls)}\n" in text
    assert f"| `{schema.topic_template(cls)}` |" in text, "missing from the topic table"


def test_protocol_names_every_channel_and_the_backend_subscriptions(text):
    for channel in topics.UPSTREAM + topics.DOWNSTREAM:
        assert f"allhours/v1/terminals/{{terminal_id}}/{channel}" in text
    for subscription in topics.backend_subscriptions():
        assert subscription in text


def test_protocol_states_the_limits_the_code_enforces(text):
    for limit in (m.MAX_MESSAGE_BYTES, m.BLOB_CHUNK_BYTES, m.MAX_BLOB_BYTES):
        assert f"{limit:_}".replace("_", " ") in text


def test_every_json_block_in_protocol_is_valid_json(text):
    assert JSON_BLOCK.findall(text), "protocol.md has no ```json block"
    _json_blocks(text)


def test_protocol_shows_the_canonical_example_of_every_message_type(text):
    shown = sorted(block["type"] for block in _message_blocks(text))
    assert shown == sorted(m.BY_TYPE)


def test_every_example_in_protocol_validates_and_equals_the_canonical_one(text):
    examples = schema.examples()
    schemas = schema.json_schemas()
    for block in _message_blocks(text):
        name = block["type"]
        Draft202012Validator(schemas[name]).validate(block)
        assert m.decode(json.dumps(block, ensure_ascii=False).encode()) == examples[name]
        assert block == json.loads(examples[name].encode()), f"{name} example differs"


def test_protocol_shows_the_documented_masks_and_digest_message(text):
    assert f'"{mask_id_number("11010519491231002X")}"' in text
    assert f'"{mask_phone("13800138000")}"' in text
    assert "allhours/v1/pickup-code|{terminal_id}|{code}" in text.replace("\\|", "|")


def test_protocol_says_how_to_regenerate_the_contract_files(text):
    assert "schema.export(Path('docs/contract'))" in text
    assert "allhours contract export" in text
