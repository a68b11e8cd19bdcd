"""The terminal's one database: versioned migrations, its unit of work, and an upgrade that keeps
everything a terminal of the previous release had on disk."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from make_previous_release_db import AT, TERMINAL, previous_release_blob

from cloud_bridge.commands import CommandDispatcher, CommandResult, HandledCommands
from cloud_bridge.contract import messages as m
from cloud_bridge.local_db import MIGRATIONS, LocalDatabase, LocalDatabaseError, Migration
from cloud_bridge.outbox import Outbox
from terminal.rating import Ratings
from terminal.store import TerminalStore

FIXTURE = Path(__file__).with_name("previous_release_db.sql")
TABLES = {
    "outbox",
    "outbox_blobs",
    "dead_letters",
    "local_applications",
    "counters",
    "reported_pickups",
    "handled_commands",
    "command_sequence",
    "local_ratings",
    "link_connections",
    "service_holds",
}


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {name for (name,) in rows} - {"sqlite_sequence"}


def _previous_release_file(tmp_path: Path) -> Path:
    """The database file a terminal of the previous release left, with its staged blob."""
    path = tmp_path / "terminal.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()
    data = previous_release_blob()
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "blobs" / sha[:2]).mkdir(parents=True)
    (tmp_path / "blobs" / sha[:2] / sha).write_bytes(data)
    return path


def _online() -> m.Status:
    return m.Status(
        terminal_id=TERMINAL, state=m.TerminalState.ONLINE, software_version="0.1.0", since=AT
    )


def test_a_new_file_gets_every_table_at_the_latest_version(tmp_path):
    db = LocalDatabase(tmp_path / "terminal.sqlite")
    try:
        assert db.version == len(MIGRATIONS)
    finally:
        db.close()
    assert _tables(tmp_path / "terminal.sqlite") == TABLES


def test_a_previous_release_database_is_upgraded_and_keeps_its_data(tmp_path):
    path = _previous_release_file(tmp_path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0
    before = sqlite3.connect(path).execute("SELECT message_id FROM outbox ORDER BY seq").fetchall()

    db = LocalDatabase(path)
    try:
        assert db.version == len(MIGRATIONS)
        outbox = Outbox(db, tmp_path / "blobs", TERMINAL)
        store = TerminalStore(db, TERMINAL)
        handled = HandledCommands(db)
        ratings = Ratings(db, outbox, TERMINAL, clock=lambda: AT)

        # The queue: three chunks of the staged scan, an alarm, an ack and a rating, in order,
        # each still sendable; the staged scan survived the start-up sweep.
        entries = outbox.due(limit=10, resend_after=0)
        assert [(e.message_id,) for e in entries] == before
        assert [e.kind for e in entries] == ["chunk"] * 3 + ["message"] * 3
        chunks = [m.decode(outbox.payload(e)) for e in entries[:3]]
        assert b"".join(c.raw() for c in chunks) == previous_release_blob()
        alarm, ack, rated = (m.decode(outbox.payload(e)) for e in entries[3:])
        assert isinstance(alarm, m.Alarm) and alarm.operation_id == "alarm-previous-1"
        assert isinstance(ack, m.CommandAck) and ack.result == {"armed": "C07"}
        assert isinstance(rated, m.ServiceRated) and rated.score == 4
        assert [(topic, reason) for _, topic, reason in outbox.dead_letters()] == [
            (f"allhours/v1/terminals/{TERMINAL}/events/alarm", "schema")
        ]

        # The local record, the counter (no application number is issued twice), the pickups.
        record = store.local_application("AH-T0042-20261130-0001")
        assert record is not None and record["deposit_compartment"] == "C03"
        assert store.next_application_no(AT) == "AH-T0042-20261130-0002"
        assert store.pickup_reported("LOAD-PREV-1")
        assert ratings.rated("AH-T0042-20261130-0001")
        assert not ratings.rate("AH-T0042-20261130-0001", 5)  # still rated once

        # The handled commands: a replay is answered as before, an old sequence refused.
        assert handled.last_seq() == 17
        runs: list[m.Message] = []
        dispatcher = CommandDispatcher(outbox, handled, TERMINAL, clock=lambda: AT)
        dispatcher.register(m.SetPickupCode, lambda c: runs.append(c) or CommandResult())
        replay = m.SetPickupCode(
            terminal_id=TERMINAL,
            message_id="0c0ffee000004000800000000000000a",
            operation_id="LOAD-PREV-2",
            expires_at=AT + timedelta(days=365 * 20),
            load_id="LOAD-PREV-2",
            application_no="AH-T0042-20261130-0001",
            code_digest="a" * 64,
            code_expires_at=AT + timedelta(days=365 * 20),
        )
        again = dispatcher.dispatch(replay, 18)
        assert again is not None and again.result == {"armed": "C07"} and runs == []

        # The link's connection count goes on from three.
        with db.unit_of_work() as uow:
            uow.execute("UPDATE link_connections SET last = last + 1")
        assert db.read("SELECT last FROM link_connections") == [(4,)]

        # And a receipt settles an upgraded entry as it would a new one.
        assert (
            outbox.settle(
                [
                    m.ReceiptItem(message_id=e.message_id, outcome=m.ReceiptOutcome.STORED)
                    for e in entries[:3]
                ]
            )
            == 3
        )
        assert not outbox.blob_path(chunks[0].sha256).exists()  # scans leave once received
    finally:
        db.close()


def test_opening_an_upgraded_file_again_changes_nothing(tmp_path):
    path = _previous_release_file(tmp_path)
    LocalDatabase(path).close()
    dump = list(sqlite3.connect(path).iterdump())
    db = LocalDatabase(path)
    db.close()
    assert list(sqlite3.connect(path).iterdump()) == dump


def test_a_file_from_a_newer_release_is_refused_untouched(tmp_path):
    path = tmp_path / "terminal.sqlite"
    LocalDatabase(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()

    with pytest.raises(LocalDatabaseError, match="newer release") as refused:
        LocalDatabase(path)
    assert str(path) in str(refused.value)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1


def test_a_file_that_is_not_a_database_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "terminal.sqlite"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(LocalDatabaseError, match=r"not a terminal database.*backup"):
        LocalDatabase(path)


def test_migrations_run_in_order_and_a_failing_one_leaves_the_file_at_the_version_before(
    tmp_path,
):
    path = tmp_path / "terminal.sqlite"
    LocalDatabase(path).close()
    latest = len(MIGRATIONS)
    second = Migration(latest + 1, "notes", ("CREATE TABLE notes (text TEXT NOT NULL)",))
    broken = Migration(
        latest + 2,
        "broken",
        ("CREATE TABLE half_done (x INTEGER)", "INSERT INTO no_such_table VALUES (1)"),
    )

    with pytest.raises(LocalDatabaseError, match=rf"migration {latest + 2} \(broken\) failed"):
        LocalDatabase(path, (*MIGRATIONS, second, broken))

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest + 1
    conn.close()
    assert "notes" in _tables(path) and "half_done" not in _tables(path)

    db = LocalDatabase(path, (*MIGRATIONS, second))  # the fixed release opens it
    try:
        assert db.version == latest + 1
    finally:
        db.close()


def test_migrations_numbered_out_of_order_are_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="numbered"):
        LocalDatabase(tmp_path / "t.sqlite", (Migration(2, "two", ()),))


def test_a_unit_of_work_commits_all_or_nothing_and_runs_its_callbacks_only_on_commit(tmp_path):
    db = LocalDatabase(tmp_path / "terminal.sqlite")
    outbox = Outbox(db, tmp_path / "blobs", TERMINAL)
    store = TerminalStore(db, TERMINAL)
    called: list[str] = []
    try:
        with pytest.raises(RuntimeError, match="power cut"), db.unit_of_work() as uow:
            store.record_pickup_reported(uow, "L-1", datetime(2026, 12, 1, tzinfo=UTC))
            outbox.add(uow, _online())
            uow.after_commit(lambda: called.append("rolled back"))
            raise RuntimeError("power cut")
        assert not store.pickup_reported("L-1") and outbox.backlog() == 0 and called == []

        with db.unit_of_work() as uow:
            store.record_pickup_reported(uow, "L-1", datetime(2026, 12, 1, tzinfo=UTC))
            outbox.add(uow, _online())
            uow.after_commit(lambda: called.append("committed"))
        assert store.pickup_reported("L-1") and outbox.backlog() == 1
        assert called == ["committed"] and outbox.changed.is_set()
    finally:
        db.close()
