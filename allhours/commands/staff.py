"""`allhours staff add|passwd|disable|list|token`: console accounts, e.g. the first admin."""

from __future__ import annotations

import argparse
import sys

from backend.auth.accounts import AccountError, Accounts
from backend.auth.passwords import WeakPassword
from backend.auth.roles import Role
from backend.auth.sessions import Sessions
from backend.db import Database

DEFAULT_DB = "sqlite:///var/backend.sqlite"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours staff ...`."""
    p = sub.add_parser(
        "staff",
        help="staff console accounts: add, reset a password, disable, list, API token",
        description=(
            "Manages the backend's staff accounts in its database. A new or reset account gets "
            "a random initial password, printed once, that must be changed at first sign-in."
        ),
    )
    p.add_argument("--database-url", default=DEFAULT_DB, help=f"default: {DEFAULT_DB}")
    ssub = p.add_subparsers(dest="staff_command", required=True)

    a = ssub.add_parser("add", help="create an account and print its initial password")
    a.add_argument("username")
    a.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="repeatable",
    )
    a.add_argument("--name", default="", help="display name")
    a.set_defaults(func=_add)

    pw = ssub.add_parser("passwd", help="set a new initial password (changed at next sign-in)")
    pw.add_argument("username")
    pw.set_defaults(func=_passwd)

    d = ssub.add_parser("disable", help="refuse sign-in; end sessions and revoke tokens now")
    d.add_argument("username")
    d.set_defaults(func=_disable)

    ls = ssub.add_parser("list", help="accounts, roles and state")
    ls.set_defaults(func=_list)

    t = ssub.add_parser("token", help="issue a personal API token (printed once)")
    t.add_argument("username")
    t.add_argument("--name", default="script")
    t.set_defaults(func=_token)


def _db(args: argparse.Namespace) -> Database:
    db = Database(args.database_url)
    db.migrate()
    return db


def _run(args: argparse.Namespace, action) -> int:
    db = _db(args)
    try:
        return action(db)
    except (AccountError, WeakPassword) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()


def _add(args: argparse.Namespace) -> int:
    def action(db: Database) -> int:
        staff, password = Accounts(db).add(args.username, args.role, display_name=args.name)
        print(f"added {staff.username} ({', '.join(staff.roles)})")
        print(f"initial password (shown once, to be changed at first sign-in): {password}")
        return 0

    return _run(args, action)


def _passwd(args: argparse.Namespace) -> int:
    def action(db: Database) -> int:
        password = Accounts(db).reset_password(args.username)
        print(f"{args.username}: sessions ended, tokens revoked")
        print(f"new initial password (shown once, to be changed at sign-in): {password}")
        return 0

    return _run(args, action)


def _disable(args: argparse.Namespace) -> int:
    def action(db: Database) -> int:
        Accounts(db).disable(args.username)
        print(f"{args.username}: disabled; sessions ended, tokens revoked")
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    def action(db: Database) -> int:
        for staff, disabled in Accounts(db).list():
            state = (
                "disabled"
                if disabled
                else ("must change password" if staff.must_change_password else "active")
            )
            print(f"{staff.username}\t{','.join(staff.roles)}\t{state}")
        return 0

    return _run(args, action)


def _token(args: argparse.Namespace) -> int:
    def action(db: Database) -> int:
        staff = next(
            (s for s, off in Accounts(db).list() if s.username == args.username and not off), None
        )
        if staff is None:
            raise AccountError(f"no active account {args.username}")
        token = Sessions(db).issue_token(staff, args.name)
        print(f"token for {staff.username} (shown once; send as 'Authorization: Bearer ...'):")
        print(token)
        return 0

    return _run(args, action)
