"""A bundle's locker layout, checked as the contract checks it on the backend and the terminal."""

from __future__ import annotations

import pytest

from cloud_bridge.contract.config_parts import CompartmentEntry, ConfigRefused, check_layout

BOARDS = {"main": 8, "side": None}


def test_doors_resolve_to_the_input_that_senses_them():
    entries = check_layout(
        [
            {"id": "A01", "size": "S", "channel": 1, "door": "same"},
            {"id": "A02", "size": "M", "channel": 2, "door": {"board": "side", "input": 5}},
            {"id": "A03", "size": "L", "board": "side", "channel": 3},
        ],
        BOARDS,
    )
    assert entries == (
        CompartmentEntry("A01", "S", "main", 1, ("main", 1), None),
        CompartmentEntry("A02", "M", "main", 2, ("side", 5), None),
        CompartmentEntry("A03", "L", "side", 3, None, None),
    )


def test_one_door_input_senses_one_compartment():
    # As in the devices file: two doors on one input would each be seen open when either is.
    layout = [
        {"id": "A01", "size": "S", "channel": 1, "door": "same"},
        {"id": "A02", "size": "S", "channel": 2, "door": {"board": "main", "input": 1}},
    ]
    with pytest.raises(ConfigRefused, match="layout: A02: door input 1 of board main already"):
        check_layout(layout, BOARDS)
