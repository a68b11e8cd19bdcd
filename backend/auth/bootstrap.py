"""Accounts made by the backend's own code for scripts: the demo, and tests of the real API."""

from __future__ import annotations

from ..db import Database
from .accounts import Accounts, Staff
from .sessions import Sessions


def account_with_token(
    db: Database, username: str, roles: list[str], display_name: str = ""
) -> tuple[Staff, str]:
    """A new account past its first password change, and a personal API token for it."""
    staff, _password = Accounts(db).add(
        username, roles, display_name=display_name, must_change_password=False
    )
    return staff, Sessions(db).issue_token(staff, f"{username} script")


def bearer(token: str) -> dict[str, str]:
    """The HTTP header that presents a personal API token."""
    return {"Authorization": f"Bearer {token}"}
