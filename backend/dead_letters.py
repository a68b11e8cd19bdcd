"""Upstream messages that failed every attempt: kept with their reason until staff replay them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, desc, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud_bridge.contract import messages as m

from .models import Base, utcnow

# A payload past this was refused by decode already, so it cannot have failed in a handler;
# anything bigger that still lands here is kept without its payload and cannot be replayed.
MAX_KEPT_PAYLOAD = m.MAX_MESSAGE_BYTES


class DeadLetterError(Exception):
    """A dead letter that cannot be replayed: unknown, already replayed, or without payload."""


class UnknownDeadLetter(DeadLetterError):
    """No dead letter has that id."""


class DeadLetter(Base):
    """One upstream message ingest gave up on, with its payload so it can be replayed."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(32))
    # The payload may hold personal data, like the applications table: never logged or listed.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int]
    reason: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int]
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replayed_by: Mapped[str | None] = mapped_column(String(64))
    replay_outcome: Mapped[str | None] = mapped_column(String(300))


def record(
    session: Session,
    topic: str,
    payload: bytes,
    reason: str,
    attempts: int,
    terminal_id: str | None,
    message_id: str | None,
    at: datetime,
) -> DeadLetter:
    """Keep a message ingest gave up on; the reason names an error kind, never content."""
    row = DeadLetter(
        topic=topic[:255],
        terminal_id=terminal_id,
        message_id=message_id,
        payload=payload if len(payload) <= MAX_KEPT_PAYLOAD else None,
        size=len(payload),
        reason=reason[:300],
        attempts=attempts,
        failed_at=at,
    )
    session.add(row)
    session.flush()
    return row


def describe(row: DeadLetter) -> dict[str, Any]:
    """A dead letter for staff: where it came from and why it failed, without its payload."""
    return {
        "id": row.id,
        "topic": row.topic,
        "terminal_id": row.terminal_id,
        "message_id": row.message_id,
        "size": row.size,
        "reason": row.reason,
        "attempts": row.attempts,
        "failed_at": row.failed_at,
        "replayable": row.payload is not None and row.replayed_at is None,
        "replayed_at": row.replayed_at,
        "replayed_by": row.replayed_by,
        "replay_outcome": row.replay_outcome,
    }


def list_dead_letters(
    session: Session, pending_only: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest dead letters first; `pending_only` leaves out those already replayed."""
    query = select(DeadLetter).order_by(desc(DeadLetter.id)).limit(limit)
    if pending_only:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return [describe(row) for row in session.scalars(query)]


def pending_count(session: Session) -> int:
    """How many dead letters wait for a replay."""
    query = select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    return session.scalar(query) or 0


def take_for_replay(session: Session, dead_letter_id: int) -> tuple[str, bytes]:
    """Topic and payload of a dead letter that may be replayed, or DeadLetterError."""
    row = session.get(DeadLetter, dead_letter_id)
    if row is None:
        raise UnknownDeadLetter(f"no dead letter {dead_letter_id}")
    if row.replayed_at is not None:
        raise DeadLetterError(f"dead letter {dead_letter_id} was replayed already")
    if row.payload is None:
        raise DeadLetterError(f"dead letter {dead_letter_id} kept no payload to replay")
    return row.topic, row.payload


def mark_replayed(
    session: Session, dead_letter_id: int, actor: str, outcome: str, at: datetime
) -> DeadLetter:
    """Note who replayed a dead letter, when, and what ingest made of it."""
    row = session.get(DeadLetter, dead_letter_id)
    if row is None:
        raise UnknownDeadLetter(f"no dead letter {dead_letter_id}")
    row.replayed_at, row.replayed_by, row.replay_outcome = at, actor[:64], outcome[:300]
    return row


def note_failed_replay(session: Session, dead_letter_id: int, reason: str) -> None:
    """A replay failed again: count the attempt and keep the newest reason."""
    row = session.get(DeadLetter, dead_letter_id)
    if row is not None:
        row.attempts += 1
        row.reason = reason[:300]
