"""A terminal's settings file: validated at start with the file, the key and the reason; the
environment over the file; printer URLs for the three transports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from allhours.settings import (
    PrinterTarget,
    SettingsError,
    load_settings,
    load_terminal_config,
    parse_printer_url,
)
from cloud_bridge.contract.config_parts import ConfigRefused, check_settings
from cloud_bridge.contract.messages import utcnow


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "terminal.toml"
    path.write_text(text, encoding="utf-8")
    return path


REAL = """
data_dir = "data"
devices = "devices.toml"

[kiosk]
lang = "en"
display = "windowed"
idle_timeout_s = 120

[printer]
url = "serial:///dev/ttyS1?baudrate=19200"
"""


def test_a_real_terminal_file_is_read_with_paths_from_its_folder(tmp_path):
    s = load_settings(_write(tmp_path, REAL))
    assert s.emulate is False
    assert s.data_dir == (tmp_path / "data").resolve()
    assert s.devices == (tmp_path / "devices.toml").resolve()
    assert (s.kiosk.lang, s.kiosk.display, s.kiosk.idle_timeout_s) == ("en", "windowed", 120)
    assert s.kiosk.idle_warning_s == 20  # the default
    assert s.printer is not None
    assert s.printer.target == PrinterTarget("serial", device="/dev/ttyS1", baudrate=19200)


def test_a_real_terminal_without_a_devices_file_is_refused_naming_the_key(tmp_path):
    path = _write(tmp_path, 'data_dir = "data"\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert "devices" in message and "emulate = true" in message


def test_training_needs_no_devices_file(tmp_path):
    s = load_settings(_write(tmp_path, 'data_dir = "data"\nemulate = true\n'))
    assert s.emulate and s.devices is None and s.printer is None


def test_the_counters_office_hours_and_hotline_are_read_per_language(tmp_path):
    text = (
        'data_dir = "d"\nemulate = true\n[kiosk]\nhotline = "0571-12345"\n'
        'office_hours = { zh = "工作日 8:30–17:30 ", en = "working days 8:30–17:30" }\n'
    )
    s = load_settings(_write(tmp_path, text))
    assert s.kiosk.hotline == "0571-12345"
    assert s.kiosk.office_hours == {"zh": "工作日 8:30–17:30", "en": "working days 8:30–17:30"}
    assert load_settings(_write(tmp_path, 'data_dir = "d"\nemulate = true\n')).kiosk.hotline is None


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('data_dir = "d"\nemulate = true\ncolour = "red"\n', "colour", "Extra inputs"),
        ('data_dir = "d"\nemulate = true\n[kiosk]\nlang = "fr"\n', "kiosk.lang", "'zh' or 'en'"),
        (
            'data_dir = "d"\nemulate = true\n[kiosk]\nidle_timeout_s = 1\n',
            "kiosk.idle_timeout_s",
            "greater than or equal to 15",
        ),
        ('data_dir = "d"\nemulate = "sometimes"\n', "emulate", "boolean"),
        (
            'data_dir = "d"\nemulate = true\n[kiosk]\nhotline = "call us"\n',
            "kiosk.hotline",
            "should match pattern",
        ),
        (
            'data_dir = "d"\nemulate = true\n[kiosk]\noffice_hours = { fr = "lundi" }\n',
            "kiosk.office_hours.fr",
            "'zh' or 'en'",
        ),
        (
            'data_dir = "d"\nemulate = true\n[kiosk]\noffice_hours = { en = " " }\n',
            "kiosk.office_hours",
            "office_hours.en: 1..60 characters",
        ),
        (
            'data_dir = "d"\nemulate = true\n[printer]\nurl = "lpt://1"\n',
            "printer.url",
            "usb://, serial:// or tcp://",
        ),
        ("emulate = true\n", "data_dir", "Field required"),
    ],
)
def test_a_bad_value_is_refused_with_file_key_and_reason(tmp_path, text, key, reason):
    path = _write(tmp_path, text)
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: {key}")
    assert reason in message


def test_a_file_that_is_not_toml_or_missing_is_refused_with_its_name(tmp_path):
    path = _write(tmp_path, "data_dir = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "absent.toml")


def test_the_environment_wins_over_the_file_and_is_named_when_wrong(tmp_path, monkeypatch):
    path = _write(tmp_path, REAL)
    monkeypatch.setenv("ALLHOURS_KIOSK__LANG", "zh")
    monkeypatch.setenv("ALLHOURS_EMULATE", "true")
    s = load_settings(path)
    assert s.kiosk.lang == "zh" and s.emulate is True
    assert s.kiosk.display == "windowed"  # the rest of the table still comes from the file

    monkeypatch.setenv("ALLHOURS_KIOSK__DPI", "9000")
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    assert "kiosk.dpi (or ALLHOURS_KIOSK__DPI)" in str(refused.value)


def test_settings_whose_data_dir_holds_no_enrollment_say_how_to_enroll(tmp_path):
    path = _write(tmp_path, 'data_dir = "data"\nemulate = true\n')
    with pytest.raises(SettingsError) as refused:
        load_terminal_config(path, utcnow())
    assert "data_dir" in str(refused.value) and "allhours enroll" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("tcp://10.0.0.9:9100", PrinterTarget("tcp", host="10.0.0.9", port=9100)),
        ("tcp://printer.lobby", PrinterTarget("tcp", host="printer.lobby", port=9100)),
        ("serial:///dev/ttyUSB1", PrinterTarget("serial", device="/dev/ttyUSB1")),
        ("usb://0416:5011", PrinterTarget("usb", vendor_id=0x0416, product_id=0x5011)),
    ],
)
def test_printer_urls_for_network_serial_and_usb(url, target):
    assert parse_printer_url(url) == target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("tcp://", "needs a host"),
        ("serial://ttyS1", "under /dev"),
        ("serial:///dev/ttyS1?baudrate=12345", "not a serial speed"),
        ("serial:///dev/ttyS1?parity=E", "unknown option"),
        ("usb://0416", "VID:PID"),
        ("usb://zz:11", "VID:PID"),
        ("file:///tmp/x", "usb://, serial:// or tcp://"),
    ],
)
def test_bad_printer_urls_are_refused_with_the_reason(url, reason):
    with pytest.raises(ValueError, match=reason):
        parse_printer_url(url)


def test_the_documented_example_is_a_valid_real_terminal(monkeypatch):
    for name in [n for n in os.environ if n.startswith("ALLHOURS_")]:
        monkeypatch.delenv(name)
    example = Path(__file__).parents[3] / "docs" / "examples" / "terminal.toml"
    s = load_settings(example)
    assert s.emulate is False and s.devices == example.parent.resolve() / "devices.toml"
    assert s.printer is not None and s.printer.target.kind == "usb"
    assert s.link.telemetry_interval_s == 60


def test_a_bundle_may_set_the_counters_hours_and_hotline():
    hours = {"kiosk": {"office_hours": {"en": " weekdays 9:00-17:00 "}, "hotline": "12345"}}
    assert check_settings(hours) == {
        "kiosk": {"office_hours": {"en": "weekdays 9:00-17:00"}, "hotline": "12345"}
    }
    with pytest.raises(ConfigRefused, match=r"settings: kiosk\.hotline: String should match"):
        check_settings({"kiosk": {"hotline": "call the bank"}})
