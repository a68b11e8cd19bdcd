"""Material files arrive as chunks, in any order, and are kept only once verified."""

from __future__ import annotations

import base64
import hashlib
import random

from backend_unit_factories import chunks, material_for, submission
from sqlalchemy import select

from backend.models import Blob, BlobChunkRow, Material

NO = "AH-T0001-20261120-0001"
DATA = bytes(random.Random(7).randrange(256) for _ in range(10_000))


def _material_verified(backend) -> bool:
    with backend.db.transaction() as s:
        return s.scalars(select(Material.verified)).one()


def test_blob_assembled_from_shuffled_chunks_is_stored_and_verifies_the_material(backend):
    backend.feed(submission(NO, materials=[material_for(DATA)]))
    parts = chunks(DATA, 1024)
    random.Random(1).shuffle(parts)

    results = [backend.feed(p) for p in parts]

    assert all(r.stored == 1 for r in results)
    sha = hashlib.sha256(DATA).hexdigest()
    stored = backend.blob_dir / sha[:2] / sha
    assert stored.read_bytes() == DATA
    with backend.db.transaction() as s:
        blob = s.get(Blob, sha)
        assert (blob.complete, blob.verified) == (True, True)
        assert s.scalars(select(BlobChunkRow)).all() == []
    assert _material_verified(backend) is True


def test_material_submitted_after_its_blob_is_verified_at_once(backend):
    backend.feed(*chunks(DATA, 4096))

    backend.feed(submission(NO, materials=[material_for(DATA)]))

    assert _material_verified(backend) is True


def test_repeated_chunk_is_a_duplicate(backend):
    first, *_ = chunks(DATA, 1024)
    again = first.model_copy(update={"message_id": "f" * 32})

    result = backend.feed(first, again)

    assert [i.outcome for i in result.receipts["T0001"]] == ["stored", "duplicate"]


def test_corrupted_chunk_set_is_rejected_and_the_material_stays_unverified(backend):
    backend.feed(submission(NO, materials=[material_for(DATA)]))
    parts = chunks(DATA, 1024)
    raw = bytearray(base64.b64decode(parts[3].data))
    raw[0] ^= 0xFF
    parts[3] = parts[3].model_copy(update={"data": base64.b64encode(bytes(raw)).decode()})

    results = [backend.feed(p) for p in parts]

    last = results[-1].receipts["T0001"][0]
    assert last.outcome == "rejected" and "verification" in last.reason
    sha = hashlib.sha256(DATA).hexdigest()
    assert not (backend.blob_dir / sha[:2] / sha).exists()
    with backend.db.transaction() as s:
        blob = s.get(Blob, sha)
        assert (blob.complete, blob.verified, blob.failures) == (False, False, 1)
        assert s.scalars(select(BlobChunkRow)).all() == []
    assert _material_verified(backend) is False


def test_whole_file_sent_again_after_a_failed_assembly_is_accepted(backend):
    parts = chunks(DATA, 1024)
    bad = parts[0].model_copy(update={"data": base64.b64encode(b"x" * 1024).decode()})
    for p in [bad, *parts[1:]]:
        backend.feed(p)

    resent = [p.model_copy(update={"message_id": f"{i + 1:032x}"}) for i, p in enumerate(parts)]
    results = [backend.feed(p) for p in resent]

    assert results[-1].stored == 1
    sha = hashlib.sha256(DATA).hexdigest()
    assert (backend.blob_dir / sha[:2] / sha).read_bytes() == DATA
