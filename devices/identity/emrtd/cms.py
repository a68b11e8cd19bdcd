"""CMS SignedData (RFC 5652) as EF.SOD and ICAO master lists use it, with the strict TLV walker.

ContentInfo(signedData) -> SignedData {version, digestAlgorithms, encapContentInfo,
[0] certificates, [1] crls, signerInfos}. Only what passive authentication needs is kept:
the eContent type and bytes, the certificates, and the first SignerInfo (its identifier,
digest algorithm, signed attributes re-tagged as a SET for verification, signature
algorithm with its parameters, and signature).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import tlv
from .errors import CorruptData

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


def decode_oid(raw: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's contents."""
    if not raw or raw[-1] & 0x80:
        raise CorruptData("object identifier is empty or truncated")
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def encode_oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER (tag and length included)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv.encode(0x06, bytes(out))


def expect(item: tlv.Tlv, tag: int, what: str) -> tlv.Tlv:
    """`item` if it has `tag`; CorruptData naming `what` otherwise."""
    if item.tag != tag:
        raise CorruptData(f"{what} should have tag {tag:X}, found {item.tag:X}")
    return item


def oid_of(item: tlv.Tlv, what: str) -> str:
    """The dotted OID held by `item`."""
    return decode_oid(expect(item, 0x06, what).value)


@dataclass(frozen=True)
class AlgorithmId:
    """An AlgorithmIdentifier: OID and the DER of its parameters (None when absent)."""

    oid: str
    parameters: bytes | None = None


def algorithm(item: tlv.Tlv, what: str) -> AlgorithmId:
    """Parse an AlgorithmIdentifier SEQUENCE."""
    parts = expect(item, 0x30, what).children()
    if not parts:
        raise CorruptData(f"{what} is empty")
    params = parts[1].encode() if len(parts) > 1 else None
    if params == b"\x05\x00":
        params = None  # NULL parameters mean the same as none
    return AlgorithmId(oid_of(parts[0], what), params)


@dataclass(frozen=True)
class SignerInfo:
    """The first signer of a SignedData."""

    serial_number: int | None  # from issuerAndSerialNumber; None with a subjectKeyIdentifier
    key_identifier: bytes | None
    digest_algorithm: str  # OID
    signed_attributes: bytes | None = field(repr=False)  # DER, tagged as SET (31)
    signature_algorithm: AlgorithmId
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class SignedData:
    """What a CMS SignedData carries."""

    content_type: str
    econtent: bytes = field(repr=False)
    certificates: tuple[bytes, ...] = field(repr=False)
    signer: SignerInfo | None


def parse_signed_data(data: bytes, outer_tag: int | None, what: str) -> SignedData:
    """Parse ContentInfo(SignedData), optionally wrapped in `outer_tag` (77 for EF.SOD)."""
    try:
        return _parse(data, outer_tag, what)
    except (IndexError, ValueError) as exc:  # a field missing where DER requires it
        raise CorruptData(f"{what} structure is malformed ({type(exc).__name__})") from exc


def _parse(data: bytes, outer_tag: int | None, what: str) -> SignedData:
    if outer_tag is not None:
        content_info = tlv.parse_single(data, outer_tag).child(0x30)
    else:
        content_info = tlv.parse_single(data, 0x30)
    parts = content_info.children()
    if len(parts) < 2 or oid_of(parts[0], f"{what} contentType") != OID_SIGNED_DATA:
        raise CorruptData(f"{what} does not hold CMS SignedData")
    signed = expect(parts[1], 0xA0, f"{what} content").child(0x30).children()
    if len(signed) < 4:
        raise CorruptData(f"{what} SignedData has too few fields")
    encap = expect(signed[2], 0x30, f"{what} encapContentInfo").children()
    if len(encap) != 2:
        raise CorruptData(f"{what} encapsulates no content")
    content_type = oid_of(encap[0], f"{what} eContentType")
    econtent = expect(encap[1], 0xA0, f"{what} eContent").child(0x04).value
    certificates: tuple[bytes, ...] = ()
    for item in signed[3:-1]:
        if item.tag == 0xA0:
            certificates = tuple(child.encode() for child in item.children())
    infos = expect(signed[-1], 0x31, f"{what} signerInfos").children()
    signer = _signer_info(infos[0], what) if infos else None
    return SignedData(content_type, econtent, certificates, signer)


def _signer_info(item: tlv.Tlv, what: str) -> SignerInfo:
    fields = expect(item, 0x30, f"{what} SignerInfo").children()
    sid = fields[1]
    serial, key_id = None, None
    if sid.tag == 0x30:
        serial = int.from_bytes(expect(sid.children()[1], 0x02, "serialNumber").value, "big")
    else:
        key_id = expect(sid, 0x80, f"{what} signer identifier").value
    digest = algorithm(fields[2], f"{what} digestAlgorithm").oid
    attrs = fields[3] if len(fields) > 3 and fields[3].tag == 0xA0 else None
    rest = fields[4:] if attrs is not None else fields[3:]
    if len(rest) < 2:
        raise CorruptData(f"{what} SignerInfo lacks its signature")
    return SignerInfo(
        serial_number=serial,
        key_identifier=key_id,
        digest_algorithm=digest,
        signed_attributes=tlv.encode(0x31, attrs.value) if attrs is not None else None,
        signature_algorithm=algorithm(rest[0], f"{what} signatureAlgorithm"),
        signature=expect(rest[1], 0x04, f"{what} signature").value,
    )


def signed_attribute(signed_attributes: bytes, oid: str, what: str) -> tlv.Tlv:
    """The single value of the signed attribute `oid`; CorruptData if it is missing."""
    for attribute in tlv.parse_single(signed_attributes, 0x31).children():
        parts = expect(attribute, 0x30, f"{what} Attribute").children()
        if len(parts) == 2 and oid_of(parts[0], "attrType") == oid:
            values = expect(parts[1], 0x31, "attrValues").children()
            if len(values) != 1:
                raise CorruptData(f"{what} signed attribute {oid} must have one value")
            return values[0]
    raise CorruptData(f"{what} signed attributes lack {oid}")
