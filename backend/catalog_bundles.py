"""Configuration bundles from the backend: check, record per terminal, publish, follow.

An operator pushes a catalog document (terminal/catalog.py's shape) as a bundle version to one
terminal, a list of terminals, or all. The backend checks the document with the same schema the
terminal uses (a malformed one is refused here, naming the place, and nothing is sent), then
writes one ApplyConfigBundle command per terminal in the commands table with who pushed it and
why, and publishes them after commit. The commands table then follows each one: pending until
the terminal acks, done (it runs the version) or rejected (the terminal's words, e.g. "rolled
back to dc-2026.12-1: catalog: GS-0307 needs a size L compartment, the largest is M"), or
expired. `status()` is what the console and GET /api/fleet/bundles show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from terminal.catalog import CatalogError, parse_catalog

from . import commands
from .commands import CommandPublisher
from .db import Database
from .models import CommandRow, Terminal, utcnow

log = logging.getLogger(__name__)

# A terminal offline for a night still gets it in the morning; after that the operator decides.
BUNDLE_TTL = timedelta(hours=24)
BUNDLE_TYPES = (m.type_name(m.ApplyConfigBundle), m.type_name(m.RollbackConfigBundle))


class BundleRefused(ValueError):
    """The push cannot go out as asked (malformed catalog, unknown terminal, too large)."""


@dataclass(frozen=True)
class Pushed:
    version: str
    terminals: tuple[str, ...]
    command_ids: tuple[str, ...]


class ConfigBundles:
    def __init__(
        self,
        db: Database,
        publisher: CommandPublisher,
        clock: Callable[[], datetime] = utcnow,
        ttl: timedelta = BUNDLE_TTL,
    ):
        self.db = db
        self.publisher = publisher
        self.clock = clock
        self.ttl = ttl

    def push(
        self, document: dict[str, Any], terminals: Sequence[str] | None, by: str, note: str = ""
    ) -> Pushed:
        """Send `document` to `terminals` (None: every registered terminal)."""
        try:
            catalog = parse_catalog(document)
        except CatalogError as exc:
            raise BundleRefused(f"catalog: {exc}") from None
        version = catalog.version
        if version == "builtin":
            raise BundleRefused("version 'builtin' is reserved for the terminal's own catalog")

        def make(terminal_id: str) -> m.Message:
            return m.ApplyConfigBundle(
                terminal_id=terminal_id,
                operation_id=version,
                bundle_version=version,
                catalog=document,
                expires_at=self.clock() + self.ttl,
            )

        return self._issue(make, terminals, by, note, version)

    def rollback(self, terminals: Sequence[str] | None, by: str, reason: str) -> Pushed:
        """Ask `terminals` to go back to the configuration before their current one."""

        def make(terminal_id: str) -> m.Message:
            return m.RollbackConfigBundle(
                terminal_id=terminal_id,
                operation_id=f"rollback-{m.new_message_id()[:12]}",
                reason=reason,
                expires_at=self.clock() + self.ttl,
            )

        return self._issue(make, terminals, by, reason, "rollback")

    def _issue(
        self,
        make: Callable[[str], m.Message],
        terminals: Sequence[str] | None,
        by: str,
        note: str,
        version: str,
    ) -> Pushed:
        out: list[m.Message] = []
        with self.db.transaction() as session:
            known = set(session.scalars(select(Terminal.id)))
            targets = sorted(known) if terminals is None else list(dict.fromkeys(terminals))
            unknown = [t for t in targets if t not in known]
            if unknown:
                raise BundleRefused(f"unknown terminal(s): {', '.join(unknown[:10])}")
            if not targets:
                raise BundleRefused("no terminal to send to")
            for terminal_id in targets:
                command = make(terminal_id)
                size = len(command.encode())
                if size > m.MAX_MESSAGE_BYTES:
                    raise BundleRefused(
                        f"the bundle is {size} bytes on the wire, above {m.MAX_MESSAGE_BYTES}"
                    )
                row = commands.record(session, command)
                row.issued_by, row.note = by, note[:500]
                out.append(command)
        for command in out:
            try:
                self.publisher.publish(command)
            except Exception:  # the row stays pending; resend_pending() publishes it again
                log.exception("publishing bundle command %s failed", command.message_id)
        return Pushed(version, tuple(c.terminal_id for c in out), tuple(c.message_id for c in out))


def status(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """Per terminal, its bundle commands newest first: version, state, the terminal's words."""
    rows = session.scalars(
        select(CommandRow)
        .where(CommandRow.type.in_(BUNDLE_TYPES))
        .order_by(CommandRow.created_at.desc())
        .limit(limit)
    )
    return [
        {
            "terminal_id": r.terminal_id,
            "command_id": r.command_id,
            "kind": "rollback" if r.type == BUNDLE_TYPES[1] else "bundle",
            "version": r.payload.get("bundle_version"),
            "status": r.status,
            "detail": r.detail,
            "running": _running(r),
            "issued_by": r.issued_by,
            "note": r.note,
            "created_at": r.created_at.isoformat(),
            "acked_at": r.acked_at.isoformat() if r.acked_at else None,
        }
        for r in rows
    ]


def _running(row: CommandRow) -> str | None:
    """The configuration the terminal said it runs after this command, when it said."""
    if row.status == commands.DONE:
        return (row.result or {}).get("config_version")
    if row.status == commands.REJECTED and row.detail.startswith("rolled back to "):
        return row.detail.removeprefix("rolled back to ").split(":", 1)[0]
    return None
