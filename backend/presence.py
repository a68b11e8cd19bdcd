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
- Each change of presence (state, or a new connection) is written to `presence_transitions`
  with its reason, connection and time: the terminal page's history. The same state said
  again (a heartbeat, a second will) writes nothing. The monitor keeps the last
  `history_keep` transitions of each terminal, none older than `history_days`, pruning once
  per cluster every `history_prune_every` (a lease, backend/schedule.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session, object_session

from cloud_bridge.contract import messages as m

from .alarms import LIVE, Alarms
from .db import Database
from .models import AlarmRow, PresenceTransition, Terminal, TerminalConnection, utcnow
from .outcomes import STORED, Applied, Refused
from .schedule import ClusterLease

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
    # Presence history: transitions kept per terminal, for at most this many days, pruned
    # this often by one worker.
    history_keep: int = 200
    history_days: int = 90
    history_prune_every: timedelta = timedelta(minutes=10)


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
        t.late_after = now + timedelta(seconds=keepalive * 2 / 3)
        t.silent_after = now + timedelta(seconds=1.5 * keepalive)

    def _record(
        self, session: Session, t: Terminal, now: datetime, connection: int | None = None
    ) -> None:
        """Write a transition if the terminal's presence or connection is not the recorded one."""
        state, reason = presence_of(t, now, self.settings)
        if state == PresenceState.UNKNOWN.value:
            return
        if connection is None:
            connection = t.presence_connection
        if state == t.presence_state and connection == t.presence_connection:
            return
        t.presence_state, t.presence_connection = state, connection
        session.add(
            PresenceTransition(
                terminal_id=t.id, state=state, reason=reason[:200], connection=connection, at=now
            )
        )

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
            t.silent_after = t.late_after = None
            if t.offline_since is None:
                t.offline_since = now
        self._record(session, t, now, msg.connection)
        return Applied(STORED)

    def on_heard(self, t: Terminal) -> None:
        """Any other message of an online terminal (telemetry) counts as a heartbeat; its
        devices may have made the terminal degraded or well again (written in the terminal's
        own session)."""
        if t.last_status == m.TerminalState.ONLINE.value:
            now = self.clock()
            self._heard(t, now)
            session = object_session(t)
            if session is not None:
                self._record(session, t, now)

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
            t.silent_after = t.late_after = None
            self._record(session, t, now)
            log.warning("terminal %s silent since %s: offline", t.id, t.last_heard_at)
        # Heartbeats late but not yet missing: degraded, written once until heard again.
        late = list(
            session.scalars(
                select(Terminal)
                .where(
                    Terminal.last_status == m.TerminalState.ONLINE.value,
                    Terminal.late_after < now,
                    Terminal.presence_state == PresenceState.ONLINE.value,
                )
                .with_for_update(skip_locked=True)
            )
        )
        for t in late:
            self._record(session, t, now)
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
        return {"went_silent": len(silent), "went_late": len(late), "offline_alarms": len(overdue)}

    def prune_history(self, session: Session, now: datetime | None = None) -> int:
        """Drop each terminal's transitions beyond its last `history_keep`, and those older
        than `history_days` but its newest (what the terminal is now stays known); how many."""
        now = now or self.clock()
        ranked = select(
            PresenceTransition.id,
            PresenceTransition.at,
            func.row_number()
            .over(
                partition_by=PresenceTransition.terminal_id, order_by=PresenceTransition.id.desc()
            )
            .label("n"),
        ).subquery()
        cutoff = now - timedelta(days=self.settings.history_days)
        gone = select(ranked.c.id).where(
            or_(
                ranked.c.n > self.settings.history_keep,
                and_(ranked.c.n > 1, ranked.c.at < cutoff),
            )
        )
        result = session.execute(
            delete(PresenceTransition)
            .where(PresenceTransition.id.in_(gone))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0


class PresenceMonitor:
    """A thread running `Presence.sweep` every `sweep_s`; safe with several backend workers.
    The worker holding the `presence-history` lease also prunes the history."""

    def __init__(self, db: Database, presence: Presence, worker_id: str = "backend"):
        self.db, self.presence = db, presence
        every = presence.settings.history_prune_every
        self.lease = ClusterLease(db, "presence-history", worker_id, ttl=every * 2)
        self._pruned_at: float | None = None
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
        try:
            self.lease.release()
        except Exception:
            log.exception("could not give the presence-history lease up; it expires by itself")

    def _prune_due(self) -> bool:
        every = self.presence.settings.history_prune_every.total_seconds()
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < every:
            return False
        self._pruned_at = now
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.presence.settings.sweep_s):
            try:
                with self.db.transaction() as session:
                    self.presence.sweep(session)
            except Exception:
                # Another worker's sweep raced this one (same alarm id), or the database is
                # away: the next sweep tries again.
                log.exception("presence sweep failed; trying again")
            try:
                if self._prune_due() and self.lease.hold():
                    with self.db.transaction() as session:
                        gone = self.presence.prune_history(session)
                    if gone:
                        log.info("presence history: %d old transitions dropped", gone)
            except Exception:
                log.exception(
                    "presence history prune failed; next try in %s",
                    self.presence.settings.history_prune_every,
                )


def presence_history(session: Session, terminal_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """A terminal's transitions, newest first."""
    rows = session.scalars(
        select(PresenceTransition)
        .where(PresenceTransition.terminal_id == terminal_id)
        .order_by(PresenceTransition.id.desc())
        .limit(limit)
    )
    return [
        {"state": r.state, "reason": r.reason, "connection": r.connection, "at": r.at} for r in rows
    ]


def offline_time(session: Session, terminal_id: str, now: datetime, window: timedelta) -> timedelta:
    """How long the terminal was offline in the `window` before `now`, by its kept history (a
    stretch before the oldest kept transition counts as unknown, not offline)."""
    start = now - window
    where = PresenceTransition.terminal_id == terminal_id
    before = session.scalar(
        select(PresenceTransition.state)
        .where(where, PresenceTransition.at < start)
        .order_by(PresenceTransition.id.desc())
        .limit(1)
    )
    inside = session.execute(
        select(PresenceTransition.state, PresenceTransition.at)
        .where(where, PresenceTransition.at >= start)
        .order_by(PresenceTransition.id)
    )
    total, state, since = timedelta(0), before, start
    for next_state, at in inside:
        if state == PresenceState.OFFLINE.value:
            total += at - since
        state, since = next_state, at
    if state == PresenceState.OFFLINE.value:
        total += now - since
    return total
