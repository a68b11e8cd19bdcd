"""Keys, certificate requests, certificates and revocation lists: the X.509 pieces of the site.

Every key is ECDSA on P-256: small certificates, fast handshakes on a kiosk's CPU, and supported
by Mosquitto's OpenSSL and by Python's `ssl` alike (ADR 0006).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A certificate's validity starts a little in the past, so a peer whose clock is slightly behind
# the CA's accepts it at once. Clocks off by more than this are refused at enrollment instead.
BACKDATE = timedelta(minutes=5)


class PkiError(ValueError):
    """A key, request or certificate that is not what the site accepts; the message says why."""


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: files holding it are owner-only (0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """A private key from PEM; PkiError if it is not a P-256 key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"not a readable private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise PkiError("the site uses P-256 keys only")
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate:
    """One certificate from PEM; PkiError if it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise PkiError(f"not a readable certificate: {exc}") from None


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, lowercase hex: what an enrollment token pins."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def common_name(name: x509.Name) -> str:
    """The single CN of a subject; PkiError when it has none or several."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(values) != 1:
        raise PkiError("the subject must carry exactly one common name")
    return str(values[0].value)


def make_csr(key: ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    """A PEM certificate signing request for `cn`, signed by `key` (proof of possession)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """A CSR whose self-signature holds and whose key is P-256; PkiError otherwise."""
    try:
        csr = x509.load_pem_x509_csr(pem)
        # Parsed lazily: a subject that is not UTF-8 or not a string, or a key of an algorithm
        # the library does not know, raises here, not later in the handler (a dropped
        # connection instead of a refusal).
        csr.subject.rfc4514_string()
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"not a readable certificate request: {exc}") from None
    if not valid:
        raise PkiError("the certificate request's signature does not hold")
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise PkiError("the site uses P-256 keys only")
    return csr


def self_signed_ca(
    key: ec.EllipticCurvePrivateKey, name: str, now: datetime, days: int
) -> x509.Certificate:
    """The site CA's certificate: may sign certificates and CRLs, and nothing below it may."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "allhours"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    cn: str,
    *,
    now: datetime,
    days: int,
    server_names: Iterable[str] = (),
) -> x509.Certificate:
    """An end-entity certificate for `cn`: a server one when `server_names` are given."""
    names = list(server_names)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def crl(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[tuple[int, datetime]],
    *,
    now: datetime,
    next_update: timedelta = timedelta(days=30),
) -> bytes:
    """A PEM CRL listing `(serial, revoked_at)` pairs, signed by the CA."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + next_update)
    )
    for serial, at in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def utc(dt: datetime) -> datetime:
    """An aware UTC datetime (naive ones are taken as UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
