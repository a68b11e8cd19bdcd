"""Chip Authentication over pyscard, pcscd and vpcd: the genuine chip reads, a copy does not."""

from __future__ import annotations

import pytest
from emrtd_support import MRZ, passport_photo

from devices.identity.emrtd.errors import ChipAuthenticationFailed
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import CardFaults, VirtualEmrtd
from terminal.flows.identity import card_error_key

KEY = MrzKey.from_mrz(MRZ)


def test_a_genuine_chip_passes_chip_authentication(insert_card):
    photo = passport_photo("jpeg")
    insert_card(VirtualEmrtd(MRZ, photo, chip_authentication="aes"))
    reader = EmrtdReader(mrz_key=KEY)

    document = reader.read(timeout_s=10)

    assert document.photo == photo and document.authenticity == "chip_verified"
    report = reader.last_read_report
    assert report["chip_authentication"] == "passed (id-CA-ECDH-AES-CBC-CMAC-128)"
    assert report["sod"]["verified_data_groups"] == [1, 2, 14]


def test_a_cloned_chip_is_refused_and_the_genuine_one_then_reads(insert_card):
    faults = CardFaults(cloned_chip=True)
    link = insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), chip_authentication="aes",
                                    faults=faults))  # fmt: skip
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(ChipAuthenticationFailed) as caught:
        reader.read(timeout_s=10)

    assert card_error_key(caught.value) == "card.error.ChipAuthenticationFailed"
    assert reader.last_read_report["result"] == "ChipAuthenticationFailed"
    link.insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), chip_authentication="aes"))
    assert reader.read(timeout_s=10).authenticity == "chip_verified"


@pytest.mark.parametrize("scheme", ["ecdsa", "rsa"])
def test_active_authentication_passes_the_genuine_chip_and_refuses_its_clone(insert_card, scheme):
    link = insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), active_authentication=scheme))
    reader = EmrtdReader(mrz_key=KEY)

    assert reader.read(timeout_s=10).authenticity == "chip_verified"
    assert reader.last_read_report["active_authentication"].startswith("passed")

    link.remove_card()
    link.insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), active_authentication=scheme,
                                  faults=CardFaults(cloned_chip=True)))  # fmt: skip
    with pytest.raises(ChipAuthenticationFailed):
        reader.read(timeout_s=10)
