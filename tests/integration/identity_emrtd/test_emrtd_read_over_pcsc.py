"""A passport chip read end to end: pyscard -> pcscd -> vpcd -> our virtual eMRTD."""

from __future__ import annotations

import io
from datetime import date

import face_recognition
import numpy as np
import pytest
from emrtd_support import MRZ, passport_photo
from PIL import Image

from demo_support.samples import sample_bytes
from devices.identity.emrtd.errors import ReaderFault
from devices.identity.emrtd.lds import JP2_MAGIC
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.pcscd import PcscdHost, PcscdUnavailable
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import VirtualEmrtd
from devices.identity.port import NoDocument
from terminal.flows.identity import card_error_key

KEY = MrzKey.from_mrz(MRZ)


def _encoding(image_bytes: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(image_bytes)) as image:
        pixels = np.asarray(image.convert("RGB"))
    found = face_recognition.face_encodings(pixels)
    assert len(found) == 1, "expected exactly one face"
    return found[0]


@pytest.mark.parametrize("image_format", ["jpeg", "jp2"])
def test_passport_is_read_verified_and_its_photo_matches_the_holder(insert_card, image_format):
    photo = passport_photo(image_format)
    insert_card(VirtualEmrtd(MRZ, photo, photo_format=image_format))
    reader = EmrtdReader()  # no reader named: finds the vpcd reader holding the card

    document = reader.read(timeout_s=10, mrz_key=KEY)

    assert document.document_type == "passport"
    assert document.name == "ERIKSSON ANNA MARIA"
    assert document.number == "L898902C"
    assert document.birth_date == date(1974, 8, 12)
    assert document.expiry_date == date(2032, 4, 15)
    assert (document.sex, document.nationality, document.issuer) == ("F", "UTO", "UTO")
    assert document.photo == photo
    if image_format == "jp2":
        assert document.photo.startswith(JP2_MAGIC)
    assert document.authenticity == "chip_verified"
    report = reader.last_read_report
    assert report["reader"].startswith("Virtual PCD")
    assert report["result"] == "ok"
    assert report["sod"] == {
        "hash_algorithm": "sha256",
        "verified_data_groups": [1, 2],
        "signature": "valid",
        "signature_algorithm": "ECDSA with sha256",
        "chain": {
            "issuer_verified": False,
            "signer": "CN=allhours test document signer,C=UT",
            "csca": None,
            "reason": "no CSCA master list is configured",
        },
    }
    assert report["sizes"]["EF.COM"] == 22 and report["sizes"]["DG2"] > 20_000
    assert {"select", "bac", "EF.COM", "DG1", "DG2", "EF.SOD"} <= set(report["steps"])
    assert "L898902C" not in repr(document)

    chip_face = _encoding(document.photo)
    same_person = face_recognition.face_distance([chip_face], _encoding(sample_bytes("obama2")))
    other_person = face_recognition.face_distance([chip_face], _encoding(sample_bytes("biden")))
    assert same_person[0] < 0.5, f"same person distance {same_person[0]:.3f}"
    assert other_person[0] >= 0.5, f"different person distance {other_person[0]:.3f}"


def test_short_apdus_read_the_same_bytes_as_extended_ones(insert_card):
    photo = passport_photo("jpeg")
    insert_card(VirtualEmrtd(MRZ, photo))
    short = EmrtdReader(mrz_key=KEY, chunk_size=0xDF)

    document = short.read(timeout_s=10)

    assert document.photo == photo
    assert short.last_read_report["chunk"] == 0xDF
    assert short.last_read_report["apdus"] > 130  # 29 KB in 223-byte protected reads


def test_named_reader_and_diagnostics_list_the_vpcd_reader(insert_card, pcsc_host):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg")))
    reader = EmrtdReader(pcsc_host.reader_name, mrz_key=KEY)

    reader.read(timeout_s=10)

    facts = reader.diagnostics()
    assert facts["pcsc"] == "ok"
    assert pcsc_host.reader_name in facts["readers"]
    assert facts["last_result"] == "ok" and facts["last_error"] is None


def test_nothing_on_the_reader_is_no_document(pcsc_host):
    reader = EmrtdReader(pcsc_host.reader_name, mrz_key=KEY)

    with pytest.raises(NoDocument) as caught:
        reader.read(timeout_s=0.3)

    assert card_error_key(caught.value) == "card.error.NoDocument"
    assert reader.diagnostics()["last_error"].startswith("NoDocument")


def test_a_photo_past_32_kib_crosses_pcscd_with_odd_ins_reads(insert_card):
    photo = passport_photo("jpeg", size=(480, 600), quality=90)
    assert len(photo) > 0x8000
    card = VirtualEmrtd(MRZ, photo)
    insert_card(card)

    document = EmrtdReader(mrz_key=KEY).read(timeout_s=10)

    assert document.photo == photo
    assert (0xB1, 0x9000) in card.transcript


def test_a_second_pcscd_user_waits_for_the_machine_wide_lock(pcsc_host):
    second = PcscdHost(lock_timeout_s=0.3)

    with pytest.raises(PcscdUnavailable, match=r"allhours-pcsc\.lock stayed locked"):
        second.start()

    assert second.process is None


def test_a_reader_name_that_matches_nothing_is_a_reader_fault(pcsc_host):
    reader = EmrtdReader("No Such Reader", mrz_key=KEY)

    with pytest.raises(ReaderFault, match="no PC/SC reader matches No Such Reader"):
        reader.read(timeout_s=0.2)
