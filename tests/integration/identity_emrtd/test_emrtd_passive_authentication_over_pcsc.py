"""Passive authentication over pcscd: each signer scheme is verified, and only then trusted."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from emrtd_support import MRZ, passport_photo

from devices.identity.emrtd import card_files
from devices.identity.emrtd.errors import CorruptData
from devices.identity.emrtd.issuing_state import CountrySigningCa, master_list
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.trust import TrustStore, load_master_list
from devices.identity.emrtd.virtual_card import VirtualEmrtd

KEY = MrzKey.from_mrz(MRZ)


@functools.cache
def signer(scheme: str) -> card_files.DocumentSigner:
    return card_files.DocumentSigner.generate("UT", scheme)


@pytest.mark.parametrize(
    ("scheme", "algorithm"),
    [
        ("rsa-pss", "RSASSA-PSS (sha256, MGF1-sha256, salt 32)"),
        ("ecdsa", "ECDSA with sha256"),
        ("rsa-pkcs1", "RSA PKCS#1 v1.5 with sha256"),
    ],
)
def test_an_sod_signed_in_each_scheme_is_chip_verified(insert_card, scheme, algorithm):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=signer(scheme)))
    reader = EmrtdReader(mrz_key=KEY)

    document = reader.read(timeout_s=10)

    assert document.authenticity == "chip_verified"
    assert reader.last_read_report["sod"]["signature"] == "valid"
    assert reader.last_read_report["sod"]["signature_algorithm"] == algorithm


def test_a_pss_signature_over_other_data_is_refused(insert_card):
    honest = signer("rsa-pss")
    forger = card_files.DocumentSigner(
        signer("rsa-pkcs1").key, honest.certificate, "rsa-pss"
    )  # the honest certificate, another key: what a forged SOD looks like
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=forger))
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(CorruptData, match="signature does not verify"):
        reader.read(timeout_s=10)


def _trust(*cscas: CountrySigningCa) -> TrustStore:
    return TrustStore(load_master_list(master_list(list(cscas))))


def test_a_signer_under_a_listed_csca_is_issuer_verified(insert_card):
    ds = signer("rsa-pss")
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=ds))
    reader = EmrtdReader(mrz_key=KEY, trust=_trust(ds.issuer))

    document = reader.read(timeout_s=10)

    assert document.authenticity == "issuer_verified"
    chain = reader.last_read_report["sod"]["chain"]
    assert chain == {
        "issuer_verified": True,
        "signer": "CN=allhours test document signer,C=UT",
        "csca": "CN=allhours test CSCA UT,C=UT",
        "reason": None,
    }


def test_an_untrusted_signer_is_only_chip_verified(insert_card):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=signer("ecdsa")))
    other_state = CountrySigningCa.generate("UT")  # same name, not the card's CSCA
    reader = EmrtdReader(mrz_key=KEY, trust=_trust(other_state))

    document = reader.read(timeout_s=10)

    assert document.authenticity == "chip_verified"
    assert reader.last_read_report["sod"]["chain"]["issuer_verified"] is False


def test_an_expired_signer_is_only_chip_verified(insert_card):
    now = dt.datetime.now(dt.UTC)
    csca = CountrySigningCa.generate("UT")
    expired = csca.issue(
        valid_from=now - dt.timedelta(days=3000), valid_until=now - dt.timedelta(1)
    )
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg"), signer=expired))
    reader = EmrtdReader(mrz_key=KEY, trust=_trust(csca))

    document = reader.read(timeout_s=10)

    assert document.authenticity == "chip_verified"
    assert reader.last_read_report["sod"]["chain"]["reason"] == (
        "the document signer is not valid now"
    )
