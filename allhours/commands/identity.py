"""`allhours identity read`: read one identity document and print what the terminal would get."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from devices.identity.port import IdentityDocument, IdentityReadError

WLT_DECODER_ENV = "ALLHOURS_WLT_DECODER"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours identity read`."""
    p = sub.add_parser("identity", help="identity-document reader tools for technicians")
    isub = p.add_subparsers(dest="identity_command", required=True)
    r = isub.add_parser(
        "read",
        help="read one ID card or eMRTD and print the result (ID number masked)",
        description=(
            "Read one document: a resident ID card through a GA/T 467 serial reader (--serial),"
            " or an eMRTD over PC/SC (--emrtd, keyed by --mrz or by --mrz-doc/--mrz-birth/"
            "--mrz-expiry; --mrz alone implies --emrtd). With --json an eMRTD read also prints"
            " the access protocol, Chip Authentication and the EF.SOD report. Exit 0 on a read,"
            " 1 when the read failed, 2 on bad usage."
        ),
    )
    src = r.add_mutually_exclusive_group()
    src.add_argument("--serial", metavar="PORT", help="serial port of an ID card reader")
    src.add_argument("--emrtd", action="store_true", help="read an eMRTD (passport chip)")
    r.add_argument(
        "--mrz", metavar="LINES", help="the eMRTD's MRZ (lines split by newline or space)"
    )
    r.add_argument("--reader", metavar="NAME", help="PC/SC reader name (eMRTD; default: first)")
    r.add_argument("--mrz-doc", metavar="NUM", help="document number (eMRTD)")
    r.add_argument("--mrz-birth", metavar="YYMMDD", help="date of birth (eMRTD)")
    r.add_argument("--mrz-expiry", metavar="YYMMDD", help="date of expiry (eMRTD)")
    r.add_argument(
        "--master-list",
        metavar="FILE",
        action="append",
        default=[],
        help="ICAO CSCA master list (CMS) to check the document signer against (eMRTD)",
    )
    r.add_argument(
        "--crl", metavar="FILE", action="append", default=[], help="CSCA CRL, DER or PEM (eMRTD)"
    )
    r.add_argument("--baudrate", type=int, default=115200, help="serial speed (default 115200)")
    r.add_argument(
        "--wlt-decoder",
        metavar="SPEC",
        default=os.environ.get(WLT_DECODER_ENV),
        help=f"ID card photo decoder, 'entry-point:NAME' or 'module:attr' (${WLT_DECODER_ENV})",
    )
    r.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a document")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.add_argument("--show-number", action="store_true", help="print the number and address")
    r.set_defaults(func=cmd_identity_read, identity_read_parser=r)


def cmd_identity_read(args: argparse.Namespace) -> int:
    """Read one document; 0 read, 1 read error, 2 usage."""
    if args.timeout <= 0:
        return _usage("--timeout must be positive")
    try:
        reader, mrz_key = _reader_for(args)
    except _UsageError as exc:
        return _usage(str(exc))
    except IdentityReadError as exc:
        return _failed(args, exc)
    try:
        document = reader.read(args.timeout, **({"mrz_key": mrz_key} if mrz_key else {}))
    except IdentityReadError as exc:
        return _failed(args, exc)
    except Exception as exc:
        # A reader stack that leaks its own exception (e.g. PC/SC with pcscd not running):
        # still a failed read for the technician, not a traceback.
        print(f"read failed: reader stack error {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    report = document_report(document, show_number=args.show_number)
    chip = getattr(reader, "last_read_report", None)
    if chip:
        report["emrtd"] = chip_report(chip)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for key, value in report.items():
            print(f"{key.replace('_', ' '):15} {_plain(value)}")
    return 0


class _UsageError(Exception):
    pass


def _reader_for(args: argparse.Namespace) -> tuple[Any, Any]:
    emrtd_opts = (args.mrz_doc, args.mrz_birth, args.mrz_expiry)
    if not (args.serial or args.emrtd or args.mrz):
        # As argparse does for a missing required option: usage on stderr, exit 2.
        args.identity_read_parser.error("one of --serial, --emrtd or --mrz is required")
    if args.serial:
        if any(emrtd_opts) or args.reader or args.mrz or args.master_list or args.crl:
            raise _UsageError(
                "--reader, --mrz, --mrz-*, --master-list and --crl apply to eMRTD reads, "
                "not --serial"
            )
        from devices.identity.cnid import CnIdReader, WltDecoderError, load_wlt_decoder

        try:
            decoder = load_wlt_decoder(args.wlt_decoder)
        except WltDecoderError as exc:
            raise _UsageError(str(exc)) from None
        reader = CnIdReader(args.serial, baudrate=args.baudrate, photo_decoder=decoder)
        return reader, None
    # eMRTD: the package is imported only here, so serial reads never need pyscard.
    from devices.identity.emrtd.mrz import MrzKey
    from devices.identity.emrtd.reader import EmrtdReader
    from devices.identity.emrtd.trust import TrustConfigError, TrustStore

    if args.mrz:
        if any(emrtd_opts):
            raise _UsageError("give either --mrz or --mrz-doc/--mrz-birth/--mrz-expiry")
        try:
            key = MrzKey.from_mrz("\n".join(args.mrz.split()))  # a shell often gives one line
        except ValueError as exc:
            raise _UsageError(f"--mrz: {exc}") from None
    else:
        if not all(emrtd_opts):
            raise _UsageError("--emrtd needs --mrz-doc, --mrz-birth and --mrz-expiry (or --mrz)")
        try:
            key = MrzKey(
                document_number=args.mrz_doc, birth_date=args.mrz_birth, expiry_date=args.mrz_expiry
            )
        except ValueError as exc:
            raise _UsageError(f"MRZ key: {exc}") from None
    trust = None
    if args.master_list or args.crl:
        if not args.master_list:
            raise _UsageError("--crl needs the --master-list whose CSCA signed it")
        try:
            trust = TrustStore.from_files(args.master_list, args.crl)
        except TrustConfigError as exc:
            raise _UsageError(str(exc)) from None
    return EmrtdReader(args.reader, trust=trust), key


def chip_report(report: dict[str, Any]) -> dict[str, Any]:
    """What the eMRTD read proved: access protocol, Chip Authentication, the EF.SOD report."""
    return {
        "access": report.get("access"),
        "chip_authentication": report.get("chip_authentication"),
        "active_authentication": report.get("active_authentication"),
        "sod": report.get("sod"),
        "apdus": report.get("apdus"),
        "read_ms": round(report.get("steps", {}).get("total", 0.0) * 1000, 1),
    }


def document_report(document: IdentityDocument, *, show_number: bool) -> dict[str, Any]:
    """The printable facts of a document; number masked and address hidden unless show_number."""
    from devices.identity.cnid.wlt import image_format

    photo = document.photo
    return {
        "document_type": document.document_type,
        "authenticity": document.authenticity,
        "name": document.name,
        "number": document.number if show_number else document.masked_number,
        "sex": document.sex,
        "birth_date": _iso(document.birth_date),
        "nationality": document.nationality,
        "issuer": document.issuer,
        "valid_from": _iso(document.valid_from),
        "expiry_date": _iso(document.expiry_date),
        "address": (
            document.address
            if show_number or document.address is None
            else f"({len(document.address)} characters hidden)"
        ),
        "photo": (
            None
            if photo is None
            else {"format": image_format(photo) or _j2k_or_unknown(photo), "bytes": len(photo)}
        ),
    }


def _j2k_or_unknown(photo: bytes) -> str:
    if photo.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")):
        return "jpeg2000"
    return "unknown"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and "format" in value:
        return f"{value['format']}, {value['bytes']} bytes"
    if isinstance(value, dict):
        sod = value.get("sod") or {}
        chain = sod.get("chain") or {}
        lines = [
            f"access {value.get('access')}; chip authentication "
            f"{value.get('chip_authentication')}; active authentication "
            f"{value.get('active_authentication')}",
            f"{'':15} EF.SOD {sod.get('hash_algorithm')} over DG{sod.get('verified_data_groups')}"
            f"; signature {sod.get('signature')} ({sod.get('signature_algorithm')})",
            f"{'':15} signer chain: "
            + ("trusted, CSCA " + str(chain.get("csca")) if chain.get("issuer_verified")
               else f"not trusted ({chain.get('reason')})"),
        ]  # fmt: skip
        return "\n".join(lines)
    return str(value)


def _failed(args: argparse.Namespace, exc: IdentityReadError) -> int:
    # What the kiosk would show for it: the same catalog key, in English here.
    from terminal.coded import english
    from terminal.flows.identity import card_error_key

    key = card_error_key(exc)
    if args.json:
        error = {
            "error": type(exc).__name__,
            "detail": str(exc),
            "citizen_key": key,
            "citizen_message": english(key),
        }
        print(json.dumps(error, ensure_ascii=False, indent=2))
    else:
        print(f"read failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"the citizen would see ({key}): {english(key)}", file=sys.stderr)
    return 1


def _usage(message: str) -> int:
    print(f"allhours identity read: {message}", file=sys.stderr)
    return 2
