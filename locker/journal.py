"""An append-only SQLite journal of every compartment change and the keypad's attempt streak.

Each record carries the full state of what it describes after the change, so a restart
only needs the last record per compartment and the last attempt record. Codes are never
handed to the journal: only their keyed digests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privacy.private_files import prepare_sqlite_file

ATTEMPTS = "attempts"
# Intents written before a lock pulse; a restart that finds one without its outcome
# compares with the door (see LockerBank._reconcile).
OPENING = "opening"  # a pickup (compartment record)
DOOR_OPENING = "door_opening"  # any other opening (audit record)
# Records that close a DOOR_OPENING: the pulse was refused, the door was seen, or given up.
_DOOR_OUTCOMES = {"door_pulsed", "lock_fault", "out_of_service", "door_outcome"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS locker_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    compartment_id TEXT,
    body TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS locker_records_no_update BEFORE UPDATE ON locker_records
BEGIN SELECT RAISE(ABORT, 'the locker journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS locker_records_no_delete BEFORE DELETE ON locker_records
BEGIN SELECT RAISE(ABORT, 'the locker journal is append-only'); END;
"""


@dataclass
class JournalState:
    """What a replay yields: the latest record of everything the bank keeps."""

    compartments: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_event: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, Any] | None = None
    seen_load_ids: set[str] = field(default_factory=set)
    pending_door_openings: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class JournalRecord:
    """One journal line, for audits and tests."""

    seq: int
    at: float
    event: str
    compartment_id: str | None
    body: dict[str, Any]


class LockerJournal:
    """Durable, append-only record of the locker bank (SQLite, WAL, synchronous=FULL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            # Who loaded and opened which compartment, when: 0600, its -wal and -shm alike.
            prepare_sqlite_file(self.path)
        # The bank serialises its own calls; the lock guards direct users such as audits.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a record that returned must survive a power cut; kiosks lose power.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def append(
        self, event: str, compartment_id: str | None, body: dict[str, Any], at: float
    ) -> None:
        """Append one record and make it durable before returning."""
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO locker_records (at, event, compartment_id, body) VALUES (?, ?, ?, ?)",
                (at, event, compartment_id, text),
            )

    def append_compartment(
        self, event: str, compartment_id: str, record: dict[str, Any], at: float
    ) -> None:
        """Record a compartment's full state after ``event``."""
        self.append(event, compartment_id, record, at)

    def append_attempts(self, record: dict[str, Any], at: float) -> None:
        """Record the keypad's attempt streak after a change."""
        self.append(ATTEMPTS, None, record, at)

    def replay(self) -> JournalState:
        """Fold all records into the latest state per compartment and the latest streak."""
        state = JournalState()
        for record in self.records():
            body = record.body
            if record.event == ATTEMPTS:
                state.attempts = body
            elif record.event == DOOR_OPENING and record.compartment_id is not None:
                state.pending_door_openings.add(record.compartment_id)
            elif record.event in _DOOR_OUTCOMES:
                state.pending_door_openings.discard(record.compartment_id or "")
            if record.compartment_id is not None and "state" in body and record.event != ATTEMPTS:
                state.compartments[record.compartment_id] = body
                state.last_event[record.compartment_id] = record.event
                if body.get("load_id"):
                    state.seen_load_ids.add(body["load_id"])
        return state

    def records(self) -> list[JournalRecord]:
        """Every record, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, event, compartment_id, body FROM locker_records ORDER BY seq"
            ).fetchall()
        return [
            JournalRecord(seq, at, event, cid, json.loads(body))
            for seq, at, event, cid, body in rows
        ]

    def close(self) -> None:
        """Close the database; the journal cannot be used afterwards."""
        with self._lock:
            self._db.close()
