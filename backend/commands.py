"""Commands to terminals and their lifecycle (ADR 0022).

A command is written to the commands table with the state change that makes it (same
transaction), published after commit, and then moves only forward:

    queued ──PUBACK──▶ sent ──"received" ack──▶ delivered ──final ack──▶ done | failed
       │                 │                         │
       └── expiry ───────┴──▶ expired              └── no answer long after expiry ──▶ failed

- queued: stored, not yet accepted by the broker (no broker, a broker that dropped it because
  the terminal has no session, or a backend that stopped before the PUBACK);
- sent: the broker acknowledged it (PUBACK, reason success): it sits in the terminal's session;
- delivered: the terminal verified its signature and sequence and said so (a signed CommandAck
  with outcome `received`);
- done / failed / expired: the terminal's final answer (`done`, `rejected` with its reason,
  `expired`), or the backend's own expiry of a command the terminal never received.

An ack that would move a command backwards (a late `received`, a repeated answer) is folded
into what is already recorded. Every state has its time (created_at, sent_at, delivered_at,
finished_at), so the console shows where a command is and since when. The rows survive a backend
restart; every open, unexpired one is published again (same message id) until it is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .db import Database
from .models import CommandRow, utcnow

log = logging.getLogger(__name__)

QUEUED = "queued"
SENT = "sent"
DELIVERED = "delivered"
DONE = "done"
FAILED = "failed"
EXPIRED = "expired"
OPEN = (QUEUED, SENT, DELIVERED)
FINAL = (DONE, FAILED, EXPIRED)
STATES = OPEN + FINAL
# The terminal's final answer, as the command's state.
_FINAL_OF = {
    m.AckOutcome.DONE: DONE,
    m.AckOutcome.REJECTED: FAILED,
    m.AckOutcome.EXPIRED: EXPIRED,
}
# A delivered command is answered by the terminal, whatever its expiry (it records every answer
# on disk before acking the broker). One still unanswered this long after its expiry has been
# lost with its terminal's disk: it is failed, not left open for ever.
ANSWER_GRACE = timedelta(hours=1)


class CommandPublisher(Protocol):
    """Puts one command on its terminal's command topic."""

    def publish(self, message: m.Message) -> None: ...


def record(session: Session, command: m.Message) -> CommandRow:
    """Write `command` as a queued row of the commands table (same transaction as the change)."""
    row = CommandRow(
        command_id=command.message_id,
        terminal_id=command.terminal_id,
        type=m.type_name(type(command)),
        operation_id=command.operation_id,  # type: ignore[attr-defined]
        payload=command.model_dump(mode="json"),
        status=QUEUED,
        expires_at=command.expires_at,  # type: ignore[attr-defined]
    )
    session.add(row)
    return row


def as_message(row: CommandRow) -> m.Message:
    """The command a row holds, exactly as first published (same message_id)."""
    return m.BY_TYPE[row.type].model_validate(row.payload)


def supersede(session: Session, command_type: str, load_id: str, keep: str) -> None:
    """Expire the still-open commands of `command_type` for a load, except `keep`."""
    rows = session.scalars(
        select(CommandRow).where(
            CommandRow.type == command_type,
            CommandRow.status.in_(OPEN),
            CommandRow.operation_id.startswith(load_id, autoescape=True),
            CommandRow.command_id != keep,
        )
    )
    for row in rows:
        if row.payload.get("load_id") == load_id:
            row.status, row.detail, row.finished_at = EXPIRED, "superseded", utcnow()


def mark_sent(db: Database, sent: Iterable[tuple[str, datetime]]) -> int:
    """Record the broker's PUBACKs: queued commands become sent; returns how many moved."""
    moved = 0
    by_time: dict[datetime, list[str]] = {}
    for command_id, at in sent:
        by_time.setdefault(at, []).append(command_id)
    if not by_time:
        return 0
    with db.transaction() as session:
        for at, ids in by_time.items():
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                # The first PUBACK's time, even when the terminal's ack came in first.
                session.execute(
                    update(CommandRow)
                    .where(CommandRow.command_id.in_(chunk), CommandRow.sent_at.is_(None))
                    .values(sent_at=at)
                )
                result = session.execute(
                    update(CommandRow)
                    .where(CommandRow.command_id.in_(chunk), CommandRow.status == QUEUED)
                    .values(status=SENT)
                )
                moved += result.rowcount or 0  # type: ignore[attr-defined]
    return moved


def apply_ack(row: CommandRow, ack: m.CommandAck, now: datetime) -> bool:
    """Move `row` forward by the terminal's ack; False if the ack changes nothing (folded)."""
    if ack.outcome == m.AckOutcome.RECEIVED:
        if row.status in FINAL:
            return False  # late: the answer is in already
        if row.status == DELIVERED:
            return False
        row.status, row.delivered_at = DELIVERED, now
        return True
    if row.status in FINAL and not _expired_unseen(row):
        return False  # answered already: a repeated ack
    row.status = _FINAL_OF[ack.outcome]
    row.detail, row.result = ack.detail, dict(ack.result) or None
    # A final answer says the terminal had it, whether or not its `received` came first.
    row.delivered_at = row.delivered_at or now
    row.finished_at = now
    return True


def view(row: CommandRow) -> dict[str, Any]:
    """One command as the API and the console show it: its state, times and the answer."""
    return {
        "command_id": row.command_id,
        "terminal_id": row.terminal_id,
        "type": row.type,
        "operation_id": row.operation_id,
        "status": row.status,
        "detail": row.detail,
        "result": row.result or {},
        "issued_by": row.issued_by,
        "note": row.note,
        **timestamps(row),
    }


def listing(
    session: Session,
    terminal_id: str | None = None,
    state: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Commands newest first, of one terminal and/or in one state (ValueError if unknown)."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown command state {state!r}; one of {', '.join(STATES)}")
    query = select(CommandRow).order_by(CommandRow.created_at.desc()).limit(limit)
    if terminal_id is not None:
        query = query.where(CommandRow.terminal_id == terminal_id)
    if state is not None:
        query = query.where(CommandRow.status == state)
    return [view(r) for r in session.scalars(query)]


def counts(session: Session) -> dict[str, int]:
    """How many commands are in each state (every state, zeros included)."""
    found = dict(
        session.execute(select(CommandRow.status, func.count()).group_by(CommandRow.status)).all()
    )
    return {s: int(found.get(s, 0)) for s in STATES}


def timestamps(row: CommandRow) -> dict[str, str | None]:
    """When the command entered each state it reached (ISO 8601), for the API and the console."""
    return {
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "expires_at": row.expires_at.isoformat(),
    }


def _expired_unseen(row: CommandRow) -> bool:
    """Expired by the backend (or superseded) with no word from the terminal.

    The one final state a terminal's answer replaces: the terminal knows what it did (its clock
    may run behind the backend's), and the record must say a door opened if it did.
    """
    return row.status == EXPIRED and row.delivered_at is None


def resend_open(db: Database, publisher: CommandPublisher, now: datetime | None = None) -> int:
    """Republish every open command still worth sending (same message id); close the rest.

    A queued or sent command past its expiry is expired: the terminal never had it, and would
    refuse it now. A delivered one is sent again even past its expiry, so that the terminal
    repeats the answer it recorded (or answers `expired`), until ANSWER_GRACE after its expiry.
    """
    now = now or utcnow()
    out: list[m.Message] = []
    with db.transaction() as session:
        for row in session.scalars(
            select(CommandRow).where(CommandRow.status.in_(OPEN)).order_by(CommandRow.created_at)
        ):
            if row.status != DELIVERED and row.expires_at <= now:
                row.status, row.finished_at = EXPIRED, now
                row.detail = "expired before the terminal received it"
                continue
            if row.status == DELIVERED and row.expires_at + ANSWER_GRACE <= now:
                row.status, row.finished_at = FAILED, now
                row.detail = "received by the terminal, never answered"
                continue
            out.append(as_message(row))
    for message in out:
        publisher.publish(message)
    if out:
        log.info("republished %d open commands", len(out))
    return len(out)
