"""Every date-time on the wire lies in 2000 … 2999, in every message type.

A terminal's clock that says 9999-12-31T23:00Z was accepted and stored, and then every page
that showed it in China Standard Time failed (`astimezone` overflows past year 9999).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema

EXAMPLES = schema.examples()
TOO_LATE = ("9999-12-31T23:00:00Z", "3000-01-01T00:00:00Z", "3000-01-01T08:00:00+08:00")
TOO_EARLY = ("1999-12-31T23:59:59Z", "2000-01-01T07:59:59+08:00", "1970-01-01T00:00:00Z")
WITHIN = ("2000-01-01T00:00:00Z", "2999-12-31T23:59:59.999999Z", "3000-01-01T07:59:59+08:00")


def _time_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where `value` (a message as Python data) holds a date-time."""
    if isinstance(value, datetime):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _time_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _time_paths(v, (*path, i))]
    return []


def _with(name: str, path: tuple[Any, ...], text: str) -> bytes:
    data = json.loads(EXAMPLES[name].encode())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = text
    return json.dumps(data).encode()


CASES = [
    (name, path)
    for name, message in sorted(EXAMPLES.items())
    for path in _time_paths(message.model_dump())
]


def test_the_examples_hold_date_times_beyond_the_envelope():
    assert {name for name, _ in CASES} == set(m.BY_TYPE)  # every type's sent_at at least
    fields = {path[-1] for _, path in CASES}
    assert {"raised_at", "deposited_at", "since", "expires_at", "submitted_at"} <= fields


@pytest.mark.parametrize(
    ("name", "path"), CASES, ids=[f"{n}:{'.'.join(map(str, p))}" for n, p in CASES]
)
def test_every_date_time_outside_2000_to_2999_is_malformed(name, path):
    for text in TOO_LATE + TOO_EARLY:
        with pytest.raises(m.MalformedMessage) as refused:
            m.decode(_with(name, path, text))
        # Field names are snake_case; a map's key (compartment A03) is the sender's: <key>.
        named = (str(p) if isinstance(p, int) or p.islower() else "<key>" for p in path)
        assert ".".join(named) in refused.value.reason, text
        assert text not in refused.value.reason  # field and kind only, never the value
    for text in WITHIN:
        assert m.decode(_with(name, path, text))


def test_a_sender_cannot_build_a_message_with_such_a_time():
    alarm = EXAMPLES["event.alarm"]
    fields = alarm.model_dump(exclude={"message_id", "raised_at"})
    for at in (datetime(9999, 12, 31, 23, tzinfo=UTC), datetime(1999, 12, 31, tzinfo=UTC)):
        with pytest.raises(ValidationError):
            m.Alarm(**fields, raised_at=at)
    assert m.Alarm(**fields, raised_at=m.EARLIEST_TIME).raised_at == m.EARLIEST_TIME


def _date_time_schemas(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("format") == "date-time" else []
        return found + [s for v in node.values() for s in _date_time_schemas(v)]
    if isinstance(node, list):
        return [s for v in node for s in _date_time_schemas(v)]
    return []


def test_the_schemas_name_the_bounds_of_every_date_time():
    found = [s for doc in schema.json_schemas().values() for s in _date_time_schemas(doc)]
    assert len(found) >= len(m.BY_TYPE)
    for s in found:
        assert s["formatMinimum"] == m.EARLIEST_TIME.isoformat().replace("+00:00", "Z")
        assert s["formatExclusiveMaximum"] == m.END_OF_TIME.isoformat().replace("+00:00", "Z")
