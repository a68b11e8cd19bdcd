"""Configuration bundles from the backend: check, record per terminal, publish, follow.

An operator pushes a catalog version an admin published in the editor (the shape of
cloud_bridge/contract/catalog.py; never a raw document, which would pass by `catalog.edit` and its
history) as a bundle version to one terminal, a list of terminals, or all. The backend checks the
document with the same schema the terminal uses (a malformed one is refused here, naming the place,
and nothing is sent),
then writes one ApplyConfigBundle command per terminal in the commands table with who pushed it and
why, and publishes them after commit. The commands table then follows each one: pending until the
terminal acks, done (it runs the version) or rejected (the terminal's words, e.g. "rolled back to
dc-2026.12-1: catalog: GS-0307 needs a size L compartment, the largest is M"), or expired.
`status()` is what the console and GET /api/fleet/bundles show.
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
from cloud_bridge.contract.catalog import CatalogError, parse_catalog
from cloud_bridge.contract.config_parts import ConfigRefused, check_layout, check_settings

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


def checked_version(document: dict[str, Any]) -> str:
    """The bundle version of `document`, checked with the schema the terminal runs."""
    try:
        catalog = parse_catalog(document)
    except CatalogError as exc:
        raise BundleRefused(f"catalog: {exc}") from None
    if catalog.version == "builtin":
        raise BundleRefused("version 'builtin' is reserved for the terminal's own catalog")
    return catalog.version


def checked_parts(layout: list[dict[str, Any]] | None, settings: dict[str, Any] | None) -> None:
    """A bundle's layout and settings, checked with the contract's functions, as the terminal does.

    The layout's shape only: which boards and channels exist is known to each terminal, which
    checks them again, with what its compartments hold, before it applies the bundle.
    """
    try:
        if layout is not None:
            boards = {str(c.get("board", "main")): None for c in layout if isinstance(c, dict)}
            check_layout(layout, boards or {"main": None})
        if settings is not None:
            check_settings(settings)
    except ConfigRefused as exc:
        raise BundleRefused(str(exc)) from None


def bundle_command(
    terminal_id: str,
    document: dict[str, Any] | None,
    version: str,
    expires_at: datetime,
    *,
    layout: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
) -> m.ApplyConfigBundle:
    """The signed command that carries bundle `version` to one terminal (pushes and rollouts)."""
    return m.ApplyConfigBundle(
        terminal_id=terminal_id,
        operation_id=version,
        bundle_version=version,
        catalog=document,
        layout=layout,
        settings=settings,
        expires_at=expires_at,
    )


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
        self,
        document: dict[str, Any] | None,
        terminals: Sequence[str] | None,
        by: str,
        note: str = "",
        *,
        layout: list[dict[str, Any]] | None = None,
        settings: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> Pushed:
        """Send a bundle to `terminals` (None: every registered terminal).

        `document` is a catalog (its version is the bundle's); `layout` and `settings` are the
        bundle's other parts. A bundle without a catalog names its `version`.
        """
        if document is not None:
            version = checked_version(document)
        elif layout is None and settings is None:
            raise BundleRefused("a bundle carries a catalog, a layout or settings")
        elif version is None or version == "builtin":
            raise BundleRefused("a bundle without a catalog needs its own version")
        checked_parts(layout, settings)
        expires_at = self.clock() + self.ttl
        return self._issue(
            lambda terminal_id: bundle_command(
                terminal_id, document, version, expires_at, layout=layout, settings=settings
            ),
            terminals,
            by,
            note,
            version,
        )

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
            except Exception:  # the row stays queued; resend_open() publishes it again
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
            **commands.timestamps(r),
        }
        for r in rows
    ]


def _running(row: CommandRow) -> str | None:
    """The configuration the terminal said it runs after this command, when it said."""
    if row.status == commands.DONE:
        return (row.result or {}).get("config_version")
    if row.status == commands.FAILED and row.detail.startswith("rolled back to "):
        return row.detail.removeprefix("rolled back to ").split(":", 1)[0]
    return None
