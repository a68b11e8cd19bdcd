"""`allhours provision …` for operators on the backend host, `allhours enroll` on a terminal."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

DEFAULT_CA_DIR = Path("var/site-ca")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provision", help="the site CA: enrollment tokens, terminals, revocation")
    ca = argparse.ArgumentParser(add_help=False)
    ca.add_argument("--ca-dir", type=Path, default=DEFAULT_CA_DIR, help="the site CA and registry")
    psub = p.add_subparsers(dest="provision_command", required=True)
    i = psub.add_parser("init", parents=[ca], help="create the site CA (once per site)")
    i.set_defaults(func=_init)
    t = psub.add_parser("token", parents=[ca], help="a one-time enrollment token for a terminal")
    t.add_argument("terminal_id")
    t.add_argument("--hours", type=float, default=24.0, help="how long it stays valid")
    t.add_argument("--by", default="operator", help="who issues it (kept in the registry)")
    t.add_argument(
        "--broker",
        metavar="NAME",
        help="the broker (region or site group) the terminal belongs to, as named in the "
        "backend settings' brokers table; its bundle carries that broker's address "
        "(default: the backend's default broker)",
    )
    t.set_defaults(func=_token)
    psub.add_parser("list", parents=[ca], help="identities and tokens").set_defaults(func=_list)
    r = psub.add_parser("revoke", parents=[ca], help="revoke a terminal: CRL, access, tokens")
    r.add_argument("terminal_id")
    r.set_defaults(func=_revoke)
    k = psub.add_parser(
        "signing-key",
        parents=[ca],
        help="rotate the backend's signing key: announce, then promote, then retire",
    )
    k.add_argument("step", choices=("show", "announce", "promote", "retire"))
    k.set_defaults(func=_signing_key)

    sc = psub.add_parser(
        "server-cert",
        parents=[ca],
        help="a server certificate of the site CA (e.g. for the HTTPS server of releases)",
    )
    sc.add_argument("cn", help="a name for it, e.g. releases")
    sc.add_argument("--dir", type=Path, required=True, help="where cert.pem, key.pem, ca.pem go")
    sc.add_argument(
        "--name", action="append", required=True, help="a host name or address (repeatable)"
    )
    sc.set_defaults(func=_server_cert)

    e = sub.add_parser("enroll", help="enroll this terminal with a one-time token, or renew")
    e.add_argument("--data-dir", type=Path, default=Path("var/terminal"))
    e.add_argument("--url", help="the backend's enrollment endpoint, https://HOST:8443")
    e.add_argument("--token", help="the token from `allhours provision token` (ah1.…)")
    e.add_argument("--renew", action="store_true", help="renew the certificate over mTLS")
    e.set_defaults(func=_enroll)


def _authority(args: argparse.Namespace):
    from provisioning.authority import SiteAuthority

    return SiteAuthority(args.ca_dir)


def _init(args: argparse.Namespace) -> int:
    from provisioning.authority import EnrollmentRefused, SiteAuthority

    try:
        authority = SiteAuthority.create(args.ca_dir)
    except EnrollmentRefused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"site CA created in {args.ca_dir}; fingerprint {authority.fingerprint}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from provisioning.authority import EnrollmentRefused

    try:
        token = _authority(args).issue_token(
            args.terminal_id,
            ttl=timedelta(hours=args.hours),
            created_by=args.by,
            broker=args.broker,
        )
    except EnrollmentRefused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(token)
    print(
        f"one use, valid {args.hours:g} h; on the terminal: allhours enroll --url "
        "https://<backend>:8443 --token <the line above>",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    authority = _authority(args)
    print(f"{'identity':<24} {'role':<9} {'state':<20} {'broker':<12} certificate until")
    for i in authority.identities():
        until = f"{i.cert_expires:%Y-%m-%d}" if i.cert_expires else "-"
        broker = (i.broker or "default") if i.role == "terminal" else "-"
        print(f"{i.cn:<24} {i.role:<9} {i.state:<20} {broker:<12} {until}")
    print(f"\n{'token for':<24} {'state':<9} {'issued by':<20} {'broker':<12} expires (UTC)")
    for t in authority.tokens():
        print(
            f"{t.terminal_id:<24} {t.state:<9} {t.created_by:<20} {t.broker or 'default':<12}"
            f" {t.expires_at:%Y-%m-%d %H:%M}"
        )
    return 0


def _server_cert(args: argparse.Namespace) -> int:
    files = _authority(args).issue_server(args.cn, args.dir, tuple(args.name))
    print(f"{files.cert_file} and {files.key_file} for {', '.join(args.name)}; CA {files.ca_file}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from provisioning.authority import EnrollmentRefused

    try:
        certs, missed = _authority(args).revoke(args.terminal_id)
    except EnrollmentRefused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if missed:
        print(
            f"{args.terminal_id} revoked: {certs} certificate(s) on the CRL, but broker(s) "
            f"{', '.join(missed)} could not be told now: a connection held there stays until "
            "that broker restarts (restart it, or run this again once it answers)",
            file=sys.stderr,
        )
        return 1
    print(f"{args.terminal_id} revoked: {certs} certificate(s) on the CRL, broker access removed")
    return 0


def _signing_key(args: argparse.Namespace) -> int:
    from provisioning.authority import EnrollmentRefused

    authority = _authority(args)
    try:
        keys = (
            authority.backend_signing_keys()
            if args.step == "show"
            else authority.rotate_signing_key(args.step)
        )
    except EnrollmentRefused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print("terminals trust (current first):")
    for key in keys:
        print(f"  {key}")
    if args.step == "announce":
        print(
            "promote once every terminal has renewed or re-enrolled with this list", file=sys.stderr
        )
    return 0


def _enroll(args: argparse.Namespace) -> int:
    from provisioning.bundle import IdentityError
    from provisioning.enroll_client import EnrollmentFailed, enroll, renew
    from provisioning.tokens import TokenFormatError

    try:
        if args.renew:
            identity = renew(args.data_dir)
        elif args.url and args.token:
            identity = enroll(args.url, args.token, args.data_dir)
        else:
            print("error: give --url and --token, or --renew", file=sys.stderr)
            return 2
    except (EnrollmentFailed, IdentityError, TokenFormatError) as exc:
        code = getattr(exc, "code", "error")
        print(f"enrollment failed ({code}): {exc}", file=sys.stderr)
        return 1
    b = identity.bundle
    print(
        f"{b.terminal_id} enrolled: certificate until {identity.not_after:%Y-%m-%d}, "
        f"broker {b.broker_host}:{b.broker_port}"
    )
    return 0
