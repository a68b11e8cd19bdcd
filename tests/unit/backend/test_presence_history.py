"""Presence history: each transition (online, degraded, offline, why, connection, when) is written
once, a state said again is not, a flapping terminal's rows stay bounded by the prune, and the
time offline in a window is summed from them; on SQLite and PostgreSQL with a moved clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from backend_unit_factories import TERMINAL
from sqlalchemy import func, select
from test_fleet_presence_alarms import Fleet, _ids

from backend.models import PresenceTransition, Terminal, TerminalConnection
from backend.presence import PresenceSettings, offline_time, presence_history
from cloud_bridge.contract import messages as m


@pytest.fixture
def fleet(tmp_path, database_url):
    f = Fleet(tmp_path, database_url)
    yield f
    f.db.dispose()


def _history(fleet) -> list[tuple[str, str, int | None]]:
    """Oldest first: (state, reason, connection)."""
    with fleet.db.transaction() as s:
        rows = presence_history(s, TERMINAL)
    return [(r["state"], r["reason"], r["connection"]) for r in reversed(rows)]


def _telemetry(fleet, printer_ok: bool) -> None:
    report = m.Telemetry(
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        uptime_s=10,
        outbox_backlog=0,
        devices={"printer": m.DeviceHealth(ok=printer_ok, detail="" if printer_ok else "cover")},
    )
    assert not fleet.ingest.handle_batch([(report.topic(), report.encode())]).rejected


def test_each_transition_is_written_once_with_its_reason_and_connection(fleet):
    fleet.status("online", keepalive=30)
    for _ in range(5):  # heartbeats saying the same: nothing written
        fleet.clock.advance(10)
        fleet.status("online")
        fleet.sweep()
    assert _history(fleet) == [("online", "", 1)]

    fleet.clock.advance(21)  # two heartbeats missed: late
    assert fleet.sweep()["went_late"] == 1
    fleet.clock.advance(1)
    assert fleet.sweep()["went_late"] == 0  # written once
    fleet.status("online")  # heard again
    _telemetry(fleet, printer_ok=False)
    _telemetry(fleet, printer_ok=False)  # the same fault again: nothing new
    _telemetry(fleet, printer_ok=True)
    fleet.clock.advance(46)  # silent past 1.5 x the keep-alive
    assert fleet.sweep()["went_silent"] == 1
    fleet.status("offline", reason="connection_lost")  # the broker's will, later: no new row
    fleet.connection = 2
    fleet.status("online")
    fleet.status("offline", reason="stopped")
    fleet.status("offline", reason="stopped")  # a resent stop
    fleet.connection = 3
    fleet.status("online", reason="session_taken_over")
    fleet.connection = 4
    fleet.status("online")  # a new connection while online: a transition of its own

    assert _history(fleet) == [
        ("online", "", 1),
        ("degraded", "heartbeats_late", 1),
        ("online", "", 1),
        ("degraded", "devices: printer", 1),
        ("online", "", 1),
        ("offline", "heartbeats_missing", 1),
        ("online", "", 2),
        ("offline", "stopped", 2),
        ("online", "session_taken_over", 3),
        ("online", "session_taken_over", 4),
    ]
    with fleet.db.transaction() as s:
        newest = presence_history(s, TERMINAL, limit=2)
        assert [r["connection"] for r in newest] == [4, 3]  # newest first
        t = s.get(Terminal, TERMINAL)
        assert (t.presence_state, t.presence_connection) == ("online", 4)


def test_a_refused_status_writes_no_transition(fleet):
    fleet.status("online")
    fleet.status("offline", reason="connection_lost")
    late = m.Status(  # a heartbeat of the ended connection, arriving late
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        state="online",
        software_version="0.2.0",
        since="2026-12-04T01:00:00Z",
        connection=fleet.connection,
        keepalive_s=30,
    )
    assert fleet.ingest.handle_batch([(late.topic(), late.encode())]).rejected == 1
    assert _history(fleet) == [("online", "", 1), ("offline", "connection_lost", 1)]


def _count(fleet) -> int:
    with fleet.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(PresenceTransition))


def test_a_flapping_terminal_keeps_a_bounded_history_newest_kept(fleet):
    fleet.presence.settings = PresenceSettings(history_keep=10, history_days=90)
    fleet.ingest.register_terminal("T0002", b"k" * 32)
    with fleet.db.transaction() as s:  # another terminal's history is its own
        s.add(PresenceTransition(terminal_id="T0002", state="online", at=fleet.clock()))
    for _ in range(40):
        fleet.status("online")
        fleet.clock.advance(5)
        fleet.status("offline", reason="connection_lost")
        fleet.connection += 1
        fleet.clock.advance(5)
    assert _count(fleet) == 81
    with fleet.db.transaction() as s:
        assert fleet.presence.prune_history(s) == 70
    history = _history(fleet)
    assert len(history) == 10
    assert history[-1] == ("offline", "connection_lost", 40)
    assert history[0] == ("online", "", 36)
    assert _count(fleet) == 11
    with fleet.db.transaction() as s:
        assert fleet.presence.prune_history(s) == 0

    # Older than history_days: gone, except each terminal's newest (its state now).
    fleet.clock.advance(91 * 86400)
    with fleet.db.transaction() as s:
        assert fleet.presence.prune_history(s) == 9
        left = s.execute(select(PresenceTransition.terminal_id, PresenceTransition.state))
        assert sorted(left) == [(TERMINAL, "offline"), ("T0002", "online")]


def test_time_offline_in_the_last_day_and_week(fleet):
    fleet.status("online")
    fleet.clock.advance(3 * 86400)
    fleet.status("offline", reason="stopped")  # 6 days and 2 hours ago: 2 h offline
    fleet.clock.advance(2 * 3600)
    fleet.connection += 1
    fleet.status("online")
    fleet.clock.advance(6 * 86400 - 3 * 3600)
    fleet.status("offline", reason="connection_lost")  # 1 h ago, still offline
    fleet.clock.advance(3600)
    now = fleet.clock()
    with fleet.db.transaction() as s:
        assert offline_time(s, TERMINAL, now, timedelta(hours=24)) == timedelta(hours=1)
        assert offline_time(s, TERMINAL, now, timedelta(days=7)) == timedelta(hours=3)
        # Offline since before the window: all of it counts.
        assert offline_time(s, TERMINAL, now, timedelta(minutes=30)) == timedelta(minutes=30)
        assert offline_time(s, "T9999", now, timedelta(days=7)) == timedelta(0)


def test_connection_numbers_beyond_32_bits_are_kept_and_ordered(fleet):
    fleet.connection = 2**31 + 7  # past PostgreSQL's INTEGER
    fleet.status("online")
    fleet.status("offline", reason="stopped")
    fleet.connection = 2**53  # the contract's bound
    fleet.status("online")
    earlier = m.Status(
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        state="offline",
        software_version="0.2.0",
        since="2026-12-04T01:00:00Z",
        connection=2**31 + 7,
        reason="connection_lost",
    )
    assert fleet.ingest.handle_batch([(earlier.topic(), earlier.encode())]).rejected == 1
    with fleet.db.transaction() as s:
        assert s.get(TerminalConnection, TERMINAL).connection == 2**53
        assert s.get(Terminal, TERMINAL).presence_connection == 2**53
    assert _history(fleet) == [
        ("online", "", 2**31 + 7),
        ("offline", "stopped", 2**31 + 7),
        ("online", "", 2**53),
    ]
