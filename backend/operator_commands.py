"""Operators' commands to one terminal: open a compartment for service, restart the kiosk,
resync its state, fetch its diagnostics.

Each is a signed command (ADR 0007) written to the commands table with the signed-in operator
and the reason, published after commit, and followed like every command (backend/commands.py):
queued, sent, delivered, then done (with what it reported: the door's state, the
diagnostics...), failed (the terminal's words: capped, unknown compartment...) or expired. A
terminal offline gets it when it reconnects if it has not expired; the backend re-sends open
commands after its own restart (`commands.resend_open`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cloud_bridge.contract import messages as m

from . import commands
from .commands import CommandPublisher
from .db import Database
from .models import Terminal, utcnow

log = logging.getLogger(__name__)

# An operator acts on what they see now: a restart or an opening an hour late helps nobody.
OPERATOR_TTL = timedelta(minutes=15)
KINDS: dict[str, type[m.Command]] = {
    "open_compartment": m.OpenCompartment,
    "restart_kiosk": m.RestartKiosk,
    "resync_state": m.ResyncState,
    "fetch_diagnostics": m.FetchDiagnostics,
    "out_of_service": m.OutOfService,
    "back_in_service": m.BackInService,
}
# Out of service and back stay wanted while a terminal is away: it gets them when it returns.
SERVICE_TTL = timedelta(hours=24)
SERVICE_KINDS = (m.OutOfService, m.BackInService)


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
        service_ttl: timedelta = SERVICE_TTL,
    ):
        self.db = db
        self.publisher = publisher
        self.clock = clock
        self.ttl = ttl
        self.service_ttl = service_ttl

    def issue(
        self,
        terminal_id: str,
        kind: str,
        by: str,
        reason: str,
        compartment_id: str | None = None,
        service_reason: str | None = None,
        hold: str | None = None,
    ) -> m.Command:
        """Send one command. `reason` is the operator's words, kept with every command; out of
        service and back also take `service_reason` from the fixed list (m.ServiceReason), with
        `reason` as its note, and out of service a `hold` (closed, the default, or locked)."""
        cls = KINDS.get(kind)
        if cls is None:
            raise CommandRefused(f"unknown command {kind!r}; one of {', '.join(KINDS)}")
        service = cls in SERVICE_KINDS
        fields: dict[str, Any] = {}
        if cls is m.OpenCompartment:
            if not compartment_id:
                raise CommandRefused("open_compartment needs a compartment_id")
            fields["compartment_id"] = compartment_id
        elif compartment_id and not service:
            raise CommandRefused(f"{kind} takes no compartment_id")
        if cls in (m.OpenCompartment, m.RestartKiosk):
            fields["reason"] = reason
        if service:
            if not service_reason:
                reasons = ", ".join(r.value for r in m.ServiceReason)
                raise CommandRefused(f"{kind} needs a service_reason; one of {reasons}")
            fields.update(reason=service_reason, note=reason, compartment_id=compartment_id)
            if hold is not None:
                if cls is not m.OutOfService:
                    raise CommandRefused(f"{kind} takes no hold")
                fields["hold"] = hold
        elif service_reason is not None or hold is not None:
            raise CommandRefused(f"{kind} takes no service_reason or hold")
        try:
            command = cls(
                terminal_id=terminal_id,
                operation_id=f"OPS-{m.new_message_id()[:12]}",
                expires_at=self.clock() + (self.service_ttl if service else self.ttl),
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
        except Exception:  # the row stays queued; resend_open() publishes it again
            log.exception("publishing operator command %s failed", command.message_id)
        log.info("%s sent %s to %s: %s", by, kind, terminal_id, reason)
        return command
