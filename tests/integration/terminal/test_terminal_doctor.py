"""`allhours doctor --settings`: what the kiosk would start with, and the boards it names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from enrolled_terminal import enrolled_offline

from allhours.cli import main

REPO = Path(__file__).resolve().parents[3]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def real_settings(tmp_path: Path, data_dir: Path) -> Path:
    """Real-device settings whose devices file names the documented USB relay locker."""
    (tmp_path / "locker.toml").write_text(
        (REPO / "docs/examples/locker-usbrelay.toml").read_text(encoding="utf-8")
    )
    (tmp_path / "devices.toml").write_text('locker = "locker.toml"\n')
    path = tmp_path / "terminal.toml"
    path.write_text(
        f'data_dir = "{data_dir}"\ndevices = "devices.toml"\n'
        '[printer]\nurl = "tcp://192.0.2.7:9100"\n',
        encoding="utf-8",
    )
    return path


def test_doctor_reads_the_settings_and_checks_the_boards_the_devices_file_names(
    capsys, tmp_path: Path
):
    settings = real_settings(tmp_path, enrolled_offline(tmp_path / "T0001"))
    code, out, _ = run(capsys, "doctor", "--settings", str(settings), "--emulate", "--json")
    assert code == 0
    report = json.loads(out)
    terminal = report["terminal"]
    assert terminal["mode"] == "real" and terminal["printer"] == "tcp://192.0.2.7:9100"
    assert terminal["enrollment"]["ok"] and terminal["enrollment"]["terminal_id"] == "T0001"
    # The locker boards are those of the locker file the devices file names.
    assert [(b["id"], b["ok"]) for b in report["locker"]["boards"]] == [
        ("relay1", True),
        ("inputs", True),
    ]

    code, out, _ = run(capsys, "doctor", "--settings", str(settings), "--emulate")
    assert code == 0
    assert f"terminal: {settings}: real devices" in out
    assert "enrollment: T0001, broker 127.0.0.1:9" in out
    assert "printer: tcp://192.0.2.7:9100" in out


def test_doctor_exits_1_and_says_what_to_do_when_the_terminal_is_not_enrolled(
    capsys, tmp_path: Path
):
    settings = tmp_path / "terminal.toml"
    settings.write_text(f'data_dir = "{tmp_path / "empty"}"\nemulate = true\n', encoding="utf-8")
    code, out, _ = run(capsys, "doctor", "--settings", str(settings))
    assert code == 1
    assert "TRAINING (emulated devices)" in out
    assert "enrollment: PROBLEM:" in out and "allhours enroll --token" in out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('data_dir = "d"\n', "devices: the devices file"),
        ('data_dir = "d"\nemulate = "sometimes"\n', "emulate:"),
        ('data_dir = "d"\ndevices = "missing.toml"\n', "missing.toml"),
    ],
)
def test_doctor_exits_2_on_a_bad_settings_file_naming_the_key(
    capsys, tmp_path: Path, text: str, reason: str
):
    settings = tmp_path / "terminal.toml"
    settings.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "doctor", "--settings", str(settings))
    assert code == 2 and out == ""
    assert str(settings) in err and reason in err
