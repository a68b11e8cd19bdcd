"""EF.SOD (ICAO Doc 9303 Part 10 §4.6.2, Part 11 §5): CMS SignedData over the LDS hashes.

Parsed with the same strict TLV walker as the rest of the LDS (DER is a subset of BER):
ContentInfo(signedData) -> SignedData -> encapContentInfo(ldsSecurityObject) ->
LDSSecurityObject {version, hashAlgorithm, dataGroupHashValues}. The signer's signature over
the signed attributes is checked with the document signer certificate carried in the SOD
(`verify_signature`); whether that signer was issued by a trusted CSCA is `trust.py`'s job.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from . import cms, signatures, tlv
from .cms import OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNED_DATA, decode_oid, encode_oid
from .errors import CorruptData, PassportNotVerified, UnsupportedDocument
from .lds import EF_SOD

__all__ = [
    "HASH_ALGORITHMS",
    "HASH_OIDS",
    "OID_CONTENT_TYPE",
    "OID_LDS_SECURITY_OBJECT",
    "OID_MESSAGE_DIGEST",
    "OID_SIGNED_DATA",
    "SecurityObject",
    "SignatureCheck",
    "decode_oid",
    "encode_oid",
    "parse_sod",
    "verify_hashes",
    "verify_signature",
]

OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
HASH_ALGORITHMS = signatures.HASH_NAMES
HASH_OIDS = signatures.HASH_OIDS


@dataclass(frozen=True)
class SecurityObject:
    """What EF.SOD says about the data groups, and what its signer signed."""

    hash_algorithm: str  # hashlib name
    hashes: dict[int, bytes] = field(repr=False)
    signed: cms.SignedData = field(repr=False)

    @property
    def econtent(self) -> bytes:
        return self.signed.econtent

    @property
    def signature(self) -> bytes:
        return self.signed.signer.signature if self.signed.signer else b""

    def signer_certificate(self) -> x509.Certificate | None:
        """The certificate in the SOD that names the signer, or None."""
        signer = self.signed.signer
        if signer is None:
            return None
        for der in self.signed.certificates:
            try:
                certificate = x509.load_der_x509_certificate(der)
            except (ValueError, x509.InvalidVersion):
                continue
            if signer.serial_number is not None:
                if certificate.serial_number == signer.serial_number:
                    return certificate
            elif _key_identifier(certificate) == signer.key_identifier:
                return certificate
        return None


def _key_identifier(certificate: x509.Certificate) -> bytes | None:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.digest


def parse_sod(data: bytes) -> SecurityObject:
    """Parse EF.SOD down to the LDS security object; UnsupportedDocument for unknown hashes."""
    signed = cms.parse_signed_data(data, EF_SOD.tag, "EF.SOD")
    if signed.content_type != OID_LDS_SECURITY_OBJECT:
        raise CorruptData("EF.SOD does not encapsulate an LDS security object")
    try:
        lso = tlv.parse_single(signed.econtent, 0x30).children()
        if len(lso) < 3:
            raise CorruptData("LDS security object has too few fields")
        hash_oid = cms.algorithm(lso[1], "hashAlgorithm").oid
        hash_name = HASH_ALGORITHMS.get(hash_oid)
        if hash_name is None:
            raise UnsupportedDocument(
                f"EF.SOD uses hash algorithm {hash_oid}, not one of SHA-1/224/256/384/512"
            )
        values: dict[int, bytes] = {}
        for entry in cms.expect(lso[2], 0x30, "dataGroupHashValues").children():
            number, digest = cms.expect(entry, 0x30, "DataGroupHash").children()
            group = int.from_bytes(cms.expect(number, 0x02, "dataGroupNumber").value, "big")
            values[group] = cms.expect(digest, 0x04, "dataGroupHashValue").value
    except (IndexError, ValueError) as exc:
        raise CorruptData(f"LDS security object is malformed ({type(exc).__name__})") from exc
    return SecurityObject(hash_name, values, signed)


def verify_hashes(sod: SecurityObject, files: dict[int, bytes]) -> list[int]:
    """Compare each read data group with its hash; PassportNotVerified on the first mismatch."""
    checked = []
    for number, content in sorted(files.items()):
        expected = sod.hashes.get(number)
        if expected is None:
            raise PassportNotVerified(f"EF.SOD holds no hash for DG{number}")
        actual = hashlib.new(sod.hash_algorithm, content).digest()
        if not hmac.compare_digest(actual, expected):
            raise PassportNotVerified(
                f"DG{number} does not match its {sod.hash_algorithm} hash in EF.SOD"
            )
        checked.append(number)
    return checked


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking the document signer's signature over EF.SOD."""

    valid: bool
    algorithm: str | None = None  # e.g. "RSASSA-PSS (sha256, MGF1-sha256, salt 32)"
    reason: str | None = None  # why it could not be checked

    @property
    def summary(self) -> str:
        return "valid" if self.valid else f"unchecked: {self.reason}"


def verify_signature(sod: SecurityObject) -> SignatureCheck:
    """Check the signer's signature: PassportNotVerified when wrong, unchecked when impossible.

    An unchecked signature (no signer certificate, an algorithm this reader does not know)
    means the data groups must not be called verified.
    """
    signer = sod.signed.signer
    if signer is None or signer.signed_attributes is None:
        return SignatureCheck(False, reason="no signer or no signed attributes")
    certificate = sod.signer_certificate()
    if certificate is None:
        return SignatureCheck(False, reason="the SOD carries no certificate for its signer")
    digest_name = HASH_ALGORITHMS.get(signer.digest_algorithm)
    if digest_name is None:
        return SignatureCheck(False, reason=f"digest algorithm {signer.digest_algorithm}")
    attrs = signer.signed_attributes
    content_type = cms.signed_attribute(attrs, OID_CONTENT_TYPE, "EF.SOD")
    if cms.oid_of(content_type, "contentType") != OID_LDS_SECURITY_OBJECT:
        raise PassportNotVerified("EF.SOD signed contentType is not the LDS security object")
    digest = cms.expect(cms.signed_attribute(attrs, OID_MESSAGE_DIGEST, "EF.SOD"), 0x04, "md")
    if not hmac.compare_digest(digest.value, hashlib.new(digest_name, sod.econtent).digest()):
        raise PassportNotVerified("EF.SOD messageDigest does not match the LDS security object")
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        return SignatureCheck(False, reason=f"signer key unusable ({type(exc).__name__})")
    try:
        name = signatures.verify(
            public_key,
            signer.signature_algorithm,
            signer.signature,
            attrs,
            signer.digest_algorithm,
        )
    except signatures.InvalidSignature as exc:
        raise PassportNotVerified(
            "EF.SOD signature does not verify with its signer certificate"
        ) from exc
    except signatures.UnsupportedSignature as exc:
        return SignatureCheck(False, reason=str(exc))
    except (ValueError, TypeError) as exc:  # a key cryptography cannot use (odd curve, size)
        return SignatureCheck(False, reason=f"signer key unusable ({type(exc).__name__})")
    return SignatureCheck(True, algorithm=name)
