"""`allhours identity read --serial` against the emulated reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cnid_support import CITIZEN_NUMBER

from allhours.cli import main
from devices.identity.cnid.emulator import CnIdReaderEmulator


def test_read_prints_a_masked_number_by_default(
    emulator: CnIdReaderEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["identity", "read", "--serial", emulator.device, "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert "李华" in out
    assert CITIZEN_NUMBER not in out
    assert CITIZEN_NUMBER[:4] + "*" * 10 + CITIZEN_NUMBER[-4:] in out
    assert "chip_verified" in out
    assert "科技园" not in out  # the address too is hidden without --show-number


def test_json_with_show_number(
    emulator: CnIdReaderEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["identity", "read", "--serial", emulator.device, "--json", "--show-number"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["number"] == CITIZEN_NUMBER
    assert report["document_type"] == "cn_resident_id"
    assert report["nationality"] == "壮"
    assert report["birth_date"] == "1987-06-15"
    assert report["photo"] is None


def test_photo_format_and_size_with_a_decoder(
    emulator: CnIdReaderEmulator, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "unit" / "identity_cnid"))
    argv = ["identity", "read", "--serial", emulator.device, "--json"]
    argv += ["--wlt-decoder", "cnid_wlt_plugin:GreyPngDecoder"]
    assert main(argv) == 0
    photo = json.loads(capsys.readouterr().out)["photo"]
    assert photo["format"] == "png" and photo["bytes"] > 0


def test_a_read_error_exits_1_with_the_reason(
    emulator: CnIdReaderEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.set_fault("card_auth_failed")
    assert main(["identity", "read", "--serial", emulator.device, "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert "CardAuthFailed" in err and "00 00 31" in err
    assert "could not be verified" in err


def test_no_card_exits_1_in_json(
    emulator: CnIdReaderEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.remove_card()
    argv = ["identity", "read", "--serial", emulator.device, "--timeout", "0.2", "--json"]
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "CardNotFound"


def test_usage_errors_exit_2(emulator: CnIdReaderEmulator, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["identity", "read"])
    assert info.value.code == 2
    assert main(["identity", "read", "--serial", emulator.device, "--mrz-doc", "X"]) == 2
    assert main(["identity", "read", "--serial", emulator.device, "--wlt-decoder", "nope"]) == 2
    assert main(["identity", "read", "--serial", emulator.device, "--timeout", "0"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--emrtd"],
        ["--emrtd", "--mrz-doc", "L898902C3", "--mrz-birth", "740812"],
        ["--emrtd", "--mrz-doc", "L898902C3", "--mrz-birth", "740812", "--mrz-expiry", "1204"],
        ["--mrz", "P<UTO"],
        ["--mrz", "P<UTO", "--mrz-doc", "L898902C3"],
    ],
)
def test_emrtd_usage_errors_exit_2_before_touching_a_reader(argv: list[str]) -> None:
    assert main(["identity", "read", *argv]) == 2


def test_as_a_subprocess(emulator: CnIdReaderEmulator) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "allhours.cli", "identity", "read", "--serial", emulator.device],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "李华" in done.stdout and CITIZEN_NUMBER not in done.stdout
