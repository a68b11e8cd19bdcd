"""PACE through pyscard, pcscd and vpcd: PACE-only passports read, PACE goes before BAC."""

from __future__ import annotations

import pytest
from emrtd_support import MRZ, OTHER_MRZ, passport_photo

from devices.identity.emrtd.errors import AccessDenied, ChipAuthenticationFailed
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import CardFaults, VirtualEmrtd
from terminal.flows.identity import card_error_key

KEY = MrzKey.from_mrz(MRZ)
GET_CHALLENGE, EXTERNAL_AUTHENTICATE, GENERAL_AUTHENTICATE = 0x84, 0x82, 0x86


@pytest.mark.parametrize("parameters", [13, 12])  # brainpoolP256r1, NIST P-256
def test_a_pace_only_passport_is_read(insert_card, parameters):
    photo = passport_photo("jpeg")
    card = VirtualEmrtd(MRZ, photo, pace="only", pace_parameters=parameters)
    insert_card(card)
    reader = EmrtdReader(mrz_key=KEY)

    document = reader.read(timeout_s=10)

    assert document.number == "L898902C" and document.photo == photo
    assert document.authenticity == "chip_verified"
    assert reader.last_read_report["access"] == (
        f"PACE (id-PACE-ECDH-GM-AES-CBC-CMAC-128, domain parameters {parameters})"
    )
    assert {ins for ins, _ in card.transcript}.isdisjoint({GET_CHALLENGE, EXTERNAL_AUTHENTICATE})


def test_pace_is_tried_before_bac_when_the_chip_offers_both(insert_card):
    card = VirtualEmrtd(MRZ, passport_photo("jpeg"), pace="also")
    insert_card(card)

    EmrtdReader(mrz_key=KEY).read(timeout_s=10)

    instructions = [ins for ins, _ in card.transcript]
    assert GENERAL_AUTHENTICATE in instructions
    assert EXTERNAL_AUTHENTICATE not in instructions


def test_a_wrong_mrz_on_a_pace_only_passport_is_access_denied(insert_card):
    card = VirtualEmrtd(MRZ, passport_photo("jpeg"), pace="only")
    insert_card(card)
    reader = EmrtdReader()

    with pytest.raises(AccessDenied) as caught:
        reader.read(timeout_s=10, mrz_key=MrzKey.from_mrz(OTHER_MRZ))

    assert "6300" in str(caught.value)
    assert card_error_key(caught.value) == "card.error.AccessDenied"
    assert not card.authenticated
    assert reader.read(timeout_s=10, mrz_key=KEY).number == "L898902C"


def test_pace_then_chip_authentication_reads_and_a_clone_is_refused(insert_card):
    link = insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), pace="only",
                                    chip_authentication="aes"))  # fmt: skip
    reader = EmrtdReader(mrz_key=KEY)

    assert reader.read(timeout_s=10).authenticity == "chip_verified"
    assert reader.last_read_report["chip_authentication"].startswith("passed")

    clone = VirtualEmrtd(MRZ, passport_photo("jpeg"), pace="only", chip_authentication="aes",
                         faults=CardFaults(cloned_chip=True))  # fmt: skip
    link.remove_card()
    link.insert_card(clone)
    with pytest.raises(ChipAuthenticationFailed):
        reader.read(timeout_s=10)
