"""EF.SOD: data-group hashes and the signer's signature are checked, each failure named."""

from __future__ import annotations

import pytest

from devices.identity.emrtd import card_files, sod, tlv
from devices.identity.emrtd.errors import CorruptData, UnsupportedDocument

DG1 = card_files.dg1(
    ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
)
DG2 = card_files.dg2(b"\xff\xd8\xff\xe0" + bytes(500), "jpeg", 10, 10)
SIGNER = card_files.DocumentSigner.generate()


def signer(scheme: str) -> card_files.DocumentSigner:
    return card_files.DocumentSigner.generate("UT", scheme)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_hashes_in_each_icao_algorithm_verify(algorithm):
    security = sod.parse_sod(card_files.sod({1: DG1, 2: DG2}, SIGNER, algorithm))
    assert security.hash_algorithm == algorithm
    assert sod.verify_hashes(security, {1: DG1, 2: DG2}) == [1, 2]
    assert sod.verify_signature(security).summary == "valid"


def test_a_changed_data_group_fails_its_hash():
    security = sod.parse_sod(card_files.sod({1: DG1, 2: DG2}, SIGNER))
    with pytest.raises(CorruptData, match="DG2 does not match its sha256 hash"):
        sod.verify_hashes(security, {1: DG1, 2: DG2[:-1] + b"\x01"})


def test_a_data_group_without_a_hash_is_corrupt():
    security = sod.parse_sod(card_files.sod({1: DG1}, SIGNER))
    with pytest.raises(CorruptData, match="no hash for DG2"):
        sod.verify_hashes(security, {1: DG1, 2: DG2})


def test_a_broken_signature_is_corrupt_data():
    raw = bytearray(card_files.sod({1: DG1, 2: DG2}, SIGNER))
    security = sod.parse_sod(bytes(raw))
    at = bytes(raw).rindex(security.signature) + len(security.signature) // 2
    raw[at] ^= 0x01
    with pytest.raises(CorruptData, match="signature does not verify"):
        sod.verify_signature(sod.parse_sod(bytes(raw)))


@pytest.mark.parametrize("scheme", ["rsa-pss", "rsa-pkcs1"])
def test_a_broken_rsa_signature_is_corrupt_data(scheme):
    raw = bytearray(card_files.sod({1: DG1}, signer(scheme)))
    signature = sod.parse_sod(bytes(raw)).signature
    raw[bytes(raw).rindex(signature) + 100] ^= 0x01
    with pytest.raises(CorruptData, match="signature does not verify"):
        sod.verify_signature(sod.parse_sod(bytes(raw)))


def test_hashes_rewritten_without_re_signing_are_caught_by_the_message_digest():
    raw = card_files.sod({1: DG1, 2: DG2}, SIGNER)
    security = sod.parse_sod(raw)
    forged_hash = bytes(32)
    real_hash = security.hashes[2]
    forged = sod.parse_sod(raw.replace(real_hash, forged_hash))
    assert forged.hashes[2] == forged_hash
    with pytest.raises(CorruptData, match="messageDigest"):
        sod.verify_signature(forged)


def test_an_unsupported_hash_algorithm_is_named():
    with pytest.raises(UnsupportedDocument, match=r"1\.2\.156\.10197\.1\.401"):
        sod.parse_sod(card_files.sod({1: DG1}, SIGNER, "sm3"))


def test_object_identifiers_round_trip():
    for oid in (sod.OID_SIGNED_DATA, sod.OID_LDS_SECURITY_OBJECT, "2.16.840.1.101.3.4.2.1"):
        assert sod.decode_oid(tlv.parse_single(sod.encode_oid(oid)).value) == oid
