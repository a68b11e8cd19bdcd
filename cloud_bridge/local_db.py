"""The terminal's one local database: a SQLite file, its versioned schema and its unit of work.

Every table a terminal keeps lives here: the outbox and its staged blobs, the local record of
submissions and pickups, the handled-commands record, ratings, the link's connection count and
what operators took out of service.
The repositories (`Outbox`, `terminal.store.TerminalStore`, `HandledCommands`, ...) read and
write through this module and never open the file themselves, so one unit of work can hold a
business record and the messages that report it: both are on disk, or neither is.

The schema is versioned with `PRAGMA user_version`. Opening a file runs, in order and each in
its own transaction, the migrations above the file's version; a migration that fails leaves the
file at the version before it. A file whose version is above this software's is refused (a
downgrade would drop what the newer release wrote). Version 1 is the schema of the release
before versions existed: on such a file (user_version 0, its tables already there) it creates
only what is missing, so an upgraded terminal keeps its queue, its counters and its records.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy.private_files import prepare_sqlite_file

Params = tuple[Any, ...] | dict[str, Any]


class LocalDatabaseError(RuntimeError):
    """The terminal database cannot be opened or migrated; the message says what to do."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema: `statements` run in one transaction, then the version is set."""

    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the schema of the release before versioned migrations",
        (
            """CREATE TABLE IF NOT EXISTS outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                message_id TEXT NOT NULL UNIQUE,
                topic TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('message', 'chunk')),
                payload BLOB,
                blob_sha TEXT,
                chunk_index INTEGER,
                created_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_sent_at REAL
            )""",
            "CREATE INDEX IF NOT EXISTS outbox_blob ON outbox (blob_sha)",
            """CREATE TABLE IF NOT EXISTS outbox_blobs (
                sha256 TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                content_type TEXT NOT NULL,
                chunk_count INTEGER NOT NULL,
                created_at REAL NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS dead_letters (
                message_id TEXT PRIMARY KEY,
                topic TEXT NOT NULL,
                payload BLOB,
                reason TEXT NOT NULL,
                at REAL NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS local_applications (
                application_no TEXT PRIMARY KEY,
                item_code TEXT NOT NULL,
                applicant_masked TEXT NOT NULL,
                submitted_at TEXT NOT NULL,
                deposit_compartment TEXT,
                materials INTEGER NOT NULL
            )""",
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            """CREATE TABLE IF NOT EXISTS reported_pickups (
                load_id TEXT PRIMARY KEY,
                at TEXT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS handled_commands (
                command_id TEXT PRIMARY KEY,
                command_type TEXT NOT NULL,
                operation_id TEXT NOT NULL,
                outcome TEXT NOT NULL,
                detail TEXT NOT NULL,
                result TEXT NOT NULL,
                at TEXT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS command_sequence (
                only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
                last_seq INTEGER NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS local_ratings (
                application_no TEXT PRIMARY KEY,
                rated_at TEXT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS link_connections (
                only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
                last INTEGER NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "what operators took out of service: the whole terminal ('*') or one compartment",
        (
            """CREATE TABLE service_holds (
                scope TEXT PRIMARY KEY,
                hold TEXT NOT NULL CHECK (hold IN ('closed', 'locked')),
                reason TEXT NOT NULL,
                note TEXT NOT NULL,
                since TEXT NOT NULL,
                command_id TEXT NOT NULL
            )""",
        ),
    ),
)


class UnitOfWork:
    """One open transaction: repositories write through it; callbacks run once it committed."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._after: list[Callable[[], None]] = []

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the commit (not after a rollback), outside the database lock."""
        self._after.append(callback)


class LocalDatabase:
    """The terminal's SQLite file, migrated to this software's schema when opened."""

    def __init__(self, path: str | Path, migrations: Sequence[Migration] = MIGRATIONS):
        self.path = Path(path)
        # What the terminal keeps (masked personal data, the outbox, handled commands): 0600
        # from the first byte, its -wal and -shm alike; its directory 0700 if made here.
        prepare_sqlite_file(self.path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise LocalDatabaseError(
                f"{self.path}: not a terminal database ({exc}); restore it from a backup or"
                " move it aside to start empty"
            ) from exc
        # FULL: a receipt printed to the citizen must survive a power cut a moment later.
        self._conn.execute("PRAGMA synchronous=FULL")
        try:
            self._migrate(migrations)
        except BaseException:
            self._conn.close()
            raise

    @property
    def version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        versions = [mig.version for mig in migrations]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"migrations must be numbered 1, 2, ... in order, got {versions}")
        latest = len(migrations)
        current = self.version
        if current > latest:
            raise LocalDatabaseError(
                f"{self.path}: schema version {current} was written by a newer release; this"
                f" software knows versions up to {latest}. Install that release again or restore"
                " a backup made by this one"
            )
        for mig in migrations[current:]:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in mig.statements:
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {int(mig.version)}")
                except BaseException as exc:
                    self._conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.Error):
                        raise LocalDatabaseError(
                            f"{self.path}: migration {mig.version} ({mig.summary}) failed: {exc};"
                            f" the file stays at version {mig.version - 1}"
                        ) from exc
                    raise
                self._conn.execute("COMMIT")

    @contextmanager
    def unit_of_work(self, durable: bool = True) -> Iterator[UnitOfWork]:
        """One atomic write: all of it is on disk when the block exits, or none of it.

        `durable=False`: atomic, but not synced to disk at commit (a power cut may undo it;
        the next durable commit syncs it too). Only for writes a restart redoes anyway.
        """
        with self._lock:
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                unit = UnitOfWork(self._conn)
                try:
                    yield unit
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous=FULL")
        for callback in unit._after:
            callback()

    def read(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Rows of one query, read outside any open unit of work of another thread."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
