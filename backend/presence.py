"""Presence: online, degraded or offline, from the will, heartbeats and the takeover reason.

- A terminal's online status (retained, on connect) and its heartbeats (the same status, not
  retained, every third of its keep-alive) say it is there; each sets `silent_after`, the
  moment 1.5 x its keep-alive from now. The monitor takes a terminal not heard from by then as
  offline (`heartbeats_missing`): a cut network, a hung process or a broker that lost the
  connection without its will are all seen within 1.5 x the keep-alive.
- Its offline status (the will, `connection_lost`, or a clean `stopped`) ends that connection:
  no later status of the same connection number brings it back (a reordered heartbeat).
- Online but with a heartbeat late, or a device reporting a fault, is `degraded`.
- Offline for longer than the grace period raises one `offline` alarm; coming back clears it,
  and going away again soon after reopens the same alarm (backend/alarms.py): a flapping
  terminal has one alarm.
- An online status saying the previous connection was taken over (MQTT 5 reason 0x8E) means
  another client used the terminal's identity: a security alarm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .alarms import LIVE, Alarms
from .db import Database
from .models import AlarmRow, Terminal, TerminalConnection, utcnow
from .outcomes import STORED, Applied, Refused

log = logging.getLogger(__name__)


class PresenceState(StrEnum):
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # registered, never heard


HEARTBEATS_MISSING = "heartbeats_missing"
HEARTBEATS_LATE = "heartbeats_late"


@dataclass(frozen=True)
class PresenceSettings:
    # For a terminal that announces no keep-alive (an older link).
    default_keepalive_s: int = 30
    # Offline this long raises the offline alarm (a reboot or a short network blip does not).
    offline_grace: timedelta = timedelta(minutes=5)
    # How often the monitor looks for silent terminals and overdue offline alarms.
    sweep_s: float = 1.0


def presence_of(t: Terminal, now: datetime, settings: PresenceSettings) -> tuple[str, str]:
    """The terminal's presence now and why: (state, reason)."""
    if t.last_status is None:
        return PresenceState.UNKNOWN.value, ""
    if t.last_status != m.TerminalState.ONLINE.value:
        return PresenceState.OFFLINE.value, t.presence_reason or ""
    keepalive = t.keepalive_s or settings.default_keepalive_s
    if t.last_heard_at is not None and now - t.last_heard_at > timedelta(seconds=keepalive * 2 / 3):
        return PresenceState.DEGRADED.value, HEARTBEATS_LATE
    faulty = sorted(
        name for name, d in ((t.telemetry or {}).get("devices") or {}).items() if not d.get("ok")
    )
    if faulty:
        return PresenceState.DEGRADED.value, "devices: " + ", ".join(faulty)
    return PresenceState.ONLINE.value, t.presence_reason or ""


class Presence:
    """Applies statuses and heartbeats, and sweeps for silent terminals (one shape for all)."""

    def __init__(
        self,
        alarms: Alarms,
        settings: PresenceSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.alarms, self.settings, self.clock = alarms, settings or PresenceSettings(), clock

    def _heard(self, t: Terminal, now: datetime) -> None:
        keepalive = t.keepalive_s or self.settings.default_keepalive_s
        t.last_heard_at = now
        t.silent_after = now + timedelta(seconds=1.5 * keepalive)

    def on_status(self, session: Session, msg: m.Status, t: Terminal, _a: Any = None) -> Applied:
        """An online status, heartbeat or offline status of one of the terminal's connections."""
        now = self.clock()
        online = msg.state == m.TerminalState.ONLINE
        if msg.connection is not None:
            seen = session.get(TerminalConnection, t.id)
            if seen is not None and msg.connection < seen.connection:
                raise Refused(
                    f"status of connection {msg.connection} after connection {seen.connection}"
                )
            if seen is not None and msg.connection == seen.connection and seen.ended and online:
                raise Refused(f"connection {msg.connection} already ended")
            if seen is None:
                seen = TerminalConnection(terminal_id=t.id, connection=msg.connection)
                session.add(seen)
            seen.connection, seen.ended = msg.connection, not online
        was_online = t.last_status == m.TerminalState.ONLINE.value
        # Arrival order, not sent_at: a last will carries the time of the connect that set it.
        t.last_status = msg.state.value
        t.software_version = msg.software_version
        t.status_sent_at = msg.sent_at
        if msg.keepalive_s is not None:
            t.keepalive_s = msg.keepalive_s
        if online:
            t.last_seen_at = max(filter(None, (t.last_seen_at, msg.sent_at)))
            self._heard(t, now)
            if msg.reason == m.PresenceReason.SESSION_TAKEN_OVER:
                t.presence_reason = msg.reason.value
                self.alarms.raise_alarm(
                    session,
                    t.id,
                    m.AlarmKind.SECURITY,
                    m.Severity.CRITICAL,
                    "another client connected with this terminal's identity and pushed its "
                    "connection off (MQTT session taken over): a copied certificate?",
                    now,
                    actor=f"terminal:{t.id}",
                )
            elif not was_online:
                t.presence_reason = None
            if not was_online:
                t.offline_since = None
                self.alarms.condition_ended(
                    session,
                    t.id,
                    m.AlarmKind.OFFLINE,
                    now,
                    actor=f"terminal:{t.id}",
                    note=f"back online (connection {msg.connection})",
                )
        else:
            t.presence_reason = (msg.reason or m.PresenceReason.CONNECTION_LOST).value
            t.silent_after = None
            if t.offline_since is None:
                t.offline_since = now
        return Applied(STORED)

    def on_heard(self, t: Terminal) -> None:
        """Any other message of an online terminal (telemetry) counts as a heartbeat."""
        if t.last_status == m.TerminalState.ONLINE.value:
            self._heard(t, self.clock())

    def sweep(self, session: Session, now: datetime | None = None) -> dict[str, int]:
        """Mark silent terminals offline and raise overdue offline alarms; counts of each."""
        now = now or self.clock()
        silent = list(
            session.scalars(
                select(Terminal)
                .where(
                    Terminal.last_status == m.TerminalState.ONLINE.value,
                    Terminal.silent_after < now,
                )
                .with_for_update(skip_locked=True)
            )
        )
        for t in silent:
            t.last_status = m.TerminalState.OFFLINE.value
            t.presence_reason = HEARTBEATS_MISSING
            t.offline_since = now
            t.silent_after = None
            log.warning("terminal %s silent since %s: offline", t.id, t.last_heard_at)
        # Live, or cleared by an operator during this very absence: nothing more to raise.
        alarmed = exists().where(
            and_(
                AlarmRow.terminal_id == Terminal.id,
                AlarmRow.kind == m.AlarmKind.OFFLINE.value,
                or_(AlarmRow.state.in_(LIVE), AlarmRow.cleared_at >= Terminal.offline_since),
            )
        )
        overdue = list(
            session.scalars(
                select(Terminal)
                .where(
                    Terminal.last_status == m.TerminalState.OFFLINE.value,
                    Terminal.offline_since <= now - self.settings.offline_grace,
                    ~alarmed,
                )
                .with_for_update(skip_locked=True)
            )
        )
        for t in overdue:
            assert t.offline_since is not None
            self.alarms.raise_alarm(
                session,
                t.id,
                m.AlarmKind.OFFLINE,
                m.Severity.WARNING,
                f"offline since {t.offline_since:%Y-%m-%d %H:%M:%S} UTC "
                f"({t.presence_reason or 'unknown'})",
                now,
                actor="backend",
                operation_id=f"offline-{t.offline_since:%Y%m%d%H%M%S%f}",
            )
        return {"went_silent": len(silent), "offline_alarms": len(overdue)}


class PresenceMonitor:
    """A thread running `Presence.sweep` every `sweep_s`; safe with several backend workers."""

    def __init__(self, db: Database, presence: Presence):
        self.db, self.presence = db, presence
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="presence-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.presence.settings.sweep_s):
            try:
                with self.db.transaction() as session:
                    self.presence.sweep(session)
            except Exception:
                # Another worker's sweep raced this one (same alarm id), or the database is
                # away: the next sweep tries again.
                log.exception("presence sweep failed; trying again")
