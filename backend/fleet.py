"""Terminals the backend knows: only registered terminals are listened to."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud_bridge.contract import topics

from .models import Terminal


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
