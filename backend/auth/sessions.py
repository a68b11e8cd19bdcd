"""Console sessions (server-side, idle and absolute expiry, a CSRF token each) and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
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
    token_hash: str | None = None  # the API token's, when one signed the request in


@dataclass(frozen=True)
class TokenInfo:
    """A personal API token as its owner may see it: never the secret nor its stored hash
    (`id` is the hash's first 16 hex digits, which help no one find the secret)."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    created_from: str = ""  # the client address that asked for it ("": the command line)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _add_session(
    session: Session, staff_id: int, client_address: str, *, started: datetime, now: datetime
) -> tuple[str, str]:
    """A session row under a fresh cookie secret (only its hash kept) and CSRF token."""
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id_hash=_digest(secret),
            staff_id=staff_id,
            csrf_token=csrf,
            client_address=client_address[:64],
            created_at=started,
            last_seen_at=now,
        )
    )
    return secret, csrf


def token_id(token_hash: str) -> str:
    """The name a token goes by in the API: the start of its hash (the secret stays unknown)."""
    return token_hash[:16]


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
        now = self.clock()
        with self.db.transaction() as session:
            return _add_session(session, staff.id, client_address, started=now, now=now)

    def resolve(self, secret: str) -> SignedIn | None:
        """The live session for a cookie secret; expired, ended or disabled ones are None.

        Read without the write lock (every console request comes through here); a write
        follows only to end an expired session or to note it seen, at most every `touch_every`.
        """
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return None
        now, id_hash = self.clock(), _digest(secret)
        with self.db.reading() as session:
            row = session.get(StaffSession, id_hash)
            if row is None or row.ended_at is not None:
                return None
            expired = now - row.last_seen_at > self.settings.idle or (
                now - row.created_at > self.settings.absolute
            )
            account = None if expired else session.get(StaffAccount, row.staff_id)
            touch = now - row.last_seen_at > self.settings.touch_every
        if expired:
            self._update_session(id_hash, ended_at=now)
            return None
        if not _usable(account):
            return None
        if touch:
            self._update_session(id_hash, last_seen_at=now)
        return SignedIn(Staff.of(account), row.csrf_token, row.id_hash)  # type: ignore[arg-type]

    def _update_session(self, id_hash: str, **values: datetime) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(StaffSession)
                .where(StaffSession.id_hash == id_hash, StaffSession.ended_at.is_(None))
                .values(**values)
            )

    def end(self, id_hash: str) -> None:
        with self.db.transaction() as session:
            row = session.get(StaffSession, id_hash)
            if row is not None and row.ended_at is None:
                row.ended_at = self.clock()

    def reopen(self, previous: SignedIn, client_address: str) -> tuple[str, str] | None:
        """The session that changed its account's password, again under a new cookie secret
        and CSRF token (the change ended it with every other): (secret, CSRF token), or None
        when the request came with a token, or the session did not end with the account's
        latest password change (signed out meanwhile, or the password reset since). It keeps
        its start, so the working day's limit still counts from the sign-in."""
        if previous.session_id_hash is None:
            return None
        now = self.clock()
        with self.db.transaction() as session:
            old = session.get(StaffSession, previous.session_id_hash)
            account = session.get(StaffAccount, previous.staff.id)
            if (
                old is None
                or old.staff_id != previous.staff.id
                or not _usable(account)
                or account.must_change_password  # type: ignore[union-attr]
                or old.ended_at is None
                or old.ended_at != account.password_changed_at  # type: ignore[union-attr]
            ):
                return None
            return _add_session(
                session, old.staff_id, client_address, started=old.created_at, now=now
            )

    def issue_token(
        self,
        staff: Staff,
        name: str,
        ttl: timedelta | None = None,
        *,
        client_address: str = "",
        session_id_hash: str | None = None,
    ) -> str:
        """A new personal API token, shown once; the database keeps only its hash, with where
        it was asked for: the client address and the console session (none from the command
        line). The caller has checked the password (`routes.create_token`)."""
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
                    created_from=client_address[:64],
                    created_in_session=session_id_hash,
                )
            )
        return token

    def resolve_token(self, token: str) -> SignedIn | None:
        """The account behind a live, unrevoked API token (read as `resolve` reads)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_SECRET_LENGTH:
            return None
        now, token_hash = self.clock(), _digest(token)
        with self.db.reading() as session:
            row = session.get(StaffApiToken, token_hash)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            account = session.get(StaffAccount, row.staff_id)
            if not _usable(account):
                return None
            every = self.settings.touch_every
            touch = row.last_used_at is None or now - row.last_used_at > every
        if touch:
            with self.db.transaction() as session:
                session.execute(
                    update(StaffApiToken)
                    .where(StaffApiToken.token_hash == token_hash)
                    .values(last_used_at=now)
                )
        return SignedIn(Staff.of(account), None, None, token_hash)  # type: ignore[arg-type]

    def tokens(self, staff_id: int) -> list[TokenInfo]:
        """The account's live tokens (not revoked, not expired), newest first."""
        now = self.clock()
        with self.db.reading() as session:
            rows = session.scalars(
                select(StaffApiToken)
                .where(
                    StaffApiToken.staff_id == staff_id,
                    StaffApiToken.revoked_at.is_(None),
                    StaffApiToken.expires_at > now,
                )
                .order_by(StaffApiToken.created_at.desc())
            )
            return [
                TokenInfo(
                    token_id(r.token_hash),
                    r.name,
                    r.prefix,
                    r.created_at,
                    r.expires_at,
                    r.last_used_at,
                    r.created_from,
                )
                for r in rows
            ]

    def revoke_token(self, staff_id: int, *, by_hash: str = "", by_id: str = "") -> bool:
        """Revoke one of the account's live tokens, named by its hash or by its `token_id`;
        False when the account has no such live token."""
        now = self.clock()
        with self.db.transaction() as session:
            rows = session.scalars(
                select(StaffApiToken).where(
                    StaffApiToken.staff_id == staff_id, StaffApiToken.revoked_at.is_(None)
                )
            )
            for row in rows:
                if row.expires_at > now and (
                    (by_hash and row.token_hash == by_hash)
                    or (by_id and token_id(row.token_hash) == by_id)
                ):
                    row.revoked_at = now
                    return True
        return False


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens; a missing one never matches."""
    return bool(expected and given) and hmac.compare_digest(expected or "", given or "")
