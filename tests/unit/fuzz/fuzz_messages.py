"""Hypothesis strategies for hostile wire payloads: raw bytes, JSON, and mutated examples."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

EXAMPLES: dict[str, m.Message] = examples()
UPSTREAM = [
    name
    for name, message in EXAMPLES.items()
    if not name.startswith(("command.", "receipt", "response."))
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
# Literals no serializer writes but a hostile sender can: huge, non-finite, or odd numbers.
raw_literals = st.sampled_from(
    ["1e999", "-1e999", "NaN", "Infinity", "1" * 5000, "0.1e-999", "-0", '"\\ud800"', "[]" * 3]
)
# Values that make references hit or miss what the backend already holds.
known_values = st.sampled_from(
    [
        "AH-T0001-20261120-0001",
        "AH-T0001-20261120-0002",
        "L-7f3a9c",
        "T0001",
        "T0002",
        "0" * 32,
        "a" * 64,
        "",
        "\x00",
        "1101**********002X",
    ]
)


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _set(data: Any, path: tuple, marker: str) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = marker


def _like(original: Any) -> st.SearchStrategy[Any]:
    """Values of the original's own JSON type, so many mutants still decode."""
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int):
        return st.integers(min_value=-3, max_value=10**7)
    if isinstance(original, float):
        return st.floats(min_value=-1, max_value=1e6, allow_nan=False)
    if isinstance(original, str):
        return st.one_of(
            known_values,
            st.just(original + "0"),
            st.just(original[:-1]),
            st.just(original.upper()),
            st.text(max_size=20),
        )
    return json_values


@st.composite
def mutated(draw, names: list[str] | None = None) -> tuple[str, bytes]:
    """(topic, payload): a canonical example with up to three values replaced."""
    name = draw(st.sampled_from(names or list(EXAMPLES)))
    message = EXAMPLES[name]
    message = message.model_copy(update={"message_id": m.new_message_id()})
    data = json.loads(message.encode())
    literals = {}
    for i in range(draw(st.integers(0, 3))):
        leaves = [p for p in _leaves(data) if p]
        path = draw(st.sampled_from(leaves))
        original = data
        for key in path:
            original = original[key]
        kind = draw(st.integers(0, 5))
        if kind == 0:
            replacement = json.dumps(draw(json_values))
        elif kind == 1:
            replacement = draw(raw_literals)
        else:
            replacement = json.dumps(draw(_like(original)))
        marker = f"__hostile_{i}__"
        _set(data, path, marker)
        literals[marker] = replacement
    text = json.dumps(data)
    for marker, replacement in literals.items():
        text = text.replace(json.dumps(marker), replacement)
    return message.topic(), text.encode("utf-8", "surrogatepass")


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated().map(lambda item: item[1]),
)
