"""Writes previous_release_db.sql: a terminal database as the release before versioned migrations
(commit 063b86c) leaves it, with a row in every table that release kept.

It must run against that release's code, not this tree's:

    git archive 063b86c cloud_bridge terminal/__init__.py terminal/store.py terminal/rating.py \
        | tar -x -C /tmp/previous
    PYTHONPATH=/tmp/previous python tests/unit/terminal_db/make_previous_release_db.py

The blob it queues is `previous_release_blob()` below; the upgrade test writes the same bytes
back into the blob directory, since a dump holds the database only.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud_bridge.commands import CommandDispatcher, CommandResult
from cloud_bridge.contract import messages as m
from cloud_bridge.outbox import Outbox
from terminal.rating import Ratings
from terminal.store import TerminalStore

TERMINAL = "T0042"
AT = datetime(2026, 11, 30, 21, 15, tzinfo=UTC)


def previous_release_blob() -> bytes:
    """Three chunks' worth of a scanned page (48 KiB chunks)."""
    return b"%PDF-1.4 scanned by the previous release\n" * 3000


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "terminal.sqlite", Path(tmp) / "blobs", TERMINAL)
        store = TerminalStore(outbox)
        dispatcher = CommandDispatcher(outbox, TERMINAL, clock=lambda: AT)
        dispatcher.register(m.SetPickupCode, lambda c: CommandResult(result={"armed": "C07"}))
        ratings = Ratings(outbox, TERMINAL, clock=lambda: AT)

        app_no = store.next_application_no(AT)  # AH-T0042-20261130-0001
        blob = outbox.stage_blob(previous_release_blob(), "application/pdf")
        with outbox.transaction() as tx:
            TerminalStore.record_submission(tx, app_no, "ID_CARD_RENEW", "张*", AT, "C03", 1)
            tx.add_blob(blob, TERMINAL)
            tx.add(
                m.Alarm(
                    terminal_id=TERMINAL,
                    operation_id="alarm-previous-1",
                    kind=m.AlarmKind.LOW_PAPER,
                    severity=m.Severity.WARNING,
                    detail="printer paper low",
                    raised_at=AT,
                )
            )
        rejected = m.Alarm(
            terminal_id=TERMINAL,
            operation_id="alarm-previous-2",
            kind=m.AlarmKind.DEVICE_FAULT,
            severity=m.Severity.CRITICAL,
            detail="refused upstream",
            raised_at=AT,
        )
        outbox.put(rejected)
        outbox.settle(
            [
                m.ReceiptItem(
                    message_id=rejected.message_id,
                    outcome=m.ReceiptOutcome.REJECTED,
                    reason="schema",
                )
            ]
        )
        with outbox.transaction() as tx:
            TerminalStore.record_pickup_reported(tx, "LOAD-PREV-1", AT)
        command = m.SetPickupCode(
            terminal_id=TERMINAL,
            message_id="0c0ffee000004000800000000000000a",
            operation_id="LOAD-PREV-2",
            expires_at=AT + timedelta(days=365 * 20),
            load_id="LOAD-PREV-2",
            application_no=app_no,
            code_digest="a" * 64,
            code_expires_at=AT + timedelta(days=365 * 20),
        )
        dispatcher.dispatch(command, 17)
        ratings.rate(app_no, 4)
        with outbox.transaction() as tx:  # the link's connection counter, three connections
            tx.execute(
                "CREATE TABLE IF NOT EXISTS link_connections ("
                " only_row INTEGER PRIMARY KEY CHECK (only_row = 1), last INTEGER NOT NULL)"
            )
            tx.execute("INSERT INTO link_connections VALUES (1, 3)")
        outbox.close()
        conn = sqlite3.connect(Path(tmp) / "terminal.sqlite")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        assert version == 0, version
        lines = [
            "-- A terminal database made by the release at commit 063b86c",
            "-- (make_previous_release_db.py, run against that release's code).",
            *conn.iterdump(),
        ]
        conn.close()
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    default = Path(__file__).with_name("previous_release_db.sql")
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
