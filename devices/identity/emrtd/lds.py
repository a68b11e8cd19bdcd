"""LDS 1.7 files (ICAO Doc 9303 Part 10): EF.COM, DG1 (MRZ) and DG2 (face), parsed strictly.

DG2 is a CBEFF biometric information group template 7F61 holding templates 7F60, each a
header A1 and a biometric data block 5F2E (or 7F2E). The block is an ISO/IEC 19794-5
facial record: 'FAC\\0', version, lengths, then per face a 20-byte information block, 8-byte
feature points and a 12-byte image information block, followed by the JPEG or JPEG 2000
image itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import tlv
from .errors import CorruptData, UnsupportedDocument
from .mrz import MrzData, MrzError, parse_mrz

AID = bytes.fromhex("A0000002471001")  # the LDS1 eMRTD application


@dataclass(frozen=True)
class LdsFile:
    """Where an LDS file lives and the tag its content starts with."""

    name: str
    fid: int
    tag: int


EF_COM = LdsFile("EF.COM", 0x011E, 0x60)
DG1 = LdsFile("DG1", 0x0101, 0x61)
DG2 = LdsFile("DG2", 0x0102, 0x75)
EF_SOD = LdsFile("EF.SOD", 0x011D, 0x77)
DG14 = LdsFile("DG14", 0x010E, 0x6E)  # SecurityInfos for Chip Authentication
DG15 = LdsFile("DG15", 0x010F, 0x6F)  # the Active Authentication public key

# LDS tag of each data group (Doc 9303 Part 10 table 34), and back.
DG_TAGS = {1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68, 9: 0x69,
           10: 0x6A, 11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70}  # fmt: skip
DG_BY_TAG = {tag: number for number, tag in DG_TAGS.items()}

JPEG_MAGIC = b"\xff\xd8\xff"
JP2_MAGIC = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_MAGIC = b"\xff\x4f\xff\x51"
IMAGE_TYPES = {0: "jpeg", 1: "jp2"}  # ISO/IEC 19794-5 image data type


@dataclass(frozen=True)
class EfCom:
    lds_version: str
    unicode_version: str
    data_groups: tuple[int, ...]


def parse_ef_com(data: bytes) -> EfCom:
    """EF.COM: LDS version 5F01, Unicode version 5F36, tag list 5C."""
    root = tlv.parse_single(data, EF_COM.tag)
    version = root.find(0x5F01)
    unicode = root.find(0x5F36)
    tags = root.child(0x5C).value
    unknown = [t for t in tags if t not in DG_BY_TAG]
    if unknown:
        raise CorruptData(f"EF.COM lists unknown data-group tags {bytes(unknown).hex()}")
    return EfCom(
        _ascii(version.value) if version else "",
        _ascii(unicode.value) if unicode else "",
        tuple(DG_BY_TAG[t] for t in tags),
    )


def _ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CorruptData("a text field of the chip is not ASCII") from exc


def parse_dg1(data: bytes) -> MrzData:
    """DG1: the MRZ (5F1F) with every check digit verified."""
    root = tlv.parse_single(data, DG1.tag)
    try:
        return parse_mrz(_ascii(root.child(0x5F1F).value))
    except MrzError as exc:
        raise CorruptData(f"DG1 MRZ is invalid: {exc}") from exc


@dataclass(frozen=True)
class FaceImage:
    """The face image stored in DG2, as encoded on the chip."""

    data: bytes = field(repr=False)
    format: str  # "jpeg" | "jp2"
    width: int
    height: int


def parse_dg2(data: bytes) -> FaceImage:
    """DG2: the first face image of the first biometric template."""
    group = tlv.parse_single(data, DG2.tag).child(0x7F61)
    template = group.child(0x7F60)
    block = template.find(0x5F2E) or template.find(0x7F2E)
    if block is None:
        raise CorruptData("DG2 template 7F60 holds no biometric data block (5F2E or 7F2E)")
    return parse_facial_record(block.value)


def _u(raw: bytes, pos: int, size: int) -> int:
    return int.from_bytes(raw[pos : pos + size], "big")


def parse_facial_record(record: bytes) -> FaceImage:
    """The first image of an ISO/IEC 19794-5 facial record."""
    if len(record) < 14 + 20 + 12:
        raise CorruptData(f"facial record of {len(record)} bytes is shorter than its headers")
    if record[:4] != b"FAC\x00":
        raise UnsupportedDocument("DG2 biometric block is not an ISO/IEC 19794-5 facial record")
    if _u(record, 8, 4) != len(record):
        raise CorruptData(
            f"facial record declares {_u(record, 8, 4)} bytes but holds {len(record)}"
        )
    if _u(record, 12, 2) < 1:
        raise CorruptData("facial record holds no face image")
    pos = 14
    block_length = _u(record, pos, 4)
    points = _u(record, pos + 4, 2)
    image_at = pos + 20 + 8 * points + 12
    end = pos + block_length
    if block_length < 32 or end > len(record) or image_at > end:
        raise CorruptData("facial information block length is inconsistent")
    info = pos + 20 + 8 * points
    kind = IMAGE_TYPES.get(record[info + 1])
    if kind is None:
        raise UnsupportedDocument(f"face image data type {record[info + 1]} is not JPEG/JPEG 2000")
    image = record[image_at:end]
    if kind == "jpeg" and not image.startswith(JPEG_MAGIC):
        raise CorruptData("DG2 declares a JPEG face image but the data is not JPEG")
    if kind == "jp2" and not image.startswith((JP2_MAGIC, J2K_MAGIC)):
        raise CorruptData("DG2 declares a JPEG 2000 face image but the data is not JPEG 2000")
    return FaceImage(image, kind, _u(record, info + 2, 2), _u(record, info + 4, 2))
