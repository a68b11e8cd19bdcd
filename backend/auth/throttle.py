"""Login throttling per account and per client address, kept in the database for every worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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


def account_scope(username: str) -> str:
    return f"account:{username.lower()[:64]}"


def address_scope(address: str) -> str:
    return f"address:{address[:64]}"


def retry_after(session: Session, scopes: list[str], now: datetime) -> float:
    """Seconds until every given scope may try again (0 when none is locked)."""
    wait = 0.0
    for scope in scopes:
        row = session.get(LoginThrottle, scope)
        if row and row.locked_until and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
    return wait


def record_failure(session: Session, scope: str, now: datetime, settings: ThrottleSettings) -> None:
    """Count one failure for the scope and lock it once it passes its limit."""
    row = session.get(LoginThrottle, scope)
    if row is None:
        row = LoginThrottle(scope=scope, failures=0, window_started_at=now)
        session.add(row)
    if now - row.window_started_at > settings.window and not (
        row.locked_until and row.locked_until > now
    ):
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    is_account = scope.startswith("account:")
    limit = settings.account_failures if is_account else settings.address_failures
    if row.failures >= limit:
        if is_account:
            lock = settings.account_lock * 2 ** (row.failures - limit)
            lock = min(lock, settings.account_lock_max)
        else:
            lock = settings.address_lock
        row.locked_until = now + lock


def clear(session: Session, scope: str) -> None:
    """Forget the scope's failures (after a successful sign-in)."""
    row = session.get(LoginThrottle, scope)
    if row is not None:
        session.delete(row)
