"""The hardware mapping: the documented examples load, and every wiring mistake is named."""

import copy
from pathlib import Path

import pytest

from locker.config import (
    LockerConfigError,
    SupervisionSettings,
    load_locker_config,
    parse_locker_config,
)
from locker.layout import DoorInput, Size

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"

BASE = {
    "locker": {
        "board": [
            {"id": "relay1", "kind": "usbrelay", "serial": "QAAAA", "channels": 4},
            {"id": "cab1", "kind": "rs485", "port": "/dev/ttyUSB0", "address": 1, "channels": 8},
        ],
        "compartment": [
            {"id": "A01", "size": "S", "board": "cab1", "channel": 1, "door": "same"},
            {
                "id": "B01",
                "size": "M",
                "board": "relay1",
                "channel": 1,
                "door": {"board": "cab1", "input": 5},
            },
            {
                "id": "B02",
                "size": "L",
                "board": "relay1",
                "channel": 2,
                "door": "none",
                "pulse_ms": 900,
            },
        ],
    }
}


def test_a_mixed_configuration_maps_each_compartment_to_its_board_channel_and_door():
    config = parse_locker_config(BASE)
    a01, b01, b02 = config.compartments
    assert (a01.board, a01.channel, a01.door) == ("cab1", 1, DoorInput("cab1", 1))
    assert (b01.board, b01.channel, b01.door, b01.size) == (
        "relay1",
        1,
        DoorInput("cab1", 5),
        Size.M,
    )
    assert (b02.door, b02.pulse_ms, b02.sensed) == (None, 900, False)
    assert config.board("cab1").senses_doors and not config.board("relay1").senses_doors
    assert config.supervision == SupervisionSettings()


@pytest.mark.parametrize(
    "name", ["locker-rs485.toml", "locker-usbrelay.toml", "locker-emulated.toml"]
)
def test_the_documented_examples_are_valid(name):
    config = load_locker_config(EXAMPLES / name)
    assert config.compartments


def test_a_relative_journal_path_is_taken_from_the_configuration_file(tmp_path):
    path = tmp_path / "locker.toml"
    path.write_text(
        (EXAMPLES / "locker-emulated.toml")
        .read_text()
        .replace("[locker]\n", '[locker]\njournal = "data/locker.sqlite"\n', 1)
    )
    assert load_locker_config(path).journal == tmp_path / "data" / "locker.sqlite"


def _with(path, value):
    """BASE with one key replaced (or removed, for value None)."""
    data = copy.deepcopy(BASE)
    *parents, key = path
    node = data["locker"]
    for part in parents:
        node = node[part]
    if value is None:
        del node[key]
    else:
        node[key] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("compartment", 1, "board"),
            "relay9",
            r"locker.compartment\[1\] \(B01\): unknown board 'relay9' \(boards: relay1, cab1\)",
        ),
        (("compartment", 2, "channel"), 1, r"board relay1 channel 1 already opens B01"),
        (("compartment", 2, "channel"), 5, r"channel 5 is beyond board relay1's channels 1..4"),
        (
            ("compartment", 2, "door"),
            {"board": "cab1", "input": 5},
            r"door input 5 of board cab1 already senses B01",
        ),
        (
            ("compartment", 0, "door"),
            {"board": "cab1", "input": 5},
            r"door input 5 of board cab1 already senses A01|already senses",
        ),
        (
            ("compartment", 2, "door"),
            {"board": "relay1", "input": 2},
            r"door on board relay1, which has no door inputs \(usbrelay\)",
        ),
        (
            ("compartment", 2, "door"),
            {"board": "cab1", "input": 9},
            r"door input 9 is beyond board cab1's inputs 1..8",
        ),
        (("compartment", 2, "door"), None, r"missing key 'door'"),
        (("compartment", 2, "size"), None, r"\(B02\): missing key 'size'"),
        (("compartment", 2, "size"), "XL", r"unknown size 'XL'"),
        (("compartment", 2, "colour"), "red", r"unknown key 'colour'"),
        (("compartment", 2, "channel"), True, r"channel must be an integer"),
        (("compartment", 2, "id"), "B01", r"id B01 is already used by compartment 1"),
        (("compartment", 2, "pulse_ms"), 0, r"pulse_ms must be an integer 50..5000"),
        (("board", 1, "kind"), "can", r"kind must be one of usbrelay, rs485, emulated"),
        (("board", 1, "address"), 0, r"address must be an integer 1..255"),
        (("board", 1, "baudrate"), 9601, r"baudrate must be one of"),
        (("board", 1, "serial"), "X", r"unknown key 'serial'"),
        (("board", 0, "channels"), 16, r"channels must be an integer 1..8"),
        (("board", 1, "id"), "relay1", r"board id relay1 is already used by board 0"),
        (("open_confirm_s",), -1, r"\[locker\] open_confirm_s: must be a number >= 0.1"),
        (("poll_interval_s",), 5, r"poll_interval_s: must be shorter than open_confirm_s"),
        (("close_confirm_s",), 0, r"\[locker\] close_confirm_s: must be a number >= 0.1"),
        (("close_confirm_s",), 0.1, r"poll_interval_s: must be shorter than close_confirm_s"),
        (("board",), [], r"needs at least one \[\[locker.board\]\]"),
    ],
)
def test_a_bad_configuration_names_the_entry_and_the_key(path, value, message):
    with pytest.raises(LockerConfigError, match=message):
        parse_locker_config(_with(path, value))


def test_two_relay_boards_need_their_serials_and_two_boards_cannot_share_an_address():
    data = copy.deepcopy(BASE)
    data["locker"]["board"].append({"id": "relay2", "kind": "usbrelay", "channels": 2})
    with pytest.raises(LockerConfigError, match="each needs its `serial`"):
        parse_locker_config(data)
    data = copy.deepcopy(BASE)
    data["locker"]["board"].append(
        {"id": "cab2", "kind": "rs485", "port": "/dev/ttyUSB0", "address": 1, "channels": 8}
    )
    with pytest.raises(LockerConfigError, match="address 1 on /dev/ttyUSB0 is already board cab1"):
        parse_locker_config(data)
    data["locker"]["board"][-1].update(address=2, baudrate=19200)
    with pytest.raises(LockerConfigError, match="one baud rate"):
        parse_locker_config(data)


def test_a_file_error_names_the_file(tmp_path):
    path = tmp_path / "locker.toml"
    path.write_text("[locker\n")
    with pytest.raises(LockerConfigError, match=r"locker.toml: not valid TOML"):
        load_locker_config(path)
    with pytest.raises(LockerConfigError, match=r"missing.toml: cannot read"):
        load_locker_config(tmp_path / "missing.toml")
    path.write_text("[terminal]\n")
    with pytest.raises(LockerConfigError, match=r"missing \[locker\] table"):
        load_locker_config(path)
