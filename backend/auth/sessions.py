"""Console sessions (server-side, idle and absolute expiry, a CSRF token each) and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..db import Database
from ..models import StaffAccount, StaffApiToken, StaffSession, utcnow
from .accounts import AccountError, Staff

TOKEN_PREFIX = "ahs_"
MAX_SECRET_LENGTH = 128  # anything longer is not ours and is not hashed


@dataclass(frozen=True)
class SessionSettings:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=10)  # one working day, then sign in again
    touch_every: timedelta = timedelta(seconds=30)  # limits writes from a busy page
    token_ttl: timedelta = timedelta(days=90)


@dataclass(frozen=True)
class SignedIn:
    """Who a request comes from, and how: a console session (with its CSRF token) or a token."""

    staff: Staff
    csrf_token: str | None  # None for an API token, which no browser sends by itself
    session_id_hash: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _usable(row: StaffAccount | None) -> bool:
    return row is not None and row.disabled_at is None


class Sessions:
    """Opens, resolves and ends console sessions; issues and resolves personal API tokens."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utcnow,
        settings: SessionSettings | None = None,
    ):
        self.db, self.clock = db, clock
        self.settings = settings or SessionSettings()

    def open(self, staff: Staff, client_address: str) -> tuple[str, str]:
        """A new session: (the cookie's secret, the CSRF token)."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.transaction() as session:
            session.add(
                StaffSession(
                    id_hash=_digest(secret),
                    staff_id=staff.id,
                    csrf_token=csrf,
                    client_address=client_address[:64],
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return secret, csrf

    def resolve(self, secret: str) -> SignedIn | None:
        """The live session for a cookie secret; expired, ended or disabled ones are None."""
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return None
        now = self.clock()
        with self.db.transaction() as session:
            row = session.get(StaffSession, _digest(secret))
            if row is None or row.ended_at is not None:
                return None
            if now - row.last_seen_at > self.settings.idle or (
                now - row.created_at > self.settings.absolute
            ):
                row.ended_at = now
                return None
            account = session.get(StaffAccount, row.staff_id)
            if not _usable(account):
                return None
            if now - row.last_seen_at > self.settings.touch_every:
                row.last_seen_at = now
            return SignedIn(Staff.of(account), row.csrf_token, row.id_hash)  # type: ignore[arg-type]

    def end(self, id_hash: str) -> None:
        with self.db.transaction() as session:
            row = session.get(StaffSession, id_hash)
            if row is not None and row.ended_at is None:
                row.ended_at = self.clock()

    def refresh_staff(self, signed_in: SignedIn) -> SignedIn:
        """The same sign-in with the account's current flags (after a password change)."""
        with self.db.transaction() as session:
            account = session.get(StaffAccount, signed_in.staff.id)
            if not _usable(account):
                raise AccountError("no such account")
            return SignedIn(Staff.of(account), signed_in.csrf_token, signed_in.session_id_hash)  # type: ignore[arg-type]

    def issue_token(self, staff: Staff, name: str, ttl: timedelta | None = None) -> str:
        """A new personal API token, shown once; the database keeps only its hash."""
        if staff.must_change_password:
            raise AccountError("change the initial password before creating a token")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.transaction() as session:
            session.add(
                StaffApiToken(
                    token_hash=_digest(token),
                    staff_id=staff.id,
                    name=name[:64] or "token",
                    prefix=token[:10],
                    expires_at=now + (ttl or self.settings.token_ttl),
                    created_at=now,
                )
            )
        return token

    def resolve_token(self, token: str) -> SignedIn | None:
        """The account behind a live, unrevoked API token."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_SECRET_LENGTH:
            return None
        now = self.clock()
        with self.db.transaction() as session:
            row = session.get(StaffApiToken, _digest(token))
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            account = session.get(StaffAccount, row.staff_id)
            if not _usable(account):
                return None
            _touch_token(session, row, now, self.settings.touch_every)
            return SignedIn(Staff.of(account), None, None)  # type: ignore[arg-type]


def _touch_token(session: Session, row: StaffApiToken, now: datetime, every: timedelta) -> None:
    if row.last_used_at is None or now - row.last_used_at > every:
        row.last_used_at = now


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens; a missing one never matches."""
    return bool(expected and given) and hmac.compare_digest(expected or "", given or "")
