"""`allhours locker status|open|test` and `allhours doctor`, run in-process on --emulate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from allhours.cli import main
from locker.journal import LockerJournal

REPO = Path(__file__).resolve().parents[3]
FAST = "[locker]\npulse_ms = 100\nopen_confirm_s = 0.3\npoll_interval_s = 0.02\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The documented USB relay example with short limits: B01/B02 sensed, B03 unsensed."""
    text = (REPO / "docs/examples/locker-usbrelay.toml").read_text()
    text = text.replace("[locker]\nopen_confirm_s = 3.0\n", FAST, 1)
    assert FAST in text
    path = tmp_path / "locker.toml"
    path.write_text(text)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_lists_each_compartment_with_board_channel_and_door(capsys, config):
    code, out, _ = run(capsys, "locker", "status", "--config", str(config), "--emulate", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)["compartments"]}
    assert (rows["B01"]["board"], rows["B01"]["channel"], rows["B01"]["door"]) == (
        "relay1",
        1,
        "closed",
    )
    assert rows["B01"]["door_input"] == "inputs:1"
    assert (rows["B03"]["door"], rows["B03"]["door_input"]) == ("unsensed", None)


def test_open_is_supervised_and_journalled_as_a_technician_open(capsys, config, tmp_path):
    journal = tmp_path / "locker.sqlite"
    code, out, err = run(
        capsys,
        "locker",
        "open",
        "B02",
        "--config",
        str(config),
        "--emulate",
        "--journal",
        str(journal),
    )
    assert code == 0, err
    assert "door seen open" in out and "B02" in out
    records = LockerJournal(journal)
    try:
        reasons = [
            (r.event, r.body.get("reason")) for r in records.records() if r.compartment_id == "B02"
        ]
    finally:
        records.close()
    assert reasons[:2] == [("door_opening", "technician open"), ("door_pulsed", "technician open")]

    code, out, _ = run(
        capsys, "locker", "status", "--config", str(config), "--emulate", "--journal", str(journal)
    )
    assert code == 0 and "B02" in out and "empty" in out


def test_test_pulses_every_compartment_and_fails_on_a_jammed_door(capsys, config):
    code, out, _err = run(
        capsys,
        "locker",
        "test",
        "--config",
        str(config),
        "--emulate",
        "--emulate-jam",
        "B02",
        "--json",
    )
    assert code == 1
    results = {r["id"]: r for r in json.loads(out)["results"]}
    assert [results[c]["ok"] for c in ("B01", "B02", "B03")] == [True, False, True]
    assert "out of service" in results["B02"]["result"]
    assert "check by eye" in results["B03"]["result"]
    assert [a["kind"] for a in json.loads(out)["alarms"]] == ["lock_fault"]

    code, out, _ = run(capsys, "locker", "test", "--config", str(config), "--emulate")
    assert code == 0
    assert out.splitlines()[0].split() == ["id", "board", "channel", "ok", "ms", "result"]


def test_usage_errors_exit_2_with_a_clear_message(capsys, config, tmp_path):
    code, _, err = run(capsys, "locker", "open", "Z99", "--config", str(config), "--emulate")
    assert code == 2 and "no compartment 'Z99'" in err
    # On hardware, an opening without the terminal's journal would go unaudited.
    code, _, err = run(capsys, "locker", "open", "B01", "--config", str(config))
    assert code == 2 and "--journal" in err
    bad = tmp_path / "bad.toml"
    bad.write_text(
        config.read_text().replace('board = "relay1"\nchannel = 3', 'board = "relay9"\nchannel = 3')
    )
    code, _, err = run(capsys, "locker", "status", "--config", str(bad), "--emulate")
    assert code == 2 and "(B03): unknown board 'relay9'" in err


def test_doctor_finds_the_configured_boards_on_the_emulators(capsys, config):
    code, out, _ = run(capsys, "doctor", "--config", str(config), "--emulate", "--json")
    assert code == 0
    report = json.loads(out)
    assert [(r["serial"], r["channels"]) for r in report["usb_relay_boards"]] == [("QAAAA", 4)]
    assert [(b["id"], b["ok"]) for b in report["locker"]["boards"]] == [
        ("relay1", True),
        ("inputs", True),
    ]
    assert {"serial_ports", "pcscd_socket", "cameras"} <= set(report)


def test_doctor_exits_1_when_a_configured_board_is_missing(capsys, config):
    code, out, _ = run(capsys, "doctor", "--config", str(config))
    assert code == 1
    assert "relay1 (usbrelay, serial QAAAA): MISSING" in out
    assert "inputs (rs485, /dev/ttyUSB0 address 2 at 9600 Bd): MISSING" in out
