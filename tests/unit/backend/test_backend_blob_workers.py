"""Two workers on one database take the chunks and submissions of the same files at once.

Shared subscriptions hand a terminal's consecutive messages to different workers, so the last
two chunks of a file, or a file's last chunk and the submission naming it, are applied in two
transactions at the same moment. Neither may miss the other: each pair below starts together
on two threads, each with its own `Ingest` and connections, as two worker processes would.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import pytest
from backend_unit_factories import RecordingPublisher, chunks, material_for, submission
from sqlalchemy import select

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest
from backend.models import Blob, BlobChunkRow, Material
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
