"""Commands to terminals: written to the commands table with the state change, published after."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .db import Database
from .models import CommandRow, utcnow

log = logging.getLogger(__name__)

PENDING = "pending"
DONE = "done"
REJECTED = "rejected"
EXPIRED = "expired"


class CommandPublisher(Protocol):
    """Puts one command on its terminal's command topic."""

    def publish(self, message: m.Message) -> None: ...


def record(session: Session, command: m.Message) -> CommandRow:
    """Write `command` as a pending row of the commands table (same transaction as the change)."""
    row = CommandRow(
        command_id=command.message_id,
        terminal_id=command.terminal_id,
        type=m.type_name(type(command)),
        operation_id=command.operation_id,  # type: ignore[attr-defined]
        payload=command.model_dump(mode="json"),
        status=PENDING,
        expires_at=command.expires_at,  # type: ignore[attr-defined]
    )
    session.add(row)
    return row


def as_message(row: CommandRow) -> m.Message:
    """The command a row holds, exactly as first published (same message_id)."""
    return m.BY_TYPE[row.type].model_validate(row.payload)


def supersede(session: Session, command_type: str, load_id: str, keep: str) -> None:
    """Expire the still-pending commands of `command_type` for a load, except `keep`."""
    rows = session.scalars(
        select(CommandRow).where(
            CommandRow.type == command_type,
            CommandRow.status == PENDING,
            CommandRow.operation_id.startswith(load_id, autoescape=True),
            CommandRow.command_id != keep,
        )
    )
    for row in rows:
        if row.payload.get("load_id") == load_id:
            row.status, row.detail = EXPIRED, "superseded"


def resend_pending(db: Database, publisher: CommandPublisher, now: datetime | None = None) -> int:
    """Republish every pending, unexpired command (same message id); expire the rest."""
    now = now or utcnow()
    out: list[m.Message] = []
    with db.transaction() as session:
        for row in session.scalars(
            select(CommandRow).where(CommandRow.status == PENDING).order_by(CommandRow.created_at)
        ):
            if row.expires_at <= now:
                row.status, row.detail = EXPIRED, "expired before acknowledgement"
                continue
            out.append(as_message(row))
    for message in out:
        publisher.publish(message)
    if out:
        log.info("republished %d pending commands", len(out))
    return len(out)
