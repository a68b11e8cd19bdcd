"""EF.SOD (ICAO Doc 9303 Part 10 §4.6.2, Part 11 §5): CMS SignedData over the LDS hashes.

Parsed with the same strict TLV walker as the rest of the LDS (DER is a subset of BER):
ContentInfo(signedData) -> SignedData -> encapContentInfo(ldsSecurityObject) ->
LDSSecurityObject {version, hashAlgorithm, dataGroupHashValues}. The signer's signature over
the signed attributes is checked with the document signer certificate carried in the SOD;
that certificate is NOT chained to a country signing CA here (no CSCA master list on the
terminal), so a valid signature proves integrity, not issuance.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from . import tlv
from .errors import CorruptData, UnsupportedDocument
from .lds import EF_SOD

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"

HASH_ALGORITHMS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
HASH_OIDS = {name: oid for oid, name in HASH_ALGORITHMS.items()}
# Signature algorithm OID -> (key kind, hash name or None for "use the signer's digest").
SIGNATURE_ALGORITHMS = {
    "1.2.840.10045.4.1": ("ec", "sha1"),
    "1.2.840.10045.4.3.1": ("ec", "sha224"),
    "1.2.840.10045.4.3.2": ("ec", "sha256"),
    "1.2.840.10045.4.3.3": ("ec", "sha384"),
    "1.2.840.10045.4.3.4": ("ec", "sha512"),
    "1.2.840.113549.1.1.1": ("rsa", None),
    "1.2.840.113549.1.1.5": ("rsa", "sha1"),
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
}
_CRYPTO_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
                  "sha384": hashes.SHA384, "sha512": hashes.SHA512}  # fmt: skip


def decode_oid(raw: bytes) -> str:
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


def _expect(item: tlv.Tlv, tag: int, what: str) -> tlv.Tlv:
    if item.tag != tag:
        raise CorruptData(f"EF.SOD: {what} should have tag {tag:X}, found {item.tag:X}")
    return item


def _oid(item: tlv.Tlv, what: str) -> str:
    return decode_oid(_expect(item, 0x06, what).value)


def _algorithm(item: tlv.Tlv, what: str) -> str:
    parts = _expect(item, 0x30, what).children()
    if not parts:
        raise CorruptData(f"EF.SOD: {what} is empty")
    return _oid(parts[0], what)


@dataclass(frozen=True)
class SecurityObject:
    """What EF.SOD says about the data groups, and what its signer signed."""

    hash_algorithm: str  # hashlib name
    hashes: dict[int, bytes] = field(repr=False)
    econtent: bytes = field(repr=False)
    signer_digest: str | None = None
    signature_algorithm: str | None = None  # OID
    signed_attributes: bytes | None = field(default=None, repr=False)  # DER, tagged SET
    signature: bytes = field(default=b"", repr=False)
    certificate: bytes | None = field(default=None, repr=False)


def parse_sod(data: bytes) -> SecurityObject:
    """Parse EF.SOD down to the LDS security object; UnsupportedDocument for unknown hashes."""
    try:
        return _parse_sod(data)
    except (IndexError, ValueError) as exc:  # a field missing where DER requires it
        raise CorruptData(f"EF.SOD structure is malformed ({type(exc).__name__})") from exc


def _parse_sod(data: bytes) -> SecurityObject:
    content_info = tlv.parse_single(data, EF_SOD.tag).child(0x30)
    parts = content_info.children()
    if len(parts) < 2 or _oid(parts[0], "contentType") != OID_SIGNED_DATA:
        raise CorruptData("EF.SOD does not hold CMS SignedData")
    signed = _expect(parts[1], 0xA0, "content").child(0x30).children()
    if len(signed) < 4:
        raise CorruptData("EF.SOD SignedData has too few fields")
    encap = _expect(signed[2], 0x30, "encapContentInfo").children()
    if len(encap) != 2 or _oid(encap[0], "eContentType") != OID_LDS_SECURITY_OBJECT:
        raise CorruptData("EF.SOD does not encapsulate an LDS security object")
    econtent = _expect(encap[1], 0xA0, "eContent").child(0x04).value
    lso = tlv.parse_single(econtent, 0x30).children()
    if len(lso) < 3:
        raise CorruptData("LDS security object has too few fields")
    hash_oid = _algorithm(lso[1], "hashAlgorithm")
    hash_name = HASH_ALGORITHMS.get(hash_oid)
    if hash_name is None:
        raise UnsupportedDocument(
            f"EF.SOD uses hash algorithm {hash_oid}, not one of SHA-1/224/256/384/512"
        )
    values: dict[int, bytes] = {}
    for entry in _expect(lso[2], 0x30, "dataGroupHashValues").children():
        number, digest = _expect(entry, 0x30, "DataGroupHash").children()
        values[int.from_bytes(_expect(number, 0x02, "dataGroupNumber").value, "big")] = _expect(
            digest, 0x04, "dataGroupHashValue"
        ).value
    certificate = None
    signer_items = signed[-1]
    for item in signed[3:-1]:
        if item.tag == 0xA0 and item.children():
            certificate = item.children()[0].encode()
    signer_infos = _expect(signer_items, 0x31, "signerInfos").children()
    if not signer_infos:
        return SecurityObject(hash_name, values, econtent, certificate=certificate)
    fields = _expect(signer_infos[0], 0x30, "SignerInfo").children()
    signer_digest = HASH_ALGORITHMS.get(_algorithm(fields[2], "digestAlgorithm"))
    attrs = fields[3] if len(fields) > 3 and fields[3].tag == 0xA0 else None
    rest = fields[4:] if attrs is not None else fields[3:]
    if len(rest) < 2:
        raise CorruptData("EF.SOD SignerInfo lacks its signature")
    return SecurityObject(
        hash_algorithm=hash_name,
        hashes=values,
        econtent=econtent,
        signer_digest=signer_digest,
        signature_algorithm=_algorithm(rest[0], "signatureAlgorithm"),
        signed_attributes=tlv.encode(0x31, attrs.value) if attrs is not None else None,
        signature=_expect(rest[1], 0x04, "signature").value,
        certificate=certificate,
    )


def verify_hashes(sod: SecurityObject, files: dict[int, bytes]) -> list[int]:
    """Compare each read data group with its hash; CorruptData on the first mismatch."""
    checked = []
    for number, content in sorted(files.items()):
        expected = sod.hashes.get(number)
        if expected is None:
            raise CorruptData(f"EF.SOD holds no hash for DG{number}")
        actual = hashlib.new(sod.hash_algorithm, content).digest()
        if not hmac.compare_digest(actual, expected):
            raise CorruptData(f"DG{number} does not match its {sod.hash_algorithm} hash in EF.SOD")
        checked.append(number)
    return checked


def verify_signature(sod: SecurityObject) -> str:
    """'valid' when the signer's signature holds; CorruptData when it is wrong.

    Returns 'unchecked: <reason>' when the SOD carries no certificate or uses an algorithm
    this reader does not verify (the data-group hashes are still checked).
    """
    if sod.certificate is None or sod.signed_attributes is None or not sod.signature:
        return "unchecked: no signer certificate or signed attributes"
    kind_hash = SIGNATURE_ALGORITHMS.get(sod.signature_algorithm or "")
    if kind_hash is None or sod.signer_digest is None:
        return f"unchecked: signature algorithm {sod.signature_algorithm}"
    kind, hash_name = kind_hash
    hash_name = hash_name or sod.signer_digest
    digest = _message_digest(sod.signed_attributes)
    if digest != hashlib.new(sod.signer_digest, sod.econtent).digest():
        raise CorruptData("EF.SOD messageDigest does not match the LDS security object")
    try:
        key = x509.load_der_x509_certificate(sod.certificate).public_key()
        algorithm = _CRYPTO_HASHES[hash_name]()
        if kind == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sod.signature, sod.signed_attributes, ec.ECDSA(algorithm))
        elif kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sod.signature, sod.signed_attributes, padding.PKCS1v15(), algorithm)
        else:
            return "unchecked: certificate key does not fit the signature algorithm"
    except InvalidSignature as exc:
        raise CorruptData("EF.SOD signature does not verify with its signer certificate") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"unchecked: signer certificate unusable ({type(exc).__name__})"
    return "valid"


def _message_digest(signed_attributes: bytes) -> bytes:
    for attribute in tlv.parse_single(signed_attributes, 0x31).children():
        parts = _expect(attribute, 0x30, "Attribute").children()
        if len(parts) == 2 and _oid(parts[0], "attrType") == OID_MESSAGE_DIGEST:
            return _expect(parts[1], 0x31, "attrValues").child(0x04).value
    raise CorruptData("EF.SOD signed attributes lack messageDigest")
