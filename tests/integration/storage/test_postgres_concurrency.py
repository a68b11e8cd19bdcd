"""Several backend workers on one database: the rows they make together are made once."""

from __future__ import annotations

import threading

from sqlalchemy import select

from backend.db import Database
from backend.models import DownstreamSequence
from backend.wire_signing import WireSigning


def test_command_sequence_numbers_of_a_new_terminal_are_unique_across_workers(database_url):
    """Eight workers number their first commands to one new terminal: 1..N, none twice."""
    first = Database(database_url)
    first.migrate()
    workers = [Database(database_url) for _ in range(8)]
    got: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def number(db: Database) -> None:
        signing = WireSigning(db, signer=lambda: None, public_keys=None)
        try:
            start.wait(30)
            for _ in range(5):
                got.append(signing._next_seq("T0042"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=number, args=(db,)) for db in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert sorted(got) == list(range(1, 41))
        with first.transaction() as s:
            assert s.scalars(select(DownstreamSequence.last_seq)).all() == [40]
    finally:
        for db in [first, *workers]:
            db.dispose()
