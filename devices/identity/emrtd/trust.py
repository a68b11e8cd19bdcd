"""Trusted CSCAs from ICAO master lists, and the document-signer chain check (Doc 9303-11 §5).

A master list is CMS SignedData (eContent id-icao-cscaMasterList, 2.23.136.1.1.2) holding
CscaMasterList ::= SEQUENCE { version INTEGER, certList SET OF Certificate }, as the ICAO
PKD and states publish it. Loading one checks its own signature and that its signer was
issued by a CSCA in the list, so a file damaged or re-signed by someone else is refused at
start-up. A document signer is trusted when a listed CSCA with its subject as issuer
verifies its signature, both certificates are within their validity at the time of the
read, the CSCA may sign certificates, and no CRL of that CSCA lists the signer's serial.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from . import cms, signatures, tlv
from .errors import CorruptData

OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"


class TrustConfigError(ValueError):
    """A master list or CRL given to the reader is unusable; the message names the file."""


def _certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:
        raise TrustConfigError(f"{what}: a certificate does not parse ({exc})") from exc


def issued_by(subject: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """None when `issuer` signed `subject` and may sign certificates, else the reason."""
    if subject.issuer != issuer.subject:
        return "issuer name differs from the CSCA's subject"
    try:
        basic = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not basic.ca:
            return "the issuing certificate is not a CA"
    except x509.ExtensionNotFound:
        pass  # early CSCAs omit it; the signature below still decides
    der = subject.public_bytes(Encoding.DER)
    try:
        tbs, signature = signatures.signed_part(der)
        algorithm = signatures.certificate_signature_algorithm(der)
        signatures.verify(issuer.public_key(), algorithm, signature, tbs)
    except signatures.InvalidSignature:
        return "signature does not verify with the CSCA's key"
    except (signatures.UnsupportedSignature, UnsupportedAlgorithm, CorruptData, ValueError) as exc:
        return f"signature cannot be checked ({exc})"
    return None


def _within(certificate: x509.Certificate, at: dt.datetime) -> bool:
    return certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc


@dataclass(frozen=True)
class ChainCheck:
    """Whether a document signer chains to a trusted CSCA, and why not."""

    trusted: bool
    signer: str  # the DS certificate's subject (a state and an office, no personal data)
    csca: str | None = None
    reason: str | None = None

    def report(self) -> dict[str, object]:
        return {
            "issuer_verified": self.trusted,
            "signer": self.signer,
            "csca": self.csca,
            "reason": self.reason,
        }


class TrustStore:
    """The CSCAs and CRLs a terminal trusts."""

    def __init__(
        self,
        cscas: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
    ):
        self.cscas = tuple(cscas)
        self.crls: tuple[x509.CertificateRevocationList, ...] = ()
        for crl in crls:
            self.add_crl(crl)

    @classmethod
    def from_files(cls, master_lists: Iterable[Path], crls: Iterable[Path] = ()) -> TrustStore:
        """Load master lists and CRL files (DER or PEM); TrustConfigError names a bad file."""
        cscas: list[x509.Certificate] = []
        for path in master_lists:
            cscas += load_master_list(_read(path), str(path))
        store = cls(cscas)
        for path in crls:
            store.add_crl(load_crl(_read(path), str(path)))
        return store

    def add_crl(self, crl: x509.CertificateRevocationList, what: str = "CRL") -> None:
        """Accept a CRL only if a trusted CSCA signed it."""
        for csca in self.cscas:
            try:
                signed = crl.issuer == csca.subject and crl.is_signature_valid(csca.public_key())
            except (ValueError, TypeError, UnsupportedAlgorithm):
                signed = False  # a key or algorithm cryptography cannot check: not trusted
            if signed:
                self.crls += (crl,)
                return
        raise TrustConfigError(f"{what}: no CSCA of the master lists signed it")

    def check_signer(self, signer: x509.Certificate, at: dt.datetime | None = None) -> ChainCheck:
        """Check the document signer against the trusted CSCAs at time `at` (now)."""
        try:
            return self._check_signer(signer, at or dt.datetime.now(dt.UTC))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            return ChainCheck(False, "?", reason=f"certificate unusable ({type(exc).__name__})")

    def _check_signer(self, signer: x509.Certificate, at: dt.datetime) -> ChainCheck:
        name = signer.subject.rfc4514_string()
        if not self.cscas:
            return ChainCheck(False, name, reason="no CSCA master list is configured")
        reasons = []
        for csca in self.cscas:
            why = issued_by(signer, csca)
            if why is not None:
                reasons.append(why)
                continue
            issuer = csca.subject.rfc4514_string()
            if not _within(csca, at):
                return ChainCheck(False, name, issuer, "the CSCA certificate is not valid now")
            if not _within(signer, at):
                return ChainCheck(False, name, issuer, "the document signer is not valid now")
            for crl in self.crls:
                if crl.issuer == csca.subject and crl.get_revoked_certificate_by_serial_number(
                    signer.serial_number
                ):
                    return ChainCheck(False, name, issuer, "the document signer is revoked")
            return ChainCheck(True, name, issuer)
        if all(r == "issuer name differs from the CSCA's subject" for r in reasons):
            return ChainCheck(False, name, reason="no trusted CSCA issued this document signer")
        return ChainCheck(False, name, reason="; ".join(sorted(set(reasons))))


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TrustConfigError(f"{path}: cannot be read ({exc.strerror})") from exc


def load_crl(data: bytes, what: str = "CRL") -> x509.CertificateRevocationList:
    """A CRL from DER or PEM bytes."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise TrustConfigError(f"{what}: not a CRL ({exc})") from exc


def load_master_list(data: bytes, what: str = "master list") -> list[x509.Certificate]:
    """The CSCA certificates of a master list whose signature and signer check out."""
    try:
        return _load_master_list(data, what)
    except (CorruptData, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TrustConfigError(f"{what}: {exc}") from exc


def _load_master_list(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        signed = cms.parse_signed_data(data, None, what)
        if signed.content_type != OID_CSCA_MASTER_LIST:
            raise TrustConfigError(f"{what}: eContent is {signed.content_type}, not a master list")
        body = tlv.parse_single(signed.econtent, 0x30).children()
        if len(body) != 2:
            raise TrustConfigError(f"{what}: CscaMasterList should have version and certList")
        certificates = [
            _certificate(item.encode(), what)
            for item in cms.expect(body[1], 0x31, "certList").children()
        ]
    except CorruptData as exc:
        raise TrustConfigError(f"{what}: {exc}") from exc
    if not certificates:
        raise TrustConfigError(f"{what}: holds no CSCA certificate")
    _check_master_list_signer(signed, certificates, what)
    return certificates


def _check_master_list_signer(
    signed: cms.SignedData, cscas: list[x509.Certificate], what: str
) -> None:
    signer = signed.signer
    if signer is None or signer.signed_attributes is None:
        raise TrustConfigError(f"{what}: is not signed")
    attrs = signer.signed_attributes
    digest_name = signatures.HASH_NAMES.get(signer.digest_algorithm)
    if digest_name is None:
        raise TrustConfigError(f"{what}: digest algorithm {signer.digest_algorithm}")
    try:
        digest = cms.signed_attribute(attrs, cms.OID_MESSAGE_DIGEST, what).value
    except CorruptData as exc:
        raise TrustConfigError(str(exc)) from exc
    if not hmac.compare_digest(digest, hashlib.new(digest_name, signed.econtent).digest()):
        raise TrustConfigError(f"{what}: messageDigest does not match its content")
    candidates = [_certificate(der, what) for der in signed.certificates]
    ml_signer = next(
        (c for c in candidates if c.serial_number == signer.serial_number), None
    ) or next((c for c in cscas if c.serial_number == signer.serial_number), None)
    if ml_signer is None:
        raise TrustConfigError(f"{what}: the signer's certificate is not included")
    try:
        signatures.verify(
            ml_signer.public_key(),
            signer.signature_algorithm,
            signer.signature,
            attrs,
            signer.digest_algorithm,
        )
    except signatures.InvalidSignature as exc:
        raise TrustConfigError(f"{what}: signature does not verify") from exc
    except (signatures.UnsupportedSignature, UnsupportedAlgorithm) as exc:
        raise TrustConfigError(f"{what}: signature cannot be checked ({exc})") from exc
    if ml_signer in cscas:
        return  # signed directly by a listed CSCA
    if not any(issued_by(ml_signer, csca) is None for csca in cscas):
        raise TrustConfigError(f"{what}: its signer was not issued by a CSCA in the list")
