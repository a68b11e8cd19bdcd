"""Document-signer signatures in each ICAO scheme are verified, or never called valid."""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from devices.identity.emrtd import card_files, cms, signatures, sod, tlv
from devices.identity.emrtd.errors import CorruptData
from devices.identity.emrtd.issuing_state import (
    algorithm_id,
    integer,
    pss_algorithm_id,
    seq,
)

DG1 = card_files.dg1(
    ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
)
MESSAGE = b"signed attributes of an EF.SOD"


@functools.cache
def signer(scheme: str) -> card_files.DocumentSigner:
    return card_files.DocumentSigner.generate("UT", scheme)


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _algorithm(der: bytes) -> cms.AlgorithmId:
    return cms.algorithm(tlv.parse_single(der), "test")


@pytest.mark.parametrize(
    ("scheme", "name"),
    [
        ("ecdsa", "ECDSA with sha256"),
        ("rsa-pkcs1", "RSA PKCS#1 v1.5 with sha256"),
        ("rsa-pss", "RSASSA-PSS (sha256, MGF1-sha256, salt 32)"),
    ],
)
def test_an_sod_signed_in_each_scheme_verifies_and_names_its_algorithm(scheme, name):
    security = sod.parse_sod(card_files.sod({1: DG1}, signer(scheme)))

    check = sod.verify_signature(security)

    assert check.valid and check.summary == "valid"
    assert check.algorithm == name


def test_pss_parameters_omitted_take_the_rfc_4055_defaults():
    key = rsa_key()
    pad = padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=20)
    signature = key.sign(MESSAGE, pad, hashes.SHA1())
    bare = cms.AlgorithmId(signatures.OID_RSA_PSS, seq())

    assert signatures.verify(key.public_key(), bare, signature, MESSAGE) == (
        "RSASSA-PSS (sha1, MGF1-sha1, salt 20)"
    )


def test_pss_with_sha512_and_a_64_byte_salt_is_read_from_its_parameters():
    key = rsa_key()
    pad = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
    signature = key.sign(MESSAGE, pad, hashes.SHA512())
    params = _algorithm(pss_algorithm_id("sha512", 64))

    assert "sha512" in signatures.verify(key.public_key(), params, signature, MESSAGE)
    # The same signature under the default salt length must fail: the parameters matter.
    with pytest.raises(signatures.InvalidSignature):
        signatures.verify(key.public_key(), _algorithm(pss_algorithm_id("sha512", 20)),
                          signature, MESSAGE)  # fmt: skip


def test_pss_with_a_foreign_mask_generation_function_is_unsupported():
    foreign = seq(tlv.encode(0xA1, seq(cms.encode_oid("1.2.3.4"), algorithm_id("1.3.14.3.2.26"))))
    algorithm = cms.AlgorithmId(signatures.OID_RSA_PSS, foreign)
    with pytest.raises(signatures.UnsupportedSignature, match="not MGF1"):
        signatures.verify(rsa_key().public_key(), algorithm, b"\x00" * 256, MESSAGE)


def test_pss_with_a_trailer_other_than_bc_is_unsupported():
    odd = seq(tlv.encode(0xA3, integer(2)))
    with pytest.raises(signatures.UnsupportedSignature, match="trailer"):
        signatures.pss_parameters(odd)


def test_plain_ecdsa_signatures_of_bsi_tr_03111_verify():
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    r, s = decode_dss_signature(key.sign(MESSAGE, ec.ECDSA(hashes.SHA256())))
    plain = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    algorithm = cms.AlgorithmId("0.4.0.127.0.7.1.1.4.1.3")

    assert signatures.verify(key.public_key(), algorithm, plain, MESSAGE) == (
        "ECDSA (plain) with sha256"
    )
    with pytest.raises(signatures.InvalidSignature):
        signatures.verify(key.public_key(), algorithm, plain[:-1] + b"\x00", MESSAGE)


def test_an_unknown_signature_algorithm_leaves_the_sod_only_read():
    raw = card_files.sod({1: DG1}, signer("ecdsa"))
    ecdsa_sha256 = cms.encode_oid("1.2.840.10045.4.3.2")
    unknown = cms.encode_oid("1.2.156.10197.1.501")  # SM2 with SM3
    forged = raw.replace(ecdsa_sha256, unknown)

    check = sod.verify_signature(sod.parse_sod(forged))

    assert not check.valid
    assert check.summary == "unchecked: signature algorithm 1.2.156.10197.1.501"


def test_a_key_that_does_not_fit_the_algorithm_is_not_called_valid():
    ecdsa_key = signer("ecdsa").key.public_key()
    algorithm = _algorithm(pss_algorithm_id())
    with pytest.raises(signatures.UnsupportedSignature, match="not RSA"):
        signatures.verify(ecdsa_key, algorithm, b"\x00" * 64, MESSAGE)


def test_an_sod_without_its_signer_certificate_is_unchecked():
    security = sod.parse_sod(card_files.sod({1: DG1}, signer("ecdsa")))
    stripped = cms.SignedData(security.signed.content_type, security.econtent, (),
                              security.signed.signer)  # fmt: skip

    check = sod.verify_signature(sod.SecurityObject("sha256", security.hashes, stripped))

    assert check.summary == "unchecked: the SOD carries no certificate for its signer"


def test_a_wrong_content_type_attribute_is_corrupt():
    raw = card_files.sod({1: DG1}, signer("ecdsa"))
    lds_oid = cms.encode_oid(sod.OID_LDS_SECURITY_OBJECT)
    at = raw.rindex(lds_oid)  # the signed contentType attribute comes last
    forged = raw[:at] + cms.encode_oid("2.23.136.1.1.9") + raw[at + len(lds_oid) :]
    with pytest.raises(CorruptData, match="contentType"):
        sod.verify_signature(sod.parse_sod(forged))
