"""Login throttling per account and per client address, kept in the database for every worker.

An attempt is counted before its password is checked: `reserve` counts it against each scope
in one atomic upsert per scope, in a short write transaction of its own, and the password is
verified after that transaction has committed (argon2 takes 100+ ms: verified inside a
transaction it held SQLite's write lock, and two attempts checked side by side on PostgreSQL
both read the old count). A reservation that failed stays counted as the failure; a sign-in
that succeeded clears the account (`clear`) and gives its address count back (`give_back`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..models import LoginThrottle


@dataclass(frozen=True)
class ThrottleSettings:
    window: timedelta = timedelta(minutes=15)
    account_failures: int = 5  # then the account is locked, doubling each further failure
    account_lock: timedelta = timedelta(minutes=5)
    account_lock_max: timedelta = timedelta(hours=1)
    address_failures: int = 20  # one address guessing across many accounts
    address_lock: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Counted:
    """One attempt counted against one scope: the scope's count with it, and the window it
    was counted in (so that giving it back never takes from a later window)."""

    scope: str
    failures: int
    window_started_at: datetime


def account_scope(username: str) -> str:
    return f"account:{username.lower()[:64]}"


def address_scope(address: str) -> str:
    return f"address:{address[:64]}"


def _lock_for(scope: str, failures: int, settings: ThrottleSettings) -> timedelta | None:
    """How long a scope with this many failures is locked (None: not yet at its limit)."""
    if scope.startswith("account:"):
        if failures < settings.account_failures:
            return None
        lock = settings.account_lock * 2 ** (failures - settings.account_failures)
        return min(lock, settings.account_lock_max)
    if failures < settings.address_failures:
        return None
    return settings.address_lock


def reserve(
    session: Session, scopes: list[str], now: datetime, settings: ThrottleSettings
) -> tuple[float, list[Counted]]:
    """Count one attempt against every scope, atomically, before its password is checked.

    Returns the seconds to wait and the counts. A wait above 0 means a scope is locked: the
    attempt must be refused and the caller's transaction rolled back (a refused attempt is not
    counted). Otherwise the attempt is counted in each scope as a failure until `give_back` or
    `clear` says otherwise, and a scope it brings to its limit is locked now, before the check:
    attempts made while it runs are refused, so no more than the limit are ever checked.

    Each scope is one `INSERT … ON CONFLICT (scope) DO UPDATE … RETURNING`: a row another
    transaction is inserting or updating is waited for (PostgreSQL) and then counted on, never
    lost or a unique-key violation. Scopes are taken in the order given (account, then address,
    everywhere), so two attempts never wait for each other in a circle."""
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}[session.get_bind().dialect.name]
    table = LoginThrottle
    at_now = literal(now, table.window_started_at.type)
    # The window starts again once it has passed, unless a lock is running.
    new_window = (table.window_started_at < now - settings.window) & or_(
        table.locked_until.is_(None), table.locked_until <= now
    )
    wait, counted = 0.0, []
    for scope in scopes:
        statement = (
            insert(table)
            .values(scope=scope, failures=1, window_started_at=now, locked_until=None)
            .on_conflict_do_update(
                index_elements=[table.scope],
                set_={
                    "failures": case((new_window, 1), else_=table.failures + 1),
                    "window_started_at": case((new_window, at_now), else_=table.window_started_at),
                },
            )
            .returning(table.failures, table.window_started_at, table.locked_until)
        )
        failures, window_started_at, locked_until = session.execute(statement).one()
        if locked_until is not None and locked_until > now:
            wait = max(wait, (locked_until - now).total_seconds())
        counted.append(Counted(scope, failures, window_started_at))
    if wait > 0:
        return wait, counted
    for c in counted:
        lock = _lock_for(c.scope, c.failures, settings)
        if lock is not None:
            session.execute(
                update(table).where(table.scope == c.scope).values(locked_until=now + lock)
            )
    return 0.0, counted


def give_back(session: Session, counted: Counted) -> None:
    """Take back one reserved attempt that turned out not to be a failure.

    A scope is only ever locked running at or past its limit, and this attempt was let
    through, so whatever lock the scope holds now was set by this attempt or by one counted
    after it: with this one gone, the count is what it would have been had this attempt never
    been made, and that count earned no running lock."""
    table = LoginThrottle
    session.execute(
        update(table)
        .where(
            table.scope == counted.scope,
            table.window_started_at == counted.window_started_at,
            table.failures > 0,
        )
        .values(failures=table.failures - 1, locked_until=None)
    )


def clear(session: Session, scope: str) -> None:
    """Forget the scope's failures (after a successful sign-in)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.scope == scope))
