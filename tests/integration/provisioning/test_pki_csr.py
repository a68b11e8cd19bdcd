"""Certificate requests a stranger crafts byte by byte (no token is needed to send one): each is
refused as a bad request, never an exception that drops the connection unanswered."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning import pki

CN = b"\x06\x03\x55\x04\x03"  # OID 2.5.4.3


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    long = n.to_bytes((n.bit_length() + 7) // 8, "big")  # DER: the shortest form
    size = bytes([n]) if n < 0x80 else bytes([0x80 | len(long)]) + long
    return bytes([tag]) + size + value


def _csr(cn_tag: int, cn: bytes, spki: bytes | None = None) -> bytes:
    """A PKCS#10 request with this common name, really signed by a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki = spki or key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name = _tlv(0x30, _tlv(0x31, _tlv(0x30, CN + _tlv(cn_tag, cn))))
    info = _tlv(0x30, _tlv(0x02, b"\x00") + name + spki + _tlv(0xA0, b""))
    signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    ecdsa_sha256 = _tlv(0x30, b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02")
    der = _tlv(0x30, info + ecdsa_sha256 + _tlv(0x03, b"\x00" + signature))
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE REQUEST-----\n" + body + b"-----END CERTIFICATE REQUEST-----\n"


UNKNOWN_KEY = _tlv(
    0x30, _tlv(0x30, b"\x06\x04\x2a\x03\x04\x05") + _tlv(0x03, b"\x00\x04" + b"A" * 64)
)


def test_a_well_formed_request_is_read():
    assert pki.common_name(pki.load_csr(_csr(0x0C, b"T0009")).subject) == "T0009"


@pytest.mark.parametrize(
    "pem",
    [_csr(0x0C, b"T\xff"), _csr(0x02, b"\x05"), _csr(0x0C, b"T0009", spki=UNKNOWN_KEY)],
    ids=["cn-not-utf-8", "cn-an-integer", "key-of-an-unknown-algorithm"],
)
def test_a_crafted_request_is_refused_as_unreadable(pem):
    with pytest.raises(pki.PkiError):
        pki.load_csr(pem)
