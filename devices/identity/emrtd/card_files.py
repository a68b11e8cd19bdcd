"""Builds LDS files for the virtual eMRTD: EF.COM, DG1, DG2 and a signed EF.SOD."""

from __future__ import annotations

import hashlib

from . import tlv
from .issuing_state import DocumentSigner, algorithm_id, integer, seq, signed_data
from .lds import DG_TAGS
from .sod import HASH_OIDS, OID_LDS_SECURITY_OBJECT

__all__ = ["DocumentSigner", "corrupt_first_inner_length", "dg1", "dg2", "ef_com", "sod"]

OID_SM3 = "1.2.156.10197.1.401"  # a real hash algorithm outside ICAO's list, for fault tests
IMAGE_DATA_TYPES = {"jpeg": 0, "jp2": 1}


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


def sod(files: dict[int, bytes], signer: DocumentSigner, hash_name: str = "sha256") -> bytes:
    """EF.SOD over `files` (DG number -> content). `hash_name="sm3"` labels the hashes SM3."""
    hash_oid = OID_SM3 if hash_name == "sm3" else HASH_OIDS[hash_name]
    digest_name = "sha256" if hash_name == "sm3" else hash_name
    entries = b"".join(
        seq(integer(n), tlv.encode(0x04, hashlib.new(digest_name, content).digest()))
        for n, content in sorted(files.items())
    )
    econtent = seq(integer(0), algorithm_id(hash_oid), seq(entries))
    return tlv.encode(0x77, signed_data(OID_LDS_SECURITY_OBJECT, econtent, signer))


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
