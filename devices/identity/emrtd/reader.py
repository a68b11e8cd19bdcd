"""The eMRTD reader over PC/SC (pyscard): access control, secure reads, authenticity checks.

One `read()` is one citizen: wait for a document, open access with PACE when EF.CardAccess
offers it (else SELECT the LDS applet and run BAC) with the MRZ key, read EF.COM, run Chip
Authentication with DG14 when the chip offers it, read DG1, DG2 and EF.SOD under secure
messaging, run passive authentication (hashes, signature, signer chain), and return an
IdentityDocument. Whatever happens, the card is powered down, the connection released and
the session keys dropped before `read()` returns, so the terminal is ready for the next
citizen.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import date
from typing import Any

from devices.identity.port import IdentityDocument
from privacy import mask_document_number

from . import lds, pace, sod
from .bac import mutual_authenticate
from .card_session import (
    EXTENDED_CHUNK,
    SHORT_CHUNK,
    SW_OK,
    CardSession,
    extended_length_supported,
    timed,
)
from .chip_proof import proof_groups, prove_genuine
from .errors import (
    AccessDenied,
    CorruptData,
    IdentityReadError,
    NoDocument,
    ReaderFault,
    UnsupportedDocument,
)
from .lds import AID
from .mrz import MrzData, MrzKey
from .passive import passive_authentication
from .security_infos import parse_security_infos, protocol_name
from .trust import TrustStore

log = logging.getLogger(__name__)

VPCD_READER_PREFIX = "Virtual PCD"
CARD_ACCESS_FID = 0x011C  # EF.CardAccess, in the master file


def _yymmdd(text: str, *, future: bool) -> date | None:
    try:
        yy, mm, dd = int(text[0:2]), int(text[2:4]), int(text[4:6])
        this_year = date.today().year % 100
        pivot = 70 if future else this_year + 1  # expiry dates lie ahead, birth dates behind
        century = 2000 if yy < pivot else 1900
        return date(century + yy, mm, dd)
    except ValueError:
        return None


def to_identity_document(
    mrz: MrzData, photo: bytes | None, authenticity: str, chip_proof: str | None = None
) -> IdentityDocument:
    """The port's IdentityDocument from a DG1 MRZ and the DG2 image."""
    return IdentityDocument(
        document_type="passport" if mrz.document_code.startswith("P") else "other",
        name=" ".join(part for part in (mrz.surname, mrz.given_names) if part),
        number=mrz.document_number,
        birth_date=_yymmdd(mrz.birth_date, future=False),
        expiry_date=_yymmdd(mrz.expiry_date, future=True),
        photo=photo,
        sex=mrz.sex if mrz.sex in ("M", "F") else None,
        nationality=mrz.nationality or None,
        issuer=mrz.issuing_state or None,
        authenticity=authenticity,
        chip_proof=chip_proof,
    )


def chip_proof_outcome(report: dict[str, Any]) -> str:
    """The chip's proof that it is no copy: "passed" (Chip or Active Authentication passed),
    "not offered" (it offers neither), else "not run" (it offers one this reader could not
    use, so a copy would pass)."""
    ca = str(report.get("chip_authentication", "not offered"))
    aa = str(report.get("active_authentication", "not offered"))
    if ca.startswith("passed") or aa.startswith("passed"):
        return "passed"
    if ca == "not offered" and aa == "not offered":
        return "not offered"
    return "not run"


def authenticity_reason(authenticity: str, report: dict[str, Any]) -> str:
    """Why a read stopped where it did, for the technician's log: no personal data."""
    sod_report = report.get("sod") or {}
    if sod_report.get("present") is False:
        return "the chip has no EF.SOD"
    chain = sod_report.get("chain") or {}
    if authenticity == "chip_read":
        return f"EF.SOD signature {sod_report.get('signature', 'not checked')}"
    if authenticity == "chip_verified":
        return f"document signer not trusted: {chain.get('reason') or 'no reason given'}"
    return "the document signer chains to a configured CSCA"


class EmrtdReader:
    """Reads ICAO 9303 eMRTDs through a PC/SC reader, with BAC and secure messaging."""

    needs_mrz_key = True  # the chip opens with the key from the photo page's MRZ

    def __init__(
        self,
        reader_name: str | None = None,
        *,
        mrz_key: MrzKey | None = None,
        chunk_size: int | None = None,
        poll_interval_s: float = 0.05,
        trust: TrustStore | None = None,
    ):
        self.reader_name = reader_name
        self.trust = trust  # CSCAs from master lists; None: never issuer_verified
        self.mrz_key = mrz_key
        self.chunk_size = chunk_size  # None: extended if the ATR allows it, else short
        self.poll_interval_s = poll_interval_s
        self.last_read_report: dict[str, Any] = {}
        self._last_error: str | None = None

    # -- public -------------------------------------------------------------------------

    def read(self, timeout_s: float, mrz_key: MrzKey | None = None) -> IdentityDocument:
        """Wait up to `timeout_s` for a document and read it; IdentityReadError otherwise."""
        return self._run(mrz_key, lambda: self._wait_for_card(timeout_s))

    def read_connection(
        self, connection: Any, mrz_key: MrzKey | None = None, *, label: str = "direct"
    ) -> IdentityDocument:
        """Read through an already connected card (anything with pyscard's connection API)."""
        return self._run(mrz_key, lambda: (connection, label))

    def _run(self, mrz_key: MrzKey | None, connect: Any) -> IdentityDocument:
        key = mrz_key or self.mrz_key
        if key is None:
            raise ValueError("an MRZ key (document number, birth date, expiry date) is needed")
        report: dict[str, Any] = {"steps": {}, "sizes": {}, "apdus": 0, "result": "started"}
        self.last_read_report = report
        started = time.perf_counter()
        connection = None
        session = None
        try:
            connection, name = connect()
            report["reader"] = name
            report["steps"]["wait_card"] = time.perf_counter() - started
            session = CardSession(connection, report)
            document = self._read_card(session, key)
            report["result"] = "ok"
            return document
        except IdentityReadError as exc:
            report["result"] = type(exc).__name__
            report["error"] = str(exc)
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.warning("eMRTD read failed: %s: %s", type(exc).__name__, exc)
            raise
        finally:
            if session is not None and session.channel is not None:
                session.channel.close()
            if connection is not None:
                self._release(connection)
            report["steps"]["total"] = time.perf_counter() - started

    def diagnostics(self) -> dict[str, object]:
        """Readers seen via pyscard, the configured reader, the last error and read summary."""
        try:
            names = self._reader_names()
            pcsc = "ok"
        except ReaderFault as exc:
            names, pcsc = [], str(exc)
        return {
            "driver": "emrtd-pcsc",
            "pcsc": pcsc,
            "readers": names,
            "configured_reader": self.reader_name or "auto",
            # 0: no master list, and a kiosk refuses every passport this reader reads.
            "trusted_cscas": len(self.trust.cscas) if self.trust is not None else 0,
            "last_error": self._last_error,
            "last_result": self.last_read_report.get("result"),
        }

    # -- steps --------------------------------------------------------------------------

    def _read_card(self, session: CardSession, key: MrzKey) -> IdentityDocument:
        report = session.report
        atr = bytes(session.connection.getATR())
        report["atr"] = atr.hex().upper()
        chunk = self.chunk_size or (
            EXTENDED_CHUNK if extended_length_supported(atr) else SHORT_CHUNK
        )
        report["chunk"] = chunk
        self._open_access(session, key)
        files: dict[str, bytes] = {}

        def read(item: lds.LdsFile) -> None:
            with timed(report, item.name):
                content = session.read_file(item, chunk)
            if content is not None:
                files[item.name] = content
                report["sizes"][item.name] = len(content)

        read(lds.EF_COM)
        listed = lds.parse_ef_com(files["EF.COM"]).data_groups if "EF.COM" in files else ()
        prove_genuine(session, listed, read, files)  # ends by reading DG1
        read(lds.DG2)
        read(lds.EF_SOD)
        for required in ("EF.COM", "DG1", "DG2"):
            if required not in files:
                raise CorruptData(f"{required} is missing on the chip")
        with timed(report, "parse"):
            com = lds.parse_ef_com(files["EF.COM"])
            report["lds_version"] = com.lds_version
            mrz = lds.parse_dg1(files["DG1"])
            face = lds.parse_dg2(files["DG2"])
            report["photo_format"] = face.format
        authenticity = "chip_read"
        with timed(report, "sod"):
            if "EF.SOD" in files:
                security = sod.parse_sod(files["EF.SOD"])
                groups = {1: files["DG1"], 2: files["DG2"]}
                groups.update(proof_groups(security, files, report))
                authenticity, report["sod"] = passive_authentication(security, groups, self.trust)
            else:
                report["sod"] = {"present": False}
        report["authenticity"] = authenticity
        report["chip_proof"] = proof = chip_proof_outcome(report)
        log.info(
            "eMRTD checks: %s (%s); chip proof %s (chip authentication %s; active "
            "authentication %s)",
            authenticity,
            authenticity_reason(authenticity, report),
            proof,
            report.get("chip_authentication"),
            report.get("active_authentication"),
        )
        return to_identity_document(mrz, face.data, authenticity, proof)

    @staticmethod
    def _open_access(session: CardSession, key: MrzKey) -> None:
        """PACE when EF.CardAccess offers it, else BAC; then the LDS applet is selected."""
        report = session.report
        with timed(report, "card_access"):
            card_access = session.read_public_file(CARD_ACCESS_FID)
            offer = pace.choose(parse_security_infos(card_access)) if card_access else None
        if offer is not None:
            with timed(report, "pace"):
                session.channel = pace.establish(session.transmit, key, offer)
            report["access"] = (
                f"PACE ({protocol_name(offer.protocol)}, domain parameters {offer.parameter_id})"
            )
            with timed(report, "select"):
                _, sw = session.secure(0xA4, 0x04, 0x0C, AID)
        else:
            with timed(report, "select"):
                _, sw = session.transmit(bytes.fromhex("00A4040C07") + AID)
            if sw == SW_OK:
                with timed(report, "bac"):
                    session.channel = mutual_authenticate(session.transmit, key)
                report["access"] = "BAC"
        if sw != SW_OK:
            raise UnsupportedDocument(f"SELECT of the eMRTD applet answered {sw:04X}")
        log.info(
            "%s established with document %s",
            report["access"],
            mask_document_number(key.document_number),
        )

    # -- PC/SC --------------------------------------------------------------------------

    @staticmethod
    def _readers() -> list[Any]:
        from smartcard.Exceptions import SmartcardException
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
        from smartcard.System import readers

        try:
            return list(readers())
        except (SmartcardException, BaseSCardException) as exc:
            raise ReaderFault(f"PC/SC service (pcscd) not reachable: {exc}") from exc

    def _reader_names(self) -> list[str]:
        return [str(r) for r in self._readers()]

    def _candidates(self) -> list[Any]:
        found = self._readers()
        if self.reader_name:
            wanted = self.reader_name.lower()
            found = [r for r in found if str(r).lower().startswith(wanted)]
        else:
            # Prefer real readers; the virtual one is tried last (tests, demos).
            found = sorted(found, key=lambda r: str(r).startswith(VPCD_READER_PREFIX))
        return found

    def _wait_for_card(self, timeout_s: float) -> tuple[Any, str]:
        from smartcard.CardConnection import CardConnection
        from smartcard.Exceptions import CardConnectionException, NoCardException

        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while True:
            candidates = self._candidates()
            seen = [str(r) for r in candidates]
            for reader in candidates:
                connection = reader.createConnection()
                try:
                    connection.connect(CardConnection.T1_protocol)
                except (NoCardException, CardConnectionException):
                    self._release(connection)
                    continue
                return connection, str(reader)
            if time.monotonic() >= deadline:
                where = ", ".join(seen) if seen else "no reader connected"
                if not seen:
                    raise ReaderFault(f"no PC/SC reader matches {self.reader_name or 'any'}")
                raise NoDocument(f"no document on the reader within {timeout_s:.1f} s ({where})")
            time.sleep(self.poll_interval_s)

    @staticmethod
    def _release(connection: Any) -> None:
        """Power the card down and free the PC/SC handle: nothing of this citizen remains."""
        from smartcard.Exceptions import SmartcardException

        with contextlib.suppress(SmartcardException):
            connection.disconnect()
        with contextlib.suppress(SmartcardException, AttributeError):
            connection.release()


__all__ = [
    "EXTENDED_CHUNK",
    "SHORT_CHUNK",
    "AccessDenied",
    "EmrtdReader",
    "authenticity_reason",
    "chip_proof_outcome",
    "extended_length_supported",
    "to_identity_document",
]
