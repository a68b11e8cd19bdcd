"""A test issuing state's PKI for virtual documents: CSCA, document signers, master list, CRL.

ICAO Doc 9303 Part 12: a country signing CA (CSCA) issues document signer (DS)
certificates; a DS signs each document's EF.SOD as CMS SignedData. The ICAO PKD publishes
CSCAs as a master list: CMS SignedData whose eContent (id-icao-cscaMasterList) is
CscaMasterList ::= SEQUENCE { version INTEGER, certList SET OF Certificate }, signed by a
master-list signer that a listed CSCA issued. Keys are ECDSA P-256 or RSA 2048, signing with
ECDSA, RSA PKCS#1 v1.5 or RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32). For tests only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from . import tlv
from .cms import OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNED_DATA, encode_oid
from .signatures import HASH_OIDS, OID_MGF1, OID_RSA_PSS

SCHEMES = ("ecdsa", "rsa-pkcs1", "rsa-pss")
OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_SHA256_RSA = "1.2.840.113549.1.1.11"
PSS_SALT = 32


def seq(*parts: bytes) -> bytes:
    """DER SEQUENCE of already encoded parts."""
    return tlv.encode(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """DER SET OF (members sorted by their encoding)."""
    return tlv.encode(0x31, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    """DER INTEGER."""
    return tlv.encode(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def algorithm_id(oid: str, null_params: bool = True) -> bytes:
    """DER AlgorithmIdentifier with NULL or no parameters."""
    return seq(encode_oid(oid), b"\x05\x00" if null_params else b"")


def pss_algorithm_id(hash_name: str = "sha256", salt: int = PSS_SALT) -> bytes:
    """id-RSASSA-PSS with explicit RSASSA-PSS-params."""
    hash_id = algorithm_id(HASH_OIDS[hash_name])
    params = seq(
        tlv.encode(0xA0, hash_id),
        tlv.encode(0xA1, seq(encode_oid(OID_MGF1), hash_id)),
        tlv.encode(0xA2, integer(salt)),
    )
    return seq(encode_oid(OID_RSA_PSS), params)


def _new_key(scheme: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if scheme not in SCHEMES:
        raise ValueError(f"signature scheme must be one of {SCHEMES}, not {scheme!r}")
    if scheme == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(country: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _window(
    valid_from: dt.datetime | None, valid_until: dt.datetime | None, days: int
) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    start = valid_from or now - dt.timedelta(days=1)
    return start, valid_until or start + dt.timedelta(days=days)


@dataclass(frozen=True)
class Signer:
    """A private key with its certificate and the scheme it signs with."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate
    scheme: str = "ecdsa"

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def sign(self, message: bytes) -> tuple[bytes, bytes]:
        """(signatureAlgorithm DER, signature) over `message` with SHA-256."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            signature = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
            return algorithm_id(OID_ECDSA_SHA256, null_params=False), signature
        if self.scheme == "rsa-pss":
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT)
            return pss_algorithm_id(), self.key.sign(message, pad, hashes.SHA256())
        signature = self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return algorithm_id(OID_SHA256_RSA), signature


def _build(builder: x509.CertificateBuilder, issuer: Signer | None, key, scheme: str):
    signing_key = issuer.key if issuer else key
    signing_scheme = issuer.scheme if issuer else scheme
    if isinstance(signing_key, ec.EllipticCurvePrivateKey):
        return builder.sign(signing_key, hashes.SHA256())
    if signing_scheme == "rsa-pss":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT)
        return builder.sign(signing_key, hashes.SHA256(), rsa_padding=pad)
    return builder.sign(signing_key, hashes.SHA256())


@dataclass(frozen=True)
class CountrySigningCa(Signer):
    """A CSCA: self-signed, issues document signers, master-list signers and CRLs."""

    @classmethod
    def generate(
        cls,
        country: str = "UT",
        scheme: str = "ecdsa",
        *,
        valid_from: dt.datetime | None = None,
        valid_until: dt.datetime | None = None,
    ) -> CountrySigningCa:
        key = _new_key(scheme)
        start, end = _window(valid_from, valid_until, 5475)
        name = _name(country, f"allhours test CSCA {country}")
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
        )
        return cls(key, _build(builder, None, key, scheme), scheme)

    def issue(
        self,
        scheme: str = "ecdsa",
        *,
        common_name: str = "allhours test document signer",
        valid_from: dt.datetime | None = None,
        valid_until: dt.datetime | None = None,
    ) -> DocumentSigner:
        """A document signer (or master-list signer) certificate under this CSCA."""
        key = _new_key(scheme)
        start, end = _window(valid_from, valid_until, 3650)
        country = self.certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(str(country[0].value), common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(_usage(cert_sign=False), critical=True)
        )
        return DocumentSigner(key, _build(builder, self, key, scheme), scheme, issuer=self)

    def crl(self, revoked_serials: Iterable[int] = (), *, days: int = 30) -> bytes:
        """A DER CRL listing `revoked_serials`, signed by this CSCA."""
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=days))
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(minutes=1))
                .build()
            )
        if isinstance(self.key, ec.EllipticCurvePrivateKey) or self.scheme != "rsa-pss":
            crl = builder.sign(self.key, hashes.SHA256())
        else:
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT)
            crl = builder.sign(self.key, hashes.SHA256(), rsa_padding=pad)
        return crl.public_bytes(serialization.Encoding.DER)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class DocumentSigner(Signer):
    """A document signer: signs EF.SOD. `issuer` is the CSCA that certified it."""

    issuer: CountrySigningCa | None = None

    @classmethod
    def generate(cls, country: str = "UT", scheme: str = "ecdsa") -> DocumentSigner:
        """A signer under a fresh CSCA of `country` (the CSCA signs with the same scheme)."""
        return CountrySigningCa.generate(country, scheme).issue(scheme)


def signed_data(content_type: str, econtent: bytes, signer: Signer) -> bytes:
    """ContentInfo(SignedData) over `econtent`, signed attributes and the signer's certificate."""
    attrs = b"".join(
        sorted(
            [
                seq(encode_oid(OID_CONTENT_TYPE), set_of(encode_oid(content_type))),
                seq(
                    encode_oid(OID_MESSAGE_DIGEST),
                    set_of(tlv.encode(0x04, hashlib.sha256(econtent).digest())),
                ),
            ]
        )
    )
    signature_algorithm, signature = signer.sign(tlv.encode(0x31, attrs))
    certificate = signer.certificate
    signer_info = seq(
        integer(1),
        seq(certificate.issuer.public_bytes(), integer(certificate.serial_number)),
        algorithm_id(HASH_OIDS["sha256"]),
        tlv.encode(0xA0, attrs),
        signature_algorithm,
        tlv.encode(0x04, signature),
    )
    body = seq(
        integer(3),
        set_of(algorithm_id(HASH_OIDS["sha256"])),
        seq(encode_oid(content_type), tlv.encode(0xA0, tlv.encode(0x04, econtent))),
        tlv.encode(0xA0, signer.certificate_der),
        set_of(signer_info),
    )
    return seq(encode_oid(OID_SIGNED_DATA), tlv.encode(0xA0, body))


def master_list(cscas: Sequence[CountrySigningCa], signer: Signer | None = None) -> bytes:
    """An ICAO CSCA master list of `cscas`, signed by a master-list signer of the first one."""
    if not cscas:
        raise ValueError("a master list holds at least one CSCA")
    signer = signer or cscas[0].issue(cscas[0].scheme, common_name="allhours test ML signer")
    certificates = set_of(*(csca.certificate_der for csca in cscas))
    return signed_data(OID_CSCA_MASTER_LIST, seq(integer(0), certificates), signer)
