"""What a terminal's link says about its presence: statuses, the will, heartbeats.

Every MQTT connection of a terminal has a number, counted on disk so it keeps increasing
across restarts; the will and every status of one connection carry it, so the backend can
tell a status of an earlier connection (a late will, a replay) from a newer one. The online
status is published retained on connect and again, not retained, as a heartbeat every third
of the keep-alive: the backend takes a terminal whose heartbeats stop for 1.5 x the keep-alive
as offline, even when its TCP connection looks alive to the broker (protocol.md, presence).
"""

from __future__ import annotations

from datetime import datetime

from .contract import messages as m
from .outbox import Outbox

# MQTT 5 DISCONNECT reason 0x8E: another client connected with this client id.
SESSION_TAKEN_OVER = 0x8E


class LinkPresence:
    """The statuses of one terminal link, numbered by connection."""

    def __init__(
        self,
        terminal_id: str,
        outbox: Outbox,
        software_version: str,
        keepalive_s: int,
        started_at: datetime,
    ):
        self.terminal_id, self.outbox = terminal_id, outbox
        self.software_version, self.keepalive_s = software_version, keepalive_s
        self.started_at = started_at
        self.connection: int | None = None
        self.taken_over = 0  # connections pushed off by another client with our identity
        self._tell_taken_over = False

    def status(self, state: m.TerminalState, reason: m.PresenceReason | None = None) -> m.Status:
        return m.Status(
            terminal_id=self.terminal_id,
            state=state,
            software_version=self.software_version,
            since=self.started_at,
            connection=self.connection,
            keepalive_s=self.keepalive_s,
            reason=reason,
        )

    def next_connection(self) -> int:
        """Count one more connection, on disk: numbers keep increasing across restarts."""
        with self.outbox.db.unit_of_work() as uow:  # the table: cloud_bridge.local_db
            uow.execute(
                "INSERT INTO link_connections VALUES (1, 1)"
                " ON CONFLICT(only_row) DO UPDATE SET last = last + 1"
            )
            (last,) = uow.execute("SELECT last FROM link_connections").fetchone()
        return int(last)

    def will(self) -> m.Status:
        """The next connection's number and the offline status the broker publishes for it."""
        self.connection = self.next_connection()
        return self.status(m.TerminalState.OFFLINE, m.PresenceReason.CONNECTION_LOST)

    def online(self) -> m.Status:
        """The retained online status of a new connection (says so after a takeover)."""
        reason = m.PresenceReason.SESSION_TAKEN_OVER if self._tell_taken_over else None
        self._tell_taken_over = False
        return self.status(m.TerminalState.ONLINE, reason)

    def heartbeat(self) -> m.Status:
        return self.status(m.TerminalState.ONLINE)

    def stopped(self) -> m.Status:
        return self.status(m.TerminalState.OFFLINE, m.PresenceReason.STOPPED)

    def disconnected(self, reason_code: object) -> None:
        """Note why the broker ended a connection; a takeover is told in the next status."""
        if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
            self.taken_over += 1
            self._tell_taken_over = True
