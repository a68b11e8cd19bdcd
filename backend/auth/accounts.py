"""Staff accounts: create, sign in (throttled), change or reset a password, disable."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..db import Database
from ..models import StaffAccount, StaffApiToken, StaffSession, utcnow
from . import throttle
from .passwords import check_new_password, hash_password, needs_rehash, verify_password
from .roles import parse_roles

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def possible_username(username: str) -> bool:
    """Whether an account can have this name: the rule `add` enforces, on the whole string
    (`$` alone would let a final newline through)."""
    return USERNAME.fullmatch(username) is not None


class AccountError(ValueError):
    """An account operation that cannot be done; the message is for the person asking."""


class LoginRefused(Exception):
    """A sign-in that did not succeed; `reason` is bad_credentials or locked."""

    def __init__(self, reason: str, retry_after_s: float = 0.0):
        super().__init__(reason)
        self.reason, self.retry_after_s = reason, retry_after_s


@dataclass(frozen=True)
class Staff:
    """The signed-in person as routes see them (no hash, no ORM state)."""

    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    must_change_password: bool

    @classmethod
    def of(cls, row: StaffAccount) -> Staff:
        return cls(
            row.id,
            row.username,
            row.display_name,
            tuple(row.roles),
            row.must_change_password,
        )


def initial_password() -> str:
    """A random first password, to be changed at the first sign-in."""
    return secrets.token_urlsafe(12)


class Accounts:
    """Account operations over the database, one transaction each."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utcnow,
        settings: throttle.ThrottleSettings | None = None,
    ):
        self.db, self.clock = db, clock
        self.settings = settings or throttle.ThrottleSettings()

    def add(
        self,
        username: str,
        roles: list[str],
        *,
        password: str | None = None,
        display_name: str = "",
        must_change_password: bool = True,
    ) -> tuple[Staff, str]:
        """Create an account; returns it and its initial password (generated unless given)."""
        if not possible_username(username):
            raise AccountError("username: 2-64 of a-z 0-9 . _ - starting with a letter or digit")
        checked = [r.value for r in parse_roles(roles)]
        password = password or initial_password()
        check_new_password(password, username)
        with self.db.transaction() as session:
            if session.scalar(select(StaffAccount).where(StaffAccount.username == username)):
                raise AccountError(f"account {username} exists")
            row = StaffAccount(
                username=username,
                display_name=display_name[:64],
                roles=checked,
                password_hash=hash_password(password),
                must_change_password=must_change_password,
                created_at=self.clock(),
            )
            session.add(row)
            session.flush()
            return Staff.of(row), password

    def authenticate(self, username: str, password: str, client_address: str) -> Staff:
        """The account for these credentials, or LoginRefused (failures are counted first).

        The attempt is counted against the account and the client address before the
        password is checked, in a short transaction of its own (`throttle.reserve`), and
        refused there while either is locked; the password is checked outside any
        transaction, so neither parallel guesses (PostgreSQL) nor the write lock every other
        writer waits for (SQLite) outlive the count. A wrong password leaves the attempt
        counted; the right one clears the account's failures and gives the address its
        attempt back (a sign-in that succeeds is no failure of the address).

        A name no account can have (see `possible_username`) never reaches the database,
        where PostgreSQL refuses a NUL in text: it is refused as an unknown account is, after
        the same one argon2 verification, and counts against the client address only."""
        now = self.clock()
        possible = possible_username(username)
        account = throttle.account_scope(username) if possible else None
        scopes = [s for s in (account, throttle.address_scope(client_address)) if s]
        counted = self._reserve(scopes, now)
        stored: tuple[int, str] | None = None
        if possible:
            with self.db.reading() as session:
                row = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
                if row is not None and row.disabled_at is None:
                    stored = row.id, row.password_hash
        # An unknown or disabled account costs the same one verification (the dummy hash).
        if not verify_password(stored[1] if stored else None, password) or stored is None:
            raise LoginRefused("bad_credentials")
        staff_id, password_hash = stored
        rehashed = hash_password(password) if needs_rehash(password_hash) else None
        with self.db.transaction() as session:
            row = session.get(StaffAccount, staff_id)
            # Disabled, or given another password, while this one was being checked.
            if row is not None and row.disabled_at is None and row.password_hash == password_hash:
                self._succeeded(session, counted)
                if rehashed is not None:
                    row.password_hash = rehashed
                return Staff.of(row)
        raise LoginRefused("bad_credentials")

    def change_own_password(self, staff_id: int, old: str, new: str, client_address: str) -> Staff:
        """The person changes their own password, which needs the current one.

        The current password is checked as a sign-in is: refused with LoginRefused("locked")
        while the account or the address is locked, and each wrong one counts as a failed
        sign-in (counted before the check, which runs outside any transaction; see
        `authenticate`). A change ends every session and token of the account, the caller's
        too (the password may have leaked); `Sessions.reopen` gives the session that made it a
        new secret. Returns the account as it is now."""
        now = self.clock()
        with self.db.reading() as session:
            row = session.get(StaffAccount, staff_id)
            if row is None or row.disabled_at is not None:
                raise AccountError("no such account")
            username, password_hash = row.username, row.password_hash
        scopes = [throttle.account_scope(username), throttle.address_scope(client_address)]
        counted = self._reserve(scopes, now)
        if not verify_password(password_hash, old):
            raise AccountError("the current password is wrong")
        try:
            if old == new:
                raise AccountError("the new password must differ from the current one")
            check_new_password(new, username)
        except ValueError:
            # The right current password is no failed sign-in: not counted, nor cleared.
            with self.db.transaction() as session:
                for c in counted:
                    throttle.give_back(session, c)
            raise
        new_hash = hash_password(new)
        with self.db.transaction() as session:
            row = session.get(StaffAccount, staff_id)
            if row is None or row.disabled_at is not None:
                raise AccountError("no such account")
            if row.password_hash == password_hash:
                row.password_hash = new_hash
                row.must_change_password = False
                row.password_changed_at = now
                self._succeeded(session, counted)
                self._end_everything(session, row.id, now)
                return Staff.of(row)
        # Changed by someone else while this one was being checked: no longer the current one.
        raise AccountError("the current password is wrong")

    def _reserve(self, scopes: list[str], now: datetime) -> list[throttle.Counted]:
        """Count the attempt against the scopes (`throttle.reserve`), in a transaction of its
        own that has committed when this returns; LoginRefused("locked") while one is locked,
        and then nothing is counted."""
        with self.db.transaction() as session:
            wait, counted = throttle.reserve(session, scopes, now, self.settings)
            if wait > 0:
                raise LoginRefused("locked", wait)  # rolls the counting back
        return counted

    def _succeeded(self, session, counted: list[throttle.Counted]) -> None:
        """The right password: the account's failures are forgotten, and the address gets its
        attempt back (only failures count against an address)."""
        for c in counted:
            if c.scope.startswith("account:"):
                throttle.clear(session, c.scope)
            else:
                throttle.give_back(session, c)

    def reset_password(self, username: str, password: str | None = None) -> str:
        """An administrator sets a new initial password; the person must change it again."""
        password = password or initial_password()
        with self.db.transaction() as session:
            row = self._row(session, username)
            check_new_password(password, username)
            row.password_hash = hash_password(password)
            row.must_change_password = True
            row.password_changed_at = self.clock()
            self._end_everything(session, row.id)
        return password

    def disable(self, username: str) -> None:
        """Refuse every future sign-in, and end the account's sessions and tokens now."""
        with self.db.transaction() as session:
            row = self._row(session, username)
            row.disabled_at = row.disabled_at or self.clock()
            self._end_everything(session, row.id)

    def list(self) -> list[tuple[Staff, bool]]:
        """Every account and whether it is disabled."""
        with self.db.transaction() as session:
            rows = session.scalars(select(StaffAccount).order_by(StaffAccount.username))
            return [(Staff.of(r), r.disabled_at is not None) for r in rows]

    def _row(self, session, username: str) -> StaffAccount:
        row = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        if row is None:
            raise AccountError(f"no account {username}")
        return row

    def _end_everything(self, session, staff_id: int, now: datetime | None = None) -> None:
        now = now or self.clock()
        for s in session.scalars(
            select(StaffSession).where(
                StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None)
            )
        ):
            s.ended_at = now
        for t in session.scalars(
            select(StaffApiToken).where(
                StaffApiToken.staff_id == staff_id, StaffApiToken.revoked_at.is_(None)
            )
        ):
            t.revoked_at = now
