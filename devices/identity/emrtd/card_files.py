"""Builds LDS files for the virtual eMRTD: EF.COM, DG1, DG2 and a signed EF.SOD."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import tlv
from .lds import DG_TAGS
from .sod import (
    HASH_OIDS,
    OID_CONTENT_TYPE,
    OID_LDS_SECURITY_OBJECT,
    OID_MESSAGE_DIGEST,
    OID_SIGNED_DATA,
    encode_oid,
)

OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_SM3 = "1.2.156.10197.1.401"  # a real hash algorithm outside ICAO's list, for fault tests
IMAGE_DATA_TYPES = {"jpeg": 0, "jp2": 1}


def _seq(*parts: bytes) -> bytes:
    return tlv.encode(0x30, b"".join(parts))


def _set(*parts: bytes) -> bytes:
    return tlv.encode(0x31, b"".join(sorted(parts)))  # DER: SET OF sorted by encoding


def _int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return tlv.encode(0x02, raw)


def _algorithm(oid: str, null_params: bool = True) -> bytes:
    return _seq(encode_oid(oid), b"\x05\x00" if null_params else b"")


def ef_com(data_groups: tuple[int, ...] = (1, 2)) -> bytes:
    """EF.COM for LDS 1.7, Unicode 4.0.0."""
    tags = bytes(DG_TAGS[n] for n in data_groups)
    return tlv.encode(0x60, tlv.encode_many((0x5F01, b"0107"), (0x5F36, b"040000"), (0x5C, tags)))


def dg1(mrz_lines: list[str]) -> bytes:
    """DG1: the MRZ lines concatenated in 5F1F."""
    return tlv.encode(0x61, tlv.encode(0x5F1F, "".join(mrz_lines).encode("ascii")))


def facial_record(image: bytes, image_format: str, width: int, height: int) -> bytes:
    """An ISO/IEC 19794-5 facial record with one face and no feature points."""
    info = (
        (0).to_bytes(2, "big")  # feature points
        + bytes([0, 0, 0])  # gender, eye colour, hair colour: unspecified
        + bytes(3)  # property mask
        + bytes(2)  # expression
        + bytes(3)  # pose angles
        + bytes(3)  # pose angle uncertainty
    )
    image_info = (
        bytes([1, IMAGE_DATA_TYPES[image_format]])  # full frontal; JPEG / JPEG 2000
        + width.to_bytes(2, "big")
        + height.to_bytes(2, "big")
        + bytes([1, 2])  # colour space sRGB; source: static photo from a digital camera
        + bytes(2)  # device type
        + bytes(2)  # quality
    )
    face = info + image_info + image
    block = (len(face) + 4).to_bytes(4, "big") + face
    total = 14 + len(block)
    return b"FAC\x00" + b"010\x00" + total.to_bytes(4, "big") + (1).to_bytes(2, "big") + block


def dg2(image: bytes, image_format: str, width: int, height: int) -> bytes:
    """DG2: one CBEFF biometric template holding the facial record."""
    header = tlv.encode_many(
        (0x80, b"\x01\x01"),  # ICAO header version
        (0x81, b"\x02"),  # biometric type: facial features
        (0x87, b"\x01\x01"),  # format owner: ISO/IEC JTC 1/SC 37
        (0x88, b"\x00\x08"),  # format type: face image
    )
    record = facial_record(image, image_format, width, height)
    template = tlv.encode(0x7F60, tlv.encode(0xA1, header) + tlv.encode(0x5F2E, record))
    return tlv.encode(0x75, tlv.encode(0x7F61, tlv.encode(0x02, b"\x01") + template))


@dataclass(frozen=True)
class DocumentSigner:
    """A document signer key and its self-issued certificate (test documents only)."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, country: str = "UT") -> DocumentSigner:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                x509.NameAttribute(NameOID.COMMON_NAME, "allhours test document signer"),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)


def sod(files: dict[int, bytes], signer: DocumentSigner, hash_name: str = "sha256") -> bytes:
    """EF.SOD over `files` (DG number -> content). `hash_name="sm3"` labels the hashes SM3."""
    hash_oid = OID_SM3 if hash_name == "sm3" else HASH_OIDS[hash_name]
    digest_name = "sha256" if hash_name == "sm3" else hash_name
    entries = b"".join(
        _seq(_int(n), tlv.encode(0x04, hashlib.new(digest_name, content).digest()))
        for n, content in sorted(files.items())
    )
    econtent = _seq(_int(0), _algorithm(hash_oid), _seq(entries))
    attrs = [
        _seq(encode_oid(OID_CONTENT_TYPE), _set(encode_oid(OID_LDS_SECURITY_OBJECT))),
        _seq(
            encode_oid(OID_MESSAGE_DIGEST),
            _set(tlv.encode(0x04, hashlib.sha256(econtent).digest())),
        ),
    ]
    signed_attrs = b"".join(sorted(attrs))
    signature = signer.key.sign(tlv.encode(0x31, signed_attrs), ec.ECDSA(hashes.SHA256()))
    cert_der = signer.certificate.public_bytes(serialization.Encoding.DER)
    signer_info = _seq(
        _int(1),
        _seq(signer.certificate.issuer.public_bytes(), _int(signer.certificate.serial_number)),
        _algorithm(HASH_OIDS["sha256"]),
        tlv.encode(0xA0, signed_attrs),
        _algorithm(OID_ECDSA_SHA256, null_params=False),
        tlv.encode(0x04, signature),
    )
    signed_data = _seq(
        _int(3),
        _set(_algorithm(HASH_OIDS["sha256"])),
        _seq(encode_oid(OID_LDS_SECURITY_OBJECT), tlv.encode(0xA0, tlv.encode(0x04, econtent))),
        tlv.encode(0xA0, cert_der),
        _set(signer_info),
    )
    return tlv.encode(0x77, _seq(encode_oid(OID_SIGNED_DATA), tlv.encode(0xA0, signed_data)))


def corrupt_first_inner_length(content: bytes) -> bytes:
    """Make the first object inside an LDS file claim more bytes than it has (same size)."""
    _outer, pos = tlv.read_tag(content, 0)
    _length, pos = tlv.read_length(content, pos)
    _inner, pos = tlv.read_tag(content, pos)
    first = content[pos]
    width = first & 0x7F if first & 0x80 else 0
    out = bytearray(content)
    if width:
        out[pos + 1 : pos + 1 + width] = b"\xff" * width
    else:
        out[pos] = 0x7F
    return bytes(out)
