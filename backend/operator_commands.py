"""Operators' commands to one terminal: open a compartment for service, restart the kiosk,
resync its state, fetch its diagnostics.

Each is a signed command (ADR 0007) written to the commands table with the signed-in operator
and the reason, published after commit, and followed like every command: pending until the
terminal acks, then done (with what it reported: the door's state, the diagnostics...),
rejected (the terminal's words: capped, unknown compartment...) or expired. A terminal offline
gets it when it reconnects if it has not expired; the backend re-sends pending commands after
its own restart (`commands.resend_pending`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from . import commands
from .commands import CommandPublisher
from .db import Database
from .models import CommandRow, Terminal, utcnow

log = logging.getLogger(__name__)

# An operator acts on what they see now: a restart or an opening an hour late helps nobody.
OPERATOR_TTL = timedelta(minutes=15)
KINDS: dict[str, type[m.Command]] = {
    "open_compartment": m.OpenCompartment,
    "restart_kiosk": m.RestartKiosk,
    "resync_state": m.ResyncState,
    "fetch_diagnostics": m.FetchDiagnostics,
}


class CommandRefused(ValueError):
    """The command cannot be sent as asked."""


class UnknownTerminal(LookupError):
    pass


class OperatorCommands:
    def __init__(
        self,
        db: Database,
        publisher: CommandPublisher,
        clock: Callable[[], datetime] = utcnow,
        ttl: timedelta = OPERATOR_TTL,
    ):
        self.db = db
        self.publisher = publisher
        self.clock = clock
        self.ttl = ttl

    def issue(
        self,
        terminal_id: str,
        kind: str,
        by: str,
        reason: str,
        compartment_id: str | None = None,
    ) -> m.Command:
        cls = KINDS.get(kind)
        if cls is None:
            raise CommandRefused(f"unknown command {kind!r}; one of {', '.join(KINDS)}")
        fields: dict[str, Any] = {}
        if cls is m.OpenCompartment:
            if not compartment_id:
                raise CommandRefused("open_compartment needs a compartment_id")
            fields["compartment_id"] = compartment_id
        elif compartment_id:
            raise CommandRefused(f"{kind} takes no compartment_id")
        if cls in (m.OpenCompartment, m.RestartKiosk):
            fields["reason"] = reason
        try:
            command = cls(
                terminal_id=terminal_id,
                operation_id=f"OPS-{m.new_message_id()[:12]}",
                expires_at=self.clock() + self.ttl,
                **fields,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CommandRefused(f"{where}: {first['msg']}") from None
        with self.db.transaction() as session:
            if session.get(Terminal, terminal_id) is None:
                raise UnknownTerminal(terminal_id)
            row = commands.record(session, command)
            row.issued_by, row.note = by, reason
        try:
            self.publisher.publish(command)
        except Exception:  # the row stays pending; resend_pending() publishes it again
            log.exception("publishing operator command %s failed", command.message_id)
        log.info("%s sent %s to %s: %s", by, kind, terminal_id, reason)
        return command


def command_view(row: CommandRow) -> dict[str, Any]:
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
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "acked_at": row.acked_at.isoformat() if row.acked_at else None,
    }


def terminal_commands(session: Session, terminal_id: str, limit: int = 100) -> list[dict]:
    """Every command of one terminal, newest first, with its state and what the terminal said."""
    rows = session.scalars(
        select(CommandRow)
        .where(CommandRow.terminal_id == terminal_id)
        .order_by(CommandRow.created_at.desc())
        .limit(limit)
    )
    return [command_view(r) for r in rows]
