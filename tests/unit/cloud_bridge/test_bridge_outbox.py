"""The durable outbox on a real SQLite file: atomic writes, receipts, blob chunks, resends."""

from __future__ import annotations

import hashlib
import os

import pytest

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from cloud_bridge.outbox import Outbox, OutboxError

TERMINAL = "T0001"  # the id the outbox fixture is opened with


def _alarm(detail: str = "door forced") -> m.Alarm:
    return m.Alarm(
        terminal_id=TERMINAL,
        operation_id=f"ALM-{m.new_message_id()[:8]}",
        kind=m.AlarmKind.DOOR_FORCED,
        severity=m.Severity.CRITICAL,
        compartment_id="A01",
        detail=detail,
        raised_at=m.utcnow(),
    )


def _stored(*message_ids: str) -> list[m.ReceiptItem]:
    return [m.ReceiptItem(message_id=mid, outcome=m.ReceiptOutcome.STORED) for mid in message_ids]


def _chunk_entries(outbox: Outbox, sha: str) -> list[tuple[str, int]]:
    return outbox.db.read(
        "SELECT message_id, chunk_index FROM outbox WHERE blob_sha = ? ORDER BY chunk_index",
        (sha,),
    )


def _stage_and_queue(outbox: Outbox, data: bytes):
    blob = outbox.stage_blob(data, "application/pdf")
    with outbox.db.unit_of_work() as uow:
        outbox.add_blob(uow, blob)
    return blob


# ---------------------------------------------------------------- atomic writes


def test_transaction_that_raises_leaves_neither_caller_rows_nor_messages(outbox: Outbox):
    with outbox.db.unit_of_work() as uow:
        uow.execute("CREATE TABLE local_things (name TEXT)")

    with pytest.raises(RuntimeError, match="citizen walked away"), outbox.db.unit_of_work() as uow:
        uow.execute("INSERT INTO local_things VALUES ('half-done')")
        outbox.add(uow, _alarm())
        raise RuntimeError("citizen walked away")

    assert outbox.db.read("SELECT * FROM local_things") == []
    assert outbox.backlog() == 0
    assert outbox.due(limit=10, resend_after=0) == []


def test_committed_transaction_keeps_caller_rows_and_messages_together(outbox: Outbox):
    alarm = _alarm()
    with outbox.db.unit_of_work() as uow:
        uow.execute("CREATE TABLE local_things (name TEXT)")
        uow.execute("INSERT INTO local_things VALUES ('done')")
        outbox.add(uow, alarm)

    assert outbox.db.read("SELECT name FROM local_things") == [("done",)]
    [entry] = outbox.due(limit=10, resend_after=0)
    assert entry.message_id == alarm.message_id
    assert entry.topic == alarm.topic()
    assert m.decode(outbox.payload(entry)) == alarm


def test_entries_persist_across_close_and_reopen(outbox_files):
    first = outbox_files.open()
    alarms = [_alarm(f"alarm {i}") for i in range(3)]
    for alarm in alarms:
        first.put(alarm)
    first.db.close()

    again = outbox_files.open()
    assert again.backlog() == 3
    entries = again.due(limit=10, resend_after=0)
    assert [e.message_id for e in entries] == [a.message_id for a in alarms]  # oldest first
    assert [m.decode(again.payload(e)) for e in entries] == alarms


# ---------------------------------------------------------------- receipts


def test_settle_removes_stored_and_duplicate_entries(outbox: Outbox):
    stored, duplicate, waiting = _alarm("a"), _alarm("b"), _alarm("c")
    for alarm in (stored, duplicate, waiting):
        outbox.put(alarm)

    removed = outbox.settle(
        [
            m.ReceiptItem(message_id=stored.message_id, outcome=m.ReceiptOutcome.STORED),
            m.ReceiptItem(message_id=duplicate.message_id, outcome=m.ReceiptOutcome.DUPLICATE),
        ]
    )

    assert removed == 2
    assert [e.message_id for e in outbox.due(10, 0)] == [waiting.message_id]
    assert outbox.dead_letters() == []


def test_settle_moves_rejected_entries_to_dead_letters_with_the_reason(outbox: Outbox):
    rejected = _alarm()
    outbox.put(rejected)

    outbox.settle(
        [
            m.ReceiptItem(
                message_id=rejected.message_id,
                outcome=m.ReceiptOutcome.REJECTED,
                reason="schema: detail too long",
            )
        ]
    )

    assert outbox.backlog() == 0
    assert outbox.dead_letters() == [
        (rejected.message_id, rejected.topic(), "schema: detail too long")
    ]


def test_settle_of_a_repeated_receipt_changes_nothing(outbox: Outbox):
    alarm, other = _alarm("a"), _alarm("b")
    outbox.put(alarm)
    outbox.put(other)
    assert outbox.settle(_stored(alarm.message_id)) == 1

    assert outbox.settle(_stored(alarm.message_id, m.new_message_id())) == 0
    assert outbox.backlog() == 1


# ---------------------------------------------------------------- blobs


def test_staged_blob_yields_chunks_that_reassemble_to_the_file(outbox: Outbox):
    data = os.urandom(3 * m.BLOB_CHUNK_BYTES + 1234)
    blob = _stage_and_queue(outbox, data)

    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.chunk_count == 4
    entries = [e for e in outbox.due(100, 0) if e.kind == "chunk"]
    assert len(entries) == blob.chunk_count
    chunks = [m.decode(outbox.payload(e)) for e in entries]
    assert all(isinstance(c, m.BlobChunk) for c in chunks)
    assert all(e.topic == topics.blobs(TERMINAL) for e in entries)
    assert all(c.message_id == e.message_id for c, e in zip(chunks, entries, strict=True))
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert {(c.sha256, c.count, c.total_size, c.terminal_id) for c in chunks} == {
        (blob.sha256, 4, len(data), TERMINAL)
    }
    joined = b"".join(c.raw() for c in sorted(chunks, key=lambda c: c.index))
    assert joined == data
    assert hashlib.sha256(joined).hexdigest() == blob.sha256


def test_blob_file_is_deleted_only_after_the_last_chunks_receipt(outbox: Outbox):
    data = os.urandom(2 * m.BLOB_CHUNK_BYTES + 10)
    blob = _stage_and_queue(outbox, data)
    path = outbox.blob_path(blob.sha256)
    ids = [mid for mid, _ in _chunk_entries(outbox, blob.sha256)]
    assert len(ids) == 3 and path.exists()

    # Receipts arrive out of order; the file stays until every chunk is accounted for.
    outbox.settle(_stored(ids[2]))
    assert path.exists()
    outbox.settle(_stored(ids[0]))
    assert path.exists()
    outbox.settle([m.ReceiptItem(message_id=ids[1], outcome=m.ReceiptOutcome.DUPLICATE)])

    assert not path.exists()
    assert outbox.backlog() == 0


def test_blob_shared_by_two_queued_uploads_survives_until_both_are_receipted(outbox: Outbox):
    data = os.urandom(100)
    first = _stage_and_queue(outbox, data)
    second = _stage_and_queue(outbox, data)  # same scan content in a second application
    assert first == second
    path = outbox.blob_path(first.sha256)
    [(id_a, _), (id_b, _)] = _chunk_entries(outbox, first.sha256)

    outbox.settle(_stored(id_a))
    assert path.exists()
    assert m.decode(outbox.payload(outbox.due(10, 0)[0])).raw() == data
    outbox.settle(_stored(id_b))
    assert not path.exists()


def test_adding_a_blob_that_was_never_staged_is_refused(outbox: Outbox):
    blob = outbox.stage_blob(b"scan", "image/jpeg")
    outbox.blob_path(blob.sha256).unlink()

    with pytest.raises(OutboxError, match="not staged"), outbox.db.unit_of_work() as uow:
        outbox.add_blob(uow, blob)
    assert outbox.backlog() == 0


def test_empty_blob_is_refused(outbox: Outbox):
    with pytest.raises(OutboxError, match="empty"):
        outbox.stage_blob(b"", "application/pdf")
    assert not any(p.is_file() for p in outbox.blob_dir.rglob("*"))


def test_oversized_blob_is_refused(outbox: Outbox):
    with pytest.raises(OutboxError, match="exceeds"):
        outbox.stage_blob(bytes(m.MAX_BLOB_BYTES + 1), "application/pdf")
    assert not any(p.is_file() for p in outbox.blob_dir.rglob("*"))


def test_blob_of_exactly_the_maximum_size_is_accepted(outbox: Outbox):
    blob = outbox.stage_blob(bytes(m.MAX_BLOB_BYTES), "application/pdf")
    assert blob.size == m.MAX_BLOB_BYTES
    assert blob.chunk_count == -(-m.MAX_BLOB_BYTES // m.BLOB_CHUNK_BYTES)
    with outbox.db.unit_of_work() as uow:
        outbox.add_blob(uow, blob)
    last = outbox.due(limit=blob.chunk_count, resend_after=0)[-1]
    chunk = m.decode(outbox.payload(last))  # the last chunk still fits the contract's limits
    assert isinstance(chunk, m.BlobChunk)
    assert chunk.index == chunk.count - 1 == blob.chunk_count - 1
    assert len(chunk.raw()) == m.MAX_BLOB_BYTES - (blob.chunk_count - 1) * m.BLOB_CHUNK_BYTES


# ---------------------------------------------------------------- sending


def test_due_honours_resend_after(outbox: Outbox):
    sent, fresh = _alarm("sent"), _alarm("fresh")
    outbox.put(sent)
    outbox.put(fresh)
    [first, _] = outbox.due(10, resend_after=30, now=1000.0)
    outbox.mark_sent([first.seq], now=1000.0)

    assert [e.message_id for e in outbox.due(10, 30, now=1010.0)] == [fresh.message_id]
    assert [e.message_id for e in outbox.due(10, 30, now=1031.0)] == [
        sent.message_id,
        fresh.message_id,
    ]
    resent = outbox.due(10, 30, now=1031.0)[0]
    assert resent.attempts == 1


def test_a_window_is_marked_sent_in_one_statement_and_unheard_entries_are_due_again(
    outbox: Outbox,
):
    for i in range(620):  # more than one IN (...) list holds
        outbox.put(_alarm(str(i)))
    entries = outbox.due(1000, 0)
    statements: list[str] = []
    outbox.db._conn.set_trace_callback(statements.append)
    outbox.mark_sent([e.seq for e in entries], now=1000.0)
    outbox.db._conn.set_trace_callback(None)
    assert sum(s.startswith("UPDATE outbox") for s in statements) == 2
    assert "PRAGMA synchronous=NORMAL" in statements  # a send time is not worth an fsync
    assert outbox.db.read("PRAGMA synchronous") == [(2,)]  # FULL again for everything else
    assert outbox.due(1000, 30, now=1010.0) == []

    unheard = [entries[3].seq, entries[600].seq]
    outbox.make_due(unheard)
    again = outbox.due(1000, 30, now=1010.0)
    assert [e.seq for e in again] == unheard
    assert [e.attempts for e in again] == [1, 1]


def test_reset_sent_makes_every_entry_due_at_once(outbox: Outbox):
    for i in range(3):
        outbox.put(_alarm(str(i)))
    entries = outbox.due(10, 0)
    outbox.mark_sent([e.seq for e in entries])
    assert outbox.due(10, resend_after=3600) == []

    outbox.reset_sent()

    assert [e.seq for e in outbox.due(10, resend_after=3600)] == [e.seq for e in entries]


def test_due_respects_the_limit_oldest_first(outbox: Outbox):
    alarms = [_alarm(str(i)) for i in range(5)]
    for alarm in alarms:
        outbox.put(alarm)

    assert [e.message_id for e in outbox.due(2, 0)] == [a.message_id for a in alarms[:2]]


def test_blob_staged_again_before_the_first_upload_settles_stays_staged(outbox: Outbox):
    data = os.urandom(1000)  # e.g. the same PDF imported from a USB stick for two applications
    first = _stage_and_queue(outbox, data)
    again = outbox.stage_blob(data, "application/pdf")  # second application, not submitted yet

    outbox.settle(_stored(*(mid for mid, _ in _chunk_entries(outbox, first.sha256))))

    assert outbox.blob_path(again.sha256).exists()
    with outbox.db.unit_of_work() as uow:
        outbox.add_blob(uow, again)
    assert outbox.backlog() == 1
