"""Two workers on one database take the chunks and submissions of the same files at once.

Shared subscriptions hand a terminal's consecutive messages to different workers, so the last
two chunks of a file, or a file's last chunk and the submission naming it, are applied in two
transactions at the same moment, and a terminal's resent messages can reach two at once.
Neither may miss the other: each pair below starts together on two threads, each with its own
`Ingest` and connections, as two worker processes would.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from backend_unit_factories import (
    RecordingPublisher,
    announced,
    chunks,
    material_for,
    submission,
)
from sqlalchemy import func, select, text

from backend.blobs import BlobIntake, BlobLimits, BlobStore, hold_files, hold_uploads
from backend.db import Database
from backend.ingest import Ingest
from backend.models import Blob, BlobChunkRow, Material, ProcessedMessage
from backend.sms import HeldSms
from cloud_bridge.contract import messages as m

FILES = 20


@pytest.fixture
def other(backend, database_url: str) -> Iterator[Ingest]:
    """A second worker: its own engine and connections on the same database and blob store."""
    db = Database(database_url)
    yield Ingest(db, BlobStore(backend.blob_dir), HeldSms(), RecordingPublisher())
    db.dispose()


def _files() -> list[bytes]:
    rng = random.Random(11)
    return [rng.randbytes(3000) for _ in range(FILES)]


def _at_once(pairs: list[tuple[Callable[[], object], Callable[[], object]]]) -> None:
    """Run each pair's two calls on two threads, started together; re-raise what they raised."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(side: int) -> None:
        try:
            for pair in pairs:
                barrier.wait(30)
                pair[side]()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(side,)) for side in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []


def _one(ingest: Ingest, message: m.Message) -> Callable[[], object]:
    return lambda: ingest.handle_batch([(message.topic(), message.encode())])


def _until_waiting_on_a_lock(db: Database) -> None:
    """Return once some PostgreSQL session waits for a lock (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.reading() as s:
            query = select(func.count()).where(text("wait_event_type = 'Lock'"))
            if s.scalar(query.select_from(text("pg_stat_activity"))) > 0:
                return
        time.sleep(0.02)


def test_last_two_chunks_taken_by_two_workers_at_once_assemble_the_file(backend, other):
    files = [chunks(data, 1000) for data in _files()]
    for parts in files:
        backend.feed(parts[0])

    _at_once([(_one(backend.ingest, p[1]), _one(other, p[2])) for p in files])

    with backend.db.transaction() as s:
        complete = s.scalars(select(Blob.complete)).all()
        assert s.scalars(select(BlobChunkRow.sha256)).all() == []
    assert complete == [True] * FILES
    for parts in files:
        assert (backend.blob_dir / parts[0].sha256[:2] / parts[0].sha256).is_file()


def test_submission_and_last_chunk_at_once_leave_the_material_verified(backend, other):
    files = _files()
    parts = [chunks(data, 1000) for data in files]
    for p in parts:
        backend.feed(p[0], p[1])
    pairs = [
        (
            _one(backend.ingest, submission(f"AH-T0001-20261120-{n:04d}", materials=[ref])),
            _one(other, p[2]),
        )
        for n, (p, ref) in enumerate(zip(parts, map(material_for, files), strict=True), 1)
    ]

    _at_once(pairs)

    with backend.db.transaction() as s:
        assert s.scalars(select(Blob.verified)).all() == [True] * FILES
        assert s.scalars(select(Material.verified)).all() == [True] * FILES


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: one writer
def test_a_worker_taking_chunks_waits_in_file_order_for_one_holding_a_file(backend, caplog):
    """A batch with chunks of two files, the second file first, while another worker's batch
    holds the first file and then wants the second: no deadlock, the batch goes in together.
    Before, the chunks locked their files in message order and each side waited for the other
    until PostgreSQL broke it (a second lost, the batch applied again apart)."""
    first, second = sorted(
        (chunks(data, 1000) for data in _files()[:2]), key=lambda parts: parts[0].sha256
    )
    backend.feed(first[0], second[0])
    held, errors = threading.Event(), []

    def other_worker() -> None:
        try:
            with backend.db.transaction() as s:
                hold_files(s, {first[0].sha256: (3000, 0)})  # a submission naming it
                held.set()
                _until_waiting_on_a_lock(backend.db)
                hold_files(s, {second[0].sha256: (3000, 0)})  # and then the next file, in order
        except Exception as exc:
            errors.append(exc)

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert held.wait(10)
    with caplog.at_level(logging.INFO, logger="backend.ingest"):
        result = backend.ingest.handle_batch(
            [(c.topic(), c.encode()) for c in (second[1], first[1])]
        )
    holder.join(30)
    assert errors == [] and result.stored == 2
    assert not [r for r in caplog.records if "applied apart" in r.getMessage()]
    backend.feed(first[2], second[2])
    with backend.db.transaction() as s:
        assert s.scalars(select(Blob.complete)).all() == [True, True]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: one writer
def test_two_workers_with_the_same_messages_in_opposite_orders_do_not_deadlock(backend, caplog):
    """A terminal's resent messages can reach two workers at once, in different orders. The
    other worker here has marked the first (by message id) processed and, once this batch
    waits for it, marks the second. Before, the batch inserted its ids in message order: it
    held the second while waiting for the first, each side waited for the other, and
    PostgreSQL broke the deadlock after a second. In id order the batch waits at the first,
    holding nothing the other wants, and goes in together once the other gives up."""
    first, second = sorted(
        (submission(f"AH-T0001-20261120-{n:04d}") for n in (1, 2)), key=lambda s: s.message_id
    )
    held, errors = threading.Event(), []

    def other_worker() -> None:
        try:
            with backend.db.sessions() as s:
                for message in (first, second):
                    s.add(
                        ProcessedMessage(
                            message_id=message.message_id,
                            terminal_id=message.terminal_id,
                            type="application_submitted",
                            outcome="stored",
                        )
                    )
                    s.flush()
                    held.set()
                    if message is first:
                        _until_waiting_on_a_lock(backend.db)
                s.rollback()  # its batch failed: the messages are this worker's to store
        except Exception as exc:
            errors.append(exc)

    def deadlocks() -> int:
        with backend.db.reading() as s:
            query = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            return s.scalar(text(query))

    before = deadlocks()
    holder = threading.Thread(target=other_worker)
    holder.start()
    assert held.wait(10)
    with caplog.at_level(logging.INFO, logger="backend.ingest"):
        result = backend.ingest.handle_batch([(s.topic(), s.encode()) for s in (second, first)])
    holder.join(30)
    assert errors == [] and result.stored == 2
    assert not [r for r in caplog.records if "applied apart" in r.getMessage()]
    assert deadlocks() == before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: one writer
def test_two_workers_taking_new_uploads_of_one_terminal_at_once_keep_it_within_its_cap(backend):
    """A terminal's new uploads reaching two workers at once: each counted only what was
    committed, so both passed the cap and a terminal could hold a cap per worker. Now the
    second batch waits for the first's commit, counts its upload and is refused."""
    limits = BlobLimits(held_per_terminal=m.MAX_BLOB_BYTES)
    backend.ingest = Ingest(
        backend.db, BlobStore(backend.blob_dir), HeldSms(), RecordingPublisher(), blob_limits=limits
    )
    big, small = (announced(seed, size) for seed, size in ((1, m.MAX_BLOB_BYTES), (2, 1)))
    held, errors = threading.Event(), []

    def other_worker() -> None:
        """A batch of the first upload, as ingest applies it, held open until the test's
        batch waits for a lock (10 s at most)."""
        try:
            with backend.db.transaction() as s:
                hold_files(s, {big.sha256: (big.total_size, big.count)})
                hold_uploads(s, {big.terminal_id})
                BlobIntake(BlobStore(backend.blob_dir), limits=limits).accept(s, big)
                held.set()
                _until_waiting_on_a_lock(backend.db)
        except Exception as exc:
            errors.append(exc)

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert held.wait(10)
    result = backend.ingest.handle_batch([(small.topic(), small.encode())])
    holder.join(30)

    assert errors == []
    assert [i.outcome for i in result.receipts["T0001"]] == ["rejected"]
    assert "cap" in result.receipts["T0001"][0].reason
    with backend.db.transaction() as s:
        assert s.scalars(select(BlobChunkRow.sha256)).all() == [big.sha256]
