"""`allhours identity read --emrtd --mrz "..."` over pcscd, with the SOD report."""

from __future__ import annotations

import json

import pytest
from emrtd_support import MRZ, OTHER_MRZ, passport_photo

from allhours.cli import main
from devices.identity.emrtd import card_files
from devices.identity.emrtd.issuing_state import master_list
from devices.identity.emrtd.virtual_card import VirtualEmrtd

ONE_LINE_MRZ = " ".join(MRZ.split())  # as typed in a shell: the two lines, space-separated


@pytest.fixture(scope="module")
def signer() -> card_files.DocumentSigner:
    return card_files.DocumentSigner.generate("UT", "rsa-pss")


def test_the_readme_command_reads_and_prints_the_sod_report(insert_card, signer, tmp_path, capsys):
    ml = tmp_path / "csca.ml"
    ml.write_bytes(master_list([signer.issuer]))
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=signer, pace="only",
                             chip_authentication="aes"))  # fmt: skip

    argv = ["identity", "read", "--emrtd", "--mrz", ONE_LINE_MRZ, "--master-list", str(ml)]
    assert main([*argv, "--json"]) == 0

    out = json.loads(capsys.readouterr().out)
    assert out["authenticity"] == "issuer_verified"
    assert out["number"] == "L8****2C"  # masked by the one rule (privacy/) without --show-number
    emrtd = out["emrtd"]
    assert emrtd["access"].startswith("PACE (id-PACE-ECDH-GM-AES-CBC-CMAC-128")
    assert emrtd["chip_authentication"] == "passed (id-CA-ECDH-AES-CBC-CMAC-128)"
    assert emrtd["sod"]["hash_algorithm"] == "sha256"
    assert emrtd["sod"]["verified_data_groups"] == [1, 2, 14]
    assert emrtd["sod"]["signature"] == "valid"
    assert emrtd["sod"]["signature_algorithm"] == "RSASSA-PSS (sha256, MGF1-sha256, salt 32)"
    assert emrtd["sod"]["chain"]["issuer_verified"] is True
    assert "L898902C" not in json.dumps(out)


def test_the_plain_text_output_names_the_chain(insert_card, capsys):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg")))

    assert main(["identity", "read", "--mrz", MRZ, "--timeout", "10"]) == 0

    out = capsys.readouterr().out
    assert "chip_verified" in out and "access BAC" in out
    assert "not trusted (no CSCA master list is configured)" in out


def test_a_wrong_mrz_exits_1_with_the_citizen_message(insert_card, capsys):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg")))

    assert main(["identity", "read", "--emrtd", "--mrz", OTHER_MRZ, "--json"]) == 1

    error = json.loads(capsys.readouterr().out)
    assert error["error"] == "AccessDenied"
    assert error["citizen_key"] == "card.error.AccessDenied"
    assert "Check the document number, birth date and expiry" in error["citizen_message"]


def test_a_master_list_that_is_not_one_is_a_usage_error(tmp_path, capsys):
    bogus = tmp_path / "bogus.ml"
    bogus.write_bytes(b"not a master list")

    argv = ["identity", "read", "--emrtd", "--mrz", MRZ, "--master-list", str(bogus)]
    assert main(argv) == 2

    assert "bogus.ml" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--emrtd", "--mrz", MRZ, "--crl", "x.crl"],
        ["--serial", "/dev/null", "--mrz", MRZ],
    ],
)
def test_inconsistent_options_exit_2_before_touching_a_reader(argv):
    assert main(["identity", "read", *argv]) == 2


def test_no_document_source_is_an_argparse_error():
    with pytest.raises(SystemExit) as info:
        main(["identity", "read", "--json"])
    assert info.value.code == 2
