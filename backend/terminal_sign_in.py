"""Staff sign-in at a terminal with a one-time code from the console (no shared PIN).

A signed-in staff member whose roles grant `terminal.service` asks the console for a code.
The code is 8 digits, lives a few minutes, opens one sign-in, and belongs to that person
(and, if they chose one, to one terminal). At the kiosk they type it; the terminal asks the
backend with `request.staff_sign_in` and is told who it is, or only "no".

Guessing is bounded per terminal: after `max_misses` wrong codes in `window`, that terminal's
codes are no longer checked, except a code issued for that very terminal. So a citizen typing
codes at one kiosk cannot lock staff out of it (they ask for a code bound to it), and no other
terminal or person is affected. Each answer is audited in `terminal_sign_ins`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .auth.roles import Permission, permissions_of
from .db import Database
from .models import BackendKey, StaffAccount, TerminalSignIn, TerminalSignInCode, utcnow

log = logging.getLogger(__name__)

CODE_KEY = "terminal_sign_in_code_key"
ACCEPTED, WRONG, THROTTLED, EXPIRED, NOT_ALLOWED = (
    "accepted",
    "wrong",
    "throttled",
    "expired",
    "not_allowed",
)
_MISSES = (WRONG, THROTTLED, NOT_ALLOWED)


class CodeRefused(Exception):
    """The console cannot issue a code: the terminal named is unknown, or the role lacks it."""


@dataclass(frozen=True)
class SignInSettings:
    ttl: timedelta = timedelta(minutes=5)
    max_misses: int = 10
    window: timedelta = timedelta(minutes=15)
    # How long a sign-in names the person for what the terminal reports under it.
    reports_for: timedelta = timedelta(hours=12)
    max_live_codes_per_staff: int = 5


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime
    terminal_id: str | None


def load_or_create_code_key(db: Database) -> bytes:
    """The key the codes' digests are made with; made once, on first start."""
    with db.transaction() as session:
        row = session.get(BackendKey, CODE_KEY)
        if row is None:
            row = BackendKey(name=CODE_KEY, value=secrets.token_bytes(32))
            session.add(row)
        return bytes(row.value)


class TerminalSignIns:
    """Issues codes to console users and answers `request.staff_sign_in`."""

    def __init__(
        self,
        key: bytes,
        settings: SignInSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.key = key
        self.settings = settings or SignInSettings()
        self.clock = clock

    def actor(self, session: Session, terminal_id: str, sign_in: str | None) -> str:
        """The audit's actor for what a terminal reports under the staff sign-in `sign_in`."""
        return staff_actor(session, terminal_id, sign_in, self.clock(), self.settings.reports_for)

    def _digest(self, code: str) -> str:
        return hmac.new(self.key, b"terminal-sign-in:" + code.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------ in the console

    def issue(self, session: Session, staff_id: int, terminal_id: str | None) -> IssuedCode:
        """A new code for this staff member; their older live codes stay valid until used."""
        from .models import Terminal

        account = session.get(StaffAccount, staff_id)
        if account is None or account.disabled_at is not None:
            raise CodeRefused("account disabled")
        if Permission.TERMINAL_SERVICE not in permissions_of(list(account.roles)):
            raise CodeRefused("role")
        if terminal_id is not None and session.get(Terminal, terminal_id) is None:
            raise CodeRefused("terminal")
        now = self.clock()
        live = session.scalars(
            select(TerminalSignInCode)
            .where(
                TerminalSignInCode.staff_id == staff_id,
                TerminalSignInCode.used_at.is_(None),
                TerminalSignInCode.expires_at > now,
            )
            .order_by(TerminalSignInCode.issued_at)
        ).all()
        # A bounded number of live codes per person: the oldest is spent to make room.
        for old in live[: max(0, len(live) - self.settings.max_live_codes_per_staff + 1)]:
            old.used_at = now
        while True:
            code = f"{secrets.randbelow(10**8):08d}"
            digest = self._digest(code)
            if (
                session.scalar(
                    select(TerminalSignInCode.id).where(TerminalSignInCode.code_digest == digest)
                )
                is None
            ):
                break
        expires = now + self.settings.ttl
        session.add(
            TerminalSignInCode(
                code_digest=digest,
                staff_id=staff_id,
                terminal_id=terminal_id,
                issued_at=now,
                expires_at=expires,
            )
        )
        session.flush()
        log.info("terminal sign-in code issued to staff %d for %s", staff_id, terminal_id or "any")
        return IssuedCode(code, expires, terminal_id)

    # ------------------------------------------------------------ at the terminal

    def answer(self, session: Session, query: m.StaffSignInQuery) -> m.StaffSignIn | None:
        """The response to publish, or None for a request that expired on the way."""
        now = self.clock()
        if query.expired(now):
            self._audit(session, query, EXPIRED, None, now)
            return None
        row = session.scalar(
            select(TerminalSignInCode).where(
                TerminalSignInCode.code_digest == self._digest(query.code)
            )
        )
        usable = (
            row is not None
            and row.used_at is None
            and row.expires_at > now
            and row.terminal_id in (None, query.terminal_id)
        )
        bound_here = usable and row is not None and row.terminal_id == query.terminal_id
        if not bound_here and self._misses(session, query.terminal_id, now) >= (
            self.settings.max_misses
        ):
            self._audit(session, query, THROTTLED, None, now)
            log.warning(
                "staff sign-in at %s not checked: %d wrong codes within %s",
                query.terminal_id,
                self.settings.max_misses,
                self.settings.window,
            )
            return self._response(query, None)
        if not usable or row is None:
            self._audit(session, query, WRONG, None, now)
            return self._response(query, None)
        account = session.get(StaffAccount, row.staff_id)
        row.used_at, row.used_by_terminal = now, query.terminal_id
        if (
            account is None
            or account.disabled_at is not None
            or Permission.TERMINAL_SERVICE not in permissions_of(list(account.roles))
        ):
            # Disabled or demoted since the code was issued: the code is spent all the same.
            self._audit(session, query, NOT_ALLOWED, row.staff_id, now)
            return self._response(query, None)
        self._audit(session, query, ACCEPTED, account.id, now)
        log.info("staff %s signed in at terminal %s", account.username, query.terminal_id)
        return self._response(query, account)

    def _misses(self, session: Session, terminal_id: str, now: datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(TerminalSignIn)
                .where(
                    TerminalSignIn.terminal_id == terminal_id,
                    TerminalSignIn.outcome.in_(_MISSES),
                    TerminalSignIn.at > now - self.settings.window,
                )
            )
            or 0
        )

    def _audit(
        self,
        session: Session,
        query: m.StaffSignInQuery,
        outcome: str,
        staff_id: int | None,
        now: datetime,
    ) -> None:
        session.add(
            TerminalSignIn(
                terminal_id=query.terminal_id,
                operation_id=query.operation_id,
                outcome=outcome,
                staff_id=staff_id,
                at=now,
            )
        )
        session.flush()

    @staticmethod
    def _response(query: m.StaffSignInQuery, account: StaffAccount | None) -> m.StaffSignIn:
        return m.StaffSignIn(
            terminal_id=query.terminal_id,
            operation_id=query.operation_id,
            request_id=query.message_id,
            accepted=account is not None,
            username=account.username if account else None,
            display_name=(account.display_name or None) if account else None,
            expires_at=query.expires_at,
        )


def staff_actor(
    session: Session,
    terminal_id: str,
    sign_in: str | None,
    now: datetime,
    reports_for: timedelta = SignInSettings.reports_for,
) -> str:
    """`{username}@terminal:{id}` when `sign_in` is a sign-in the backend accepted there.

    The terminal names only the sign-in; the person comes from the backend's own record, so
    a terminal cannot claim someone who never signed in at it. Otherwise `terminal:{id}`.
    """
    plain = f"terminal:{terminal_id}"
    if not sign_in:
        return plain
    row = session.scalar(
        select(TerminalSignIn).where(
            TerminalSignIn.terminal_id == terminal_id,
            TerminalSignIn.operation_id == sign_in,
            TerminalSignIn.outcome == ACCEPTED,
            TerminalSignIn.at > now - reports_for,
        )
    )
    account = session.get(StaffAccount, row.staff_id) if row and row.staff_id else None
    if account is None:
        log.warning("terminal %s reported under an unknown staff sign-in", terminal_id)
        return plain
    return f"{account.username}@{plain}"
