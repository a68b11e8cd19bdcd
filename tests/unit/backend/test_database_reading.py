"""`Database.reading`: transactions that only read, beside a writer, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from held_transactions import done_while_held
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from backend.db import Database
from backend.models import IngestCounter


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def _counters(db: Database) -> int:
    with db.reading() as session:
        return _count_in(session)


def test_a_write_in_a_reading_transaction_fails_and_leaves_nothing(db):
    with pytest.raises(DBAPIError), db.reading() as session:
        session.add(IngestCounter(name="stored", value=1))
        session.flush()

    assert _counters(db) == 0


def test_reading_sees_what_was_committed_and_a_later_transaction_may_write(db):
    with db.transaction() as session:
        session.add(IngestCounter(name="stored", value=1))
    assert _counters(db) == 1

    with db.transaction() as session:  # the pooled connection is writable again
        session.add(IngestCounter(name="duplicate", value=1))
    assert _counters(db) == 2


def test_a_reading_transaction_does_not_wait_for_an_open_write(db):
    """Ingest holds its transaction while it applies a batch: a page read then answered only
    after the commit (SQLite's write lock), or failed at the busy timeout."""
    seen: list[int] = []

    assert done_while_held(
        db,
        lambda session: session.add(IngestCounter(name="stored", value=1)),
        lambda: seen.append(_counters(db)),
        reading=False,
    )
    assert seen == [0]  # its own snapshot: not the uncommitted row
    assert _counters(db) == 1


def test_a_writer_does_not_wait_for_an_open_reading_transaction(db):
    def write() -> None:
        with db.transaction() as session:
            session.add(IngestCounter(name="stored", value=1))

    assert done_while_held(db, _count_in, write, reading=True)
    assert _counters(db) == 1


def _count_in(session) -> int:
    return session.scalar(select(func.count()).select_from(IngestCounter)) or 0
