"""Signature checks for passive authentication: RSA PKCS#1 v1.5, RSASSA-PSS and ECDSA.

ICAO Doc 9303 Part 12 allows these three for CSCA, document-signer and master-list
signatures. RSASSA-PSS takes its hash, mask generation function and salt length from the
RSASSA-PSS-params of the AlgorithmIdentifier (RFC 4055 §3.1, defaults SHA-1, MGF1-SHA-1,
20, trailer 1); ECDSA signatures come DER-encoded (ANSI X9.62) or in BSI TR-03111's plain
r||s form. Anything else is `UnsupportedSignature`: the caller must then not claim the
signature held.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import tlv
from .cms import AlgorithmId, algorithm, expect
from .errors import CorruptData

__all__ = [
    "HASH_NAMES",
    "HASH_OIDS",
    "InvalidSignature",
    "PssParameters",
    "UnsupportedSignature",
    "describe",
    "pss_parameters",
    "verify",
]

HASH_NAMES = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
HASH_OIDS = {name: oid for oid, name in HASH_NAMES.items()}
_CRYPTO_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
                  "sha384": hashes.SHA384, "sha512": hashes.SHA512}  # fmt: skip

OID_RSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"

# Signature algorithm OID -> (scheme, hash name; None: the digest algorithm of the signer).
SCHEMES = {
    OID_EC_PUBLIC_KEY: ("ecdsa", None),
    "1.2.840.10045.4.1": ("ecdsa", "sha1"),
    "1.2.840.10045.4.3.1": ("ecdsa", "sha224"),
    "1.2.840.10045.4.3.2": ("ecdsa", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa", "sha512"),
    "0.4.0.127.0.7.1.1.4.1.1": ("ecdsa-plain", "sha1"),
    "0.4.0.127.0.7.1.1.4.1.2": ("ecdsa-plain", "sha224"),
    "0.4.0.127.0.7.1.1.4.1.3": ("ecdsa-plain", "sha256"),
    "0.4.0.127.0.7.1.1.4.1.4": ("ecdsa-plain", "sha384"),
    "0.4.0.127.0.7.1.1.4.1.5": ("ecdsa-plain", "sha512"),
    OID_RSA_ENCRYPTION: ("rsa-pkcs1", None),
    "1.2.840.113549.1.1.5": ("rsa-pkcs1", "sha1"),
    "1.2.840.113549.1.1.14": ("rsa-pkcs1", "sha224"),
    "1.2.840.113549.1.1.11": ("rsa-pkcs1", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa-pkcs1", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa-pkcs1", "sha512"),
    OID_RSA_PSS: ("rsa-pss", None),
}


class UnsupportedSignature(Exception):
    """The signature uses an algorithm or parameters this reader does not check."""


class PssParameters:
    """RSASSA-PSS-params: hash, MGF1 hash and salt length (RFC 4055 §3.1)."""

    def __init__(self, hash_name: str, mgf_hash: str, salt_length: int):
        self.hash_name, self.mgf_hash, self.salt_length = hash_name, mgf_hash, salt_length

    def __repr__(self) -> str:
        return f"{self.hash_name}, MGF1-{self.mgf_hash}, salt {self.salt_length}"


def _hash_name(oid: str) -> str:
    name = HASH_NAMES.get(oid)
    if name is None:
        raise UnsupportedSignature(f"hash algorithm {oid} is not SHA-1/224/256/384/512")
    return name


def pss_parameters(parameters: bytes | None) -> PssParameters:
    """Parse RSASSA-PSS-params; absent fields take their DEFAULT values."""
    hash_name, mgf_hash, salt, trailer = "sha1", "sha1", 20, 1
    if parameters is not None:
        for field in expect(tlv.parse_single(parameters), 0x30, "RSASSA-PSS-params").children():
            inner = field.children()
            if len(inner) != 1:
                raise CorruptData(f"RSASSA-PSS-params field {field.tag:X} is malformed")
            if field.tag == 0xA0:
                hash_name = _hash_name(algorithm(inner[0], "PSS hashAlgorithm").oid)
            elif field.tag == 0xA1:
                mgf = algorithm(inner[0], "PSS maskGenAlgorithm")
                if mgf.oid != OID_MGF1 or mgf.parameters is None:
                    raise UnsupportedSignature(f"PSS mask generation {mgf.oid} is not MGF1")
                mgf_hash = _hash_name(algorithm(tlv.parse_single(mgf.parameters), "MGF1 hash").oid)
            elif field.tag == 0xA2:
                salt = int.from_bytes(expect(inner[0], 0x02, "PSS saltLength").value, "big")
            elif field.tag == 0xA3:
                trailer = int.from_bytes(expect(inner[0], 0x02, "PSS trailerField").value, "big")
            else:
                raise CorruptData(f"RSASSA-PSS-params has an unknown field {field.tag:X}")
    if trailer != 1:
        raise UnsupportedSignature(f"PSS trailer field {trailer} (only 1, 0xBC, is defined)")
    return PssParameters(hash_name, mgf_hash, salt)


def describe(signature_algorithm: AlgorithmId, digest_oid: str | None = None) -> str:
    """A readable name such as 'RSASSA-PSS (sha256, MGF1-sha256, salt 32)'."""
    scheme, hash_name = _scheme(signature_algorithm, digest_oid)
    if scheme == "rsa-pss":
        return f"RSASSA-PSS ({pss_parameters(signature_algorithm.parameters)})"
    label = {"ecdsa": "ECDSA", "ecdsa-plain": "ECDSA (plain)", "rsa-pkcs1": "RSA PKCS#1 v1.5"}
    return f"{label[scheme]} with {hash_name}"


def _scheme(signature_algorithm: AlgorithmId, digest_oid: str | None) -> tuple[str, str]:
    known = SCHEMES.get(signature_algorithm.oid)
    if known is None:
        raise UnsupportedSignature(f"signature algorithm {signature_algorithm.oid}")
    scheme, hash_name = known
    if hash_name is None and scheme != "rsa-pss":
        if digest_oid is None:
            raise UnsupportedSignature(f"{signature_algorithm.oid} without a digest algorithm")
        hash_name = _hash_name(digest_oid)
    return scheme, hash_name or ""


def verify(
    public_key: object,
    signature_algorithm: AlgorithmId,
    signature: bytes,
    message: bytes,
    digest_oid: str | None = None,
) -> str:
    """Check `signature` over `message`; InvalidSignature if it fails, returns describe()."""
    scheme, hash_name = _scheme(signature_algorithm, digest_oid)
    if scheme.startswith("ecdsa"):
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise UnsupportedSignature("ECDSA signature but the signer's key is not EC")
        if scheme == "ecdsa-plain":
            signature = _plain_to_der(signature, public_key.curve.key_size)
        public_key.verify(signature, message, ec.ECDSA(_CRYPTO_HASHES[hash_name]()))
    else:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise UnsupportedSignature("RSA signature but the signer's key is not RSA")
        if scheme == "rsa-pss":
            params = pss_parameters(signature_algorithm.parameters)
            pad = padding.PSS(
                mgf=padding.MGF1(_CRYPTO_HASHES[params.mgf_hash]()),
                salt_length=params.salt_length,
            )
            public_key.verify(signature, message, pad, _CRYPTO_HASHES[params.hash_name]())
        else:
            public_key.verify(signature, message, padding.PKCS1v15(), _CRYPTO_HASHES[hash_name]())
    return describe(signature_algorithm, digest_oid)


def _plain_to_der(signature: bytes, key_bits: int) -> bytes:
    size = (key_bits + 7) // 8
    if len(signature) != 2 * size:
        raise InvalidSignature(f"plain ECDSA signature of {len(signature)} bytes, not {2 * size}")
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)


def certificate_signature_algorithm(certificate_der: bytes) -> AlgorithmId:
    """The signatureAlgorithm of an X.509 certificate (or CRL), parameters included."""
    parts = tlv.parse_single(certificate_der, 0x30).children()
    if len(parts) != 3:
        raise CorruptData("X.509 structure should have three parts")
    return algorithm(parts[1], "certificate signatureAlgorithm")


def signed_part(certificate_der: bytes) -> tuple[bytes, bytes]:
    """(tbsCertificate DER, signature bits) of a certificate or CRL."""
    parts = tlv.parse_single(certificate_der, 0x30).children()
    if len(parts) != 3:
        raise CorruptData("X.509 structure should have three parts")
    bits = expect(parts[2], 0x03, "signatureValue").value
    if not bits or bits[0] != 0:
        raise CorruptData("signatureValue has unused bits")
    return parts[0].encode(), bits[1:]
