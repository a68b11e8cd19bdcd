"""Each way a passport read goes wrong gives its own error, and the next citizen is served."""

from __future__ import annotations

import pytest
from emrtd_support import MRZ, OTHER_MRZ, passport_photo

from devices.identity.emrtd.errors import (
    AccessDenied,
    CardRemoved,
    CorruptData,
    SecureMessagingError,
    TlvError,
    UnsupportedDocument,
)
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import CardFaults, VirtualEmrtd
from terminal.flows.identity import card_error_key

KEY = MrzKey.from_mrz(MRZ)


def _card(**faults) -> VirtualEmrtd:
    return VirtualEmrtd(MRZ, passport_photo("jpeg"), faults=CardFaults(**faults))


@pytest.mark.parametrize("refusal", [0x6300, 0x6988])
def test_wrong_mrz_is_access_denied_and_the_right_one_then_reads(insert_card, refusal):
    card = _card(wrong_key_sw=refusal)
    insert_card(card)
    reader = EmrtdReader()

    with pytest.raises(AccessDenied) as caught:
        reader.read(timeout_s=10, mrz_key=MrzKey.from_mrz(OTHER_MRZ))

    assert f"{refusal:04X}" in str(caught.value)
    assert card_error_key(caught.value) == "card.error.AccessDenied"
    assert reader.last_read_report["result"] == "AccessDenied"
    assert not card.authenticated
    assert reader.read(timeout_s=10, mrz_key=KEY).number == "L898902C"


def test_card_pulled_mid_read_is_card_removed_and_the_next_card_reads(insert_card):
    link = insert_card(_card(pull_after_apdus=12))  # inside DG2
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(CardRemoved) as caught:
        reader.read(timeout_s=10)

    assert card_error_key(caught.value) == "card.error.CardRemoved"
    assert "DG2" in reader.last_read_report["steps"]
    assert "EF.SOD" not in reader.last_read_report["steps"]

    link.insert_card(_card())  # the citizen puts the passport back
    document = reader.read(timeout_s=10)
    assert document.photo == passport_photo("jpeg")
    assert document.authenticity == "chip_verified"


def test_wrong_mac_from_the_card_is_a_secure_messaging_error(insert_card):
    insert_card(_card(wrong_response_mac=True))
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(SecureMessagingError, match="MAC of the chip's response"):
        reader.read(timeout_s=10)


@pytest.mark.parametrize("file_name", ["DG1", "DG2", "EF.SOD"])
def test_corrupt_tlv_is_corrupt_data(insert_card, file_name):
    insert_card(_card(corrupt_tlv=file_name))
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(TlvError, match="truncated") as caught:
        reader.read(timeout_s=10)

    assert card_error_key(caught.value) == "card.error.CorruptData"  # its nearest worded type


@pytest.mark.parametrize("group", [1, 2])
def test_data_group_changed_after_signing_fails_the_sod_hash(insert_card, group):
    insert_card(_card(tamper_data_group=group))
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(CorruptData, match=f"DG{group} does not match its sha256 hash"):
        reader.read(timeout_s=10)


def test_sod_with_an_unsupported_hash_algorithm_is_unsupported_document(insert_card):
    insert_card(_card(sod_hash_algorithm="sm3"))
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(UnsupportedDocument, match=r"1\.2\.156\.10197\.1\.401"):
        reader.read(timeout_s=10)
