"""A kiosk's passport reader from its devices file: the CSCA master lists and CRLs it names are
what `issuer_verified` rests on, read over pcscd with the virtual chip."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from emrtd_support import MRZ, passport_photo

from allhours.devices_config import DevicesConfigError, load_devices
from devices.identity.emrtd import card_files
from devices.identity.emrtd.issuing_state import CountrySigningCa, master_list
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.virtual_card import VirtualEmrtd

LOCKER = """
[locker]
[[locker.board]]
id = "main"
kind = "emulated"
channels = 2
doors = true
[[locker.compartment]]
id = "A01"
size = "S"
board = "main"
channel = 1
door = "same"
"""


def devices_file(tmp_path: Path, identity: str) -> Path:
    (tmp_path / "locker.toml").write_text(LOCKER)
    for name in ("face", "docs"):
        (tmp_path / name).mkdir()
        for i in range(12):
            frame = np.full((480, 640, 3), 90 + i, np.uint8)
            cv2.imwrite(str(tmp_path / name / f"frame_{i:03d}.png"), frame)
    path = tmp_path / "devices.toml"
    path.write_text(
        f'locker = "locker.toml"\n[identity]\nkind = "emrtd"\n{identity}\n'
        f'[face_camera]\ndevice = "{tmp_path}/face/frame_%03d.png"\nwidth = 640\nheight = 480\n'
        f'[document_camera]\ndevice = "{tmp_path}/docs/frame_%03d.png"\nwidth = 640\nheight = 480\n'
    )
    return path


@pytest.fixture(scope="module")
def signer() -> card_files.DocumentSigner:
    return card_files.DocumentSigner.generate("UT", "ecdsa")


def test_the_configured_master_list_makes_a_passport_issuer_verified(insert_card, signer, tmp_path):
    (tmp_path / "csca.ml").write_bytes(master_list([signer.issuer]))
    (tmp_path / "csca.crl").write_bytes(signer.issuer.crl())  # current, revokes nobody
    path = devices_file(tmp_path, 'master_lists = ["csca.ml"]\ncrls = ["csca.crl"]')
    reader = load_devices(path).devices.identity_reader
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=signer))

    document = reader.read(timeout_s=10, mrz_key=MrzKey.from_mrz(MRZ))

    assert document.authenticity == "issuer_verified"
    assert reader.last_read_report["sod"]["chain"]["issuer_verified"] is True


def test_a_crl_revoking_the_signer_keeps_the_passport_below_issuer_verified(
    insert_card, signer, tmp_path
):
    (tmp_path / "csca.ml").write_bytes(master_list([signer.issuer]))
    crl = signer.issuer.crl([signer.certificate.serial_number])
    (tmp_path / "csca.crl").write_bytes(crl)
    path = devices_file(tmp_path, 'master_lists = ["csca.ml"]\ncrls = ["csca.crl"]')
    reader = load_devices(path).devices.identity_reader
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=signer))

    document = reader.read(timeout_s=10, mrz_key=MrzKey.from_mrz(MRZ))

    assert document.authenticity == "chip_verified"
    assert "revoked" in reader.last_read_report["sod"]["chain"]["reason"]


def test_without_a_master_list_the_reader_never_says_issuer_verified(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="allhours.devices_config"):
        reader = load_devices(devices_file(tmp_path, "")).devices.identity_reader
    assert reader.trust is None
    # The kiosk starts, and says at start that it cannot take passports.
    assert "this terminal cannot accept passports" in caplog.text
    assert reader.diagnostics()["trusted_cscas"] == 0


@pytest.mark.parametrize(
    ("identity", "error"),
    [
        ('crls = ["csca.crl"]', "identity.crls: CRLs need the master_lists"),
        ('master_lists = "csca.ml"', "identity.master_lists: a list of file paths"),
        ('master_lists = ["missing.ml"]', "identity.master_lists: .*missing.ml"),
        ('master_lists = ["bogus.ml"]', "identity.master_lists: .*bogus.ml"),
    ],
)
def test_a_bad_trust_setting_stops_the_kiosk_naming_the_key(tmp_path, identity, error):
    (tmp_path / "bogus.ml").write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(DevicesConfigError, match=error):
        load_devices(devices_file(tmp_path, identity))


def test_a_crl_from_another_csca_is_refused_at_start(signer, tmp_path):
    (tmp_path / "csca.ml").write_bytes(master_list([signer.issuer]))
    (tmp_path / "other.crl").write_bytes(CountrySigningCa.generate("UT").crl())
    path = devices_file(tmp_path, 'master_lists = ["csca.ml"]\ncrls = ["other.crl"]')
    with pytest.raises(DevicesConfigError, match="no CSCA of the master lists signed it"):
        load_devices(path)
