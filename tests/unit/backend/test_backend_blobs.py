"""Material files arrive as chunks, in any order, and are kept only once verified."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest
from backend_unit_factories import (
    KEY,
    RecordingPublisher,
    announced,
    chunks,
    material_for,
    submission,
)
from sqlalchemy import select

from backend.blobs import BlobLimits, BlobStore
from backend.ingest import Ingest
from backend.models import AlarmRow, Blob, BlobChunkRow, Material, RejectedMessage, utcnow
from backend.sms import HeldSms
from cloud_bridge.contract import messages as m

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


def _security_alarms(backend, terminal_id: str) -> list[AlarmRow]:
    with backend.db.transaction() as s:
        query = select(AlarmRow).where(AlarmRow.terminal_id == terminal_id)
        return list(s.scalars(query.where(AlarmRow.kind == m.AlarmKind.SECURITY.value)))


def test_another_terminals_chunk_of_a_file_holds_up_no_upload_of_it(backend):
    """A chunk of the file with another size and count from a terminal that knows its hash
    made every chunk the right terminal sent refused, for good."""
    backend.ingest.register_terminal("T0002", KEY)
    sha = hashlib.sha256(DATA).hexdigest()
    poison = m.BlobChunk(
        terminal_id="T0001",
        sha256=sha,
        index=0,
        count=2,
        total_size=10,
        data=base64.b64encode(b"x" * 10).decode(),
    )
    backend.feed(poison)
    backend.feed(
        submission("AH-T0002-20261120-0001", terminal_id="T0002", materials=[material_for(DATA)])
    )

    result = backend.feed(*chunks(DATA, 1024, "T0002"))

    assert (result.stored, result.rejected) == (10, 0)
    assert (backend.blob_dir / sha[:2] / sha).read_bytes() == DATA
    assert _material_verified(backend) is True
    with backend.db.transaction() as s:
        assert s.scalars(select(BlobChunkRow)).all() == []  # the other upload's chunk too
    # Whole, the file is every terminal's: a chunk of it is a duplicate.
    again = backend.feed(poison.model_copy(update={"message_id": "f" * 32}))
    assert [i.outcome for i in again.receipts["T0001"]] == ["duplicate"]


def test_a_failed_upload_drops_only_its_own_chunks(backend):
    backend.ingest.register_terminal("T0002", KEY)
    good = chunks(DATA, 1024, "T0002")
    backend.feed(*good[:5])
    bad = chunks(DATA, 1024)
    bad[0] = bad[0].model_copy(update={"data": base64.b64encode(b"x" * 1024).decode()})

    failed = backend.feed(*bad)
    rest = backend.feed(*good[5:])

    assert failed.rejected == 1 and "verification" in failed.receipts["T0001"][-1].reason
    assert (rest.stored, rest.rejected) == (5, 0)
    sha = hashlib.sha256(DATA).hexdigest()
    assert (backend.blob_dir / sha[:2] / sha).read_bytes() == DATA


@pytest.fixture
def capped(backend) -> Ingest:
    """Ingest on the backend's database with a terminal's cap at its least: one largest file."""
    backend.ingest.register_terminal("T0002", KEY)
    return Ingest(
        backend.db,
        BlobStore(backend.blob_dir),
        HeldSms(),
        RecordingPublisher(),
        blob_limits=BlobLimits(held_per_terminal=m.MAX_BLOB_BYTES),
    )


def test_a_terminal_past_its_cap_has_its_chunks_refused_and_one_alarm(backend, capped):
    """A stolen certificate uploaded 64 MiB files no application names, or announced them and
    sent a few chunks, without bound: disk and database filled at its upload speed."""
    backend.ingest = capped
    half = m.MAX_BLOB_BYTES // 2

    # Two halves fill the cap; the third upload and any other upload after it are refused,
    # within the batch (applied apart then) and in the batches after.
    first = backend.feed(announced(1, half), announced(2, half), announced(3, 1))
    later = [backend.feed(announced(n, 1)) for n in (4, 5)]

    assert [i.outcome for i in first.receipts["T0001"]] == ["stored", "stored", "rejected"]
    assert all(r.rejected == 1 for r in later)
    reason = first.receipts["T0001"][2].reason
    assert "cap" in reason and f"holds {m.MAX_BLOB_BYTES} bytes" in reason
    assert backend.count(RejectedMessage) == 3
    # More chunks of the uploads it holds still go in: only new uploads are refused.
    more = announced(1, half).model_copy(update={"index": 1, "message_id": "e" * 32})
    assert backend.feed(more).stored == 1
    # One security alarm on the sender, not one a chunk; other terminals go on.
    [alarm] = _security_alarms(backend, "T0001")
    assert alarm.state == "open" and "cap" in alarm.detail
    assert backend.feed(announced(6, half, "T0002")).stored == 1
    assert _security_alarms(backend, "T0002") == []
    # Cleared by an operator while the terminal still sends: a new alarm.
    with backend.db.transaction() as s:
        capped.alarms.clear(s, "T0001", alarm.operation_id, "op", "looked into", utcnow())
    backend.feed(announced(7, 1))
    assert sorted(a.state for a in _security_alarms(backend, "T0001")) == ["cleared", "open"]


def test_refused_chunks_and_submissions_leave_no_rows_of_their_files(backend, capped):
    """Each refused chunk of a new file left an empty `blobs` row for retention's 48 hours: a
    terminal past its cap, sending chunks of made-up files at broker speed, grew the table
    without bound. So did a refused submission naming files never sent."""
    backend.ingest = capped
    backend.feed(announced(1, m.MAX_BLOB_BYTES))
    before = backend.count(Blob)

    refused = [backend.feed(announced(n, 1)) for n in range(2, 12)]
    together = backend.feed(*(announced(n, 1) for n in range(12, 22)))  # one batch, applied apart
    files = [material_for(bytes([n]) * 100) for n in range(5)]
    not_its_number = submission("AH-T0002-20261120-0001", materials=files)  # sent by T0001
    refused_submission = backend.feed(not_its_number)

    assert all(r.rejected == 1 for r in refused) and together.rejected == 10
    assert refused_submission.rejected == 1
    assert backend.count(Blob) == before == 1
    # What is used keeps its row: an upload begun, and files a stored submission names.
    backend.feed(submission(NO, materials=files))
    assert backend.count(Blob) == 1 + len(files)


def test_whole_files_no_application_names_count_against_their_sender(backend, capped):
    backend.ingest = capped
    whole = random.Random(8).randbytes(300_000)
    backend.feed(*chunks(whole, m.BLOB_CHUNK_BYTES))
    rest = m.MAX_BLOB_BYTES - len(whole)

    assert backend.feed(announced(1, rest + 1)).rejected == 1
    with backend.db.transaction() as s:
        assert s.get(Blob, hashlib.sha256(whole).hexdigest()).held_for == "T0001"
    # Named by an application, the file is a case's and counts no more.
    backend.feed(submission(NO, materials=[material_for(whole)]))
    assert backend.feed(announced(1, rest + 1)).stored == 1


@pytest.mark.parametrize("cap", [0, m.MAX_BLOB_BYTES - 1])
def test_a_cap_below_one_largest_file_is_refused(cap):
    with pytest.raises(ValueError, match="must be able to hold one file"):
        BlobLimits(held_per_terminal=cap)
