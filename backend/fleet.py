"""Terminals the backend knows: only registered terminals are listened to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import topics

from .alarms import LIVE
from .models import AlarmRow, Terminal
from .presence import PresenceSettings, presence_of


def register_terminal(session: Session, terminal_id: str, pickup_code_key: bytes) -> Terminal:
    """Register a terminal (or replace its pickup-code key); ValueError on a bad id or key."""
    topics.check_terminal_id(terminal_id)
    if len(pickup_code_key) < 16:
        raise ValueError("a pickup-code key needs at least 16 bytes")
    terminal = session.get(Terminal, terminal_id)
    if terminal is None:
        terminal = Terminal(id=terminal_id, pickup_code_key=pickup_code_key)
        session.add(terminal)
    else:
        terminal.pickup_code_key = pickup_code_key
    return terminal


def list_terminals(
    session: Session, now: datetime, settings: PresenceSettings, terminal_id: str | None = None
) -> list[dict[str, Any]]:
    """Every terminal (or only `terminal_id`): presence (state and why), versions, last
    telemetry, live alarms."""
    alarms = select(AlarmRow).where(AlarmRow.state.in_(LIVE)).order_by(AlarmRow.raised_at.desc())
    terminals = select(Terminal).order_by(Terminal.id)
    if terminal_id is not None:
        alarms = alarms.where(AlarmRow.terminal_id == terminal_id)
        terminals = terminals.where(Terminal.id == terminal_id)
    live: dict[str, list[dict[str, Any]]] = {}
    for a in session.scalars(alarms):
        live.setdefault(a.terminal_id, []).append(
            {
                "operation_id": a.operation_id,
                "kind": a.kind,
                "severity": a.severity,
                "state": a.state,
                "occurrences": a.occurrences,
            }
        )
    out = []
    for t in session.scalars(terminals):
        state, reason = presence_of(t, now, settings)
        out.append(
            {
                "terminal_id": t.id,
                "status": state,
                "status_reason": reason,
                "offline_since": t.offline_since,
                "last_heard_at": t.last_heard_at,
                "keepalive_s": t.keepalive_s,
                "software_version": t.software_version,
                "last_seen_at": t.last_seen_at,
                "telemetry": t.telemetry,
                "open_alarms": live.get(t.id, []),
            }
        )
    return out
