"""Batches applied together (no savepoint per message, one flush) and apart when one fails."""

from __future__ import annotations

import logging
from datetime import timedelta

from backend_unit_factories import TERMINAL, chunks, material_for, submission
from sqlalchemy import event, select

from backend import ingest as ingest_module
from backend.models import (
    Application,
    Blob,
    BlobChunkRow,
    Material,
    ProcessedMessage,
    RejectedMessage,
    WorkflowHistory,
)
from backend.notifications.models import NotificationRow
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples


def _no(i: int) -> str:
    return f"AH-T0001-20261120-{i:04d}"


class _Statements:
    """The SQL statements a database runs, by their first words."""

    def __init__(self, db):
        self.sql: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        self.sql.append(" ".join(statement.split()[:3]))

    def count(self, start: str) -> int:
        return sum(s.startswith(start) for s in self.sql)


def test_clean_batch_is_applied_together_with_one_insert_per_table(backend):
    backend.feed(submission(_no(999)))  # the first batch also makes the counters' rows
    batch = [submission(_no(i)) for i in range(50)]
    statements = _Statements(backend.db)

    result = backend.feed(*batch)

    assert result.stored == 50
    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored"] * 50
    # Together: no savepoint per message, and every table takes the batch's rows in one
    # statement, rows with an id the database generates (history, materials, SMS) too.
    assert statements.count("SAVEPOINT") == 0
    for table in ("applications", "processed_messages", "materials", "workflow_history"):
        assert statements.count(f"INSERT INTO {table}") == 1, table
    assert statements.count("INSERT INTO notifications") == 1
    assert statements.count("SELECT applications") == 1  # one look-up for the whole batch
    assert backend.count(Application) == 51
    assert backend.count(Material) == 51
    assert backend.count(WorkflowHistory) == 51
    assert backend.count(ProcessedMessage) == 51
    assert len(backend.sms("submitted")) == 51
    # What went in without the ORM is what the ORM would have written, defaults included.
    with backend.db.transaction() as s:
        history = s.scalars(
            select(WorkflowHistory).where(WorkflowHistory.application_no == _no(7))
        ).one()
        sms = s.scalars(select(NotificationRow).where(NotificationRow.application_no == _no(7)))
        sms = sms.one()
        ids = list(s.scalars(select(WorkflowHistory.id)))
    assert (history.to_state, history.actor) == ("submitted", f"terminal:{TERMINAL}")
    assert history.at is not None and history.note.startswith("item ")
    assert (sms.kind, sms.state, sms.attempts, sms.params["no"]) == (
        "submitted",
        "queued",
        0,
        _no(7),
    )
    assert len(set(ids)) == 51 and None not in ids


def test_a_refused_message_sends_its_batch_apart_and_only_it_is_refused(backend, caplog):
    good = [submission(_no(i)) for i in range(5)]
    stranger = submission(_no(9), terminal_id="T9999")  # not registered
    statements = _Statements(backend.db)

    with caplog.at_level(logging.INFO, logger="backend.ingest"):
        result = backend.feed(*good[:3], stranger, *good[3:])

    assert "applied apart" in caplog.text
    assert statements.count("SAVEPOINT") >= 5  # the second pass: a savepoint per message
    assert (result.stored, result.rejected) == (5, 1)
    assert backend.count(Application) == 5
    assert backend.count(WorkflowHistory) == 5
    assert len(backend.sms("submitted")) == 5  # the rolled-back first pass queued none
    with backend.db.transaction() as s:
        rejected = list(s.scalars(select(RejectedMessage)))
    assert [r.message_id for r in rejected] == [stranger.message_id]


def test_a_resend_within_a_batch_is_a_duplicate_after_the_batch_goes_apart(backend):
    first = submission(_no(1))
    resend = submission(_no(1))  # the same application under a new message id
    others = [submission(_no(i)) for i in range(2, 6)]

    result = backend.feed(first, *others, resend)

    outcomes = {i.message_id: i.outcome for i in result.receipts[TERMINAL]}
    assert outcomes[first.message_id] == m.ReceiptOutcome.STORED
    assert outcomes[resend.message_id] == m.ReceiptOutcome.DUPLICATE
    assert backend.count(Application) == 5
    assert backend.count(Material) == 5


def test_blob_chunks_before_submissions_in_one_batch_verify_their_materials(backend):
    """Chunks go in with the batch; the submissions after them read the assembled blobs."""
    files = [bytes([i]) * 3000 for i in range(3)]
    parts = [c for data in files for c in chunks(data, 1024)]
    subs = [submission(_no(i), materials=[material_for(data)]) for i, data in enumerate(files)]

    result = backend.feed(*parts, *subs)

    assert result.rejected == 0
    assert result.stored == len(parts) + len(subs)
    with backend.db.transaction() as s:
        verified = [x.verified for x in s.scalars(select(Material).order_by(Material.id))]
    assert verified == [True, True, True]


def test_a_batch_of_chunks_reads_each_file_once_and_keeps_no_savepoint_per_chunk(backend):
    """Chunks of three files in one batch, the third one short of its last chunk: each file
    read and locked once, no savepoint, the chunks in one INSERT per flush (the batch is
    flushed before each file made whole is assembled, and once at its end)."""
    files = [bytes([i]) * 4000 for i in range(3)]
    parts = [c for data in files for c in chunks(data, 1024)][:-1]
    again = parts[1].model_copy(update={"message_id": "e" * 32})  # a chunk sent twice
    first = submission(_no(999))  # the first batches also make the counters' rows
    backend.feed(first)
    backend.feed(first.model_copy(update={"message_id": "d" * 32}))
    statements = _Statements(backend.db)

    result = backend.feed(*parts, again)

    assert (result.stored, result.duplicate, result.rejected) == (11, 1, 0)
    assert statements.count("SAVEPOINT") == 0
    # The held indexes, read once a file ("index" is quoted on SQLite); not the assemblies' data.
    indexes = statements.count("SELECT blob_chunks.") - statements.count("SELECT blob_chunks.data")
    assert indexes == 3
    assert statements.count("INSERT INTO blob_chunks") == 3
    with backend.db.transaction() as s:
        complete = {sha: done for sha, done in s.execute(select(Blob.sha256, Blob.complete))}
        held = s.scalars(select(BlobChunkRow.index).order_by(BlobChunkRow.index)).all()
    assert [complete[material_for(data).sha256] for data in files] == [True, True, False]
    assert held == [0, 1, 2]


def test_a_batch_looks_up_its_verified_files_once(backend):
    """One query for the files of all the batch's submissions, not one per submission; a file
    whose chunks arrive in the batch itself is asked again by the submissions after them."""
    files = [bytes([i]) * 2000 for i in range(5)]
    backend.feed(*[c for data in files[:3] for c in chunks(data, 1024)])  # verified before
    backend.feed(submission(_no(999)))  # the first batch also makes the counters' rows
    statements = _Statements(backend.db)
    late = chunks(files[4], 1024)  # the fifth file's chunks come within the batch
    subs = [submission(_no(i), materials=[material_for(data)]) for i, data in enumerate(files)]

    result = backend.feed(*subs[:4], *late, subs[4])

    assert (result.stored, result.rejected) == (5 + len(late), 0)
    assert statements.count("SELECT blobs.sha256, blobs.verified") == 1  # the batch's, held
    assert statements.count("SELECT blobs.sha256 FROM") == 1  # the late file's
    with backend.db.transaction() as s:
        rows = s.execute(select(Material.application_no, Material.verified)).all()
    verified = {no: ok for no, ok in rows}
    assert [verified[_no(i)] for i in range(5)] == [True, True, True, False, True]


def test_submissions_of_a_batch_keep_parents_before_children_under_foreign_keys(backend):
    """No relationship() orders the inserts; ingest flushes applications first (FKs enforced)."""
    if backend.db.engine.dialect.name == "sqlite":
        with backend.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    for start in range(0, 120, 40):  # several batches, so set order varies
        backend.feed(*[submission(_no(i)) for i in range(start, start + 40)])

    assert backend.count(Application) == 120
    with backend.db.transaction() as s:
        orphans = s.scalar(
            select(NotificationRow.id).where(
                NotificationRow.application_no.not_in(select(Application.application_no))
            )
        )
    assert orphans is None
    assert backend.count(WorkflowHistory) == 120


def _deposit(no: str) -> m.MaterialsDeposited:
    base = examples()["event.materials_deposited"]
    return base.model_copy(update={"message_id": m.new_message_id(), "application_no": no})


def test_a_deposit_ahead_of_its_submission_gets_no_receipt_and_lands_when_sent_again(backend):
    """Two workers (or a resend) can swap a submission and its deposit: the terminal's resend,
    prompted by the missing receipt, finds the application stored."""
    deposit = _deposit(_no(1))

    early = backend.feed(deposit)

    assert (early.stored, early.rejected, early.deferred) == (0, 0, 1)
    assert early.receipts == {}
    assert backend.count(RejectedMessage) == 0
    backend.feed(submission(_no(1)))
    again = backend.feed(deposit)
    assert again.stored == 1
    assert backend.application(_no(1)).deposit_compartment_id == deposit.compartment_id


def test_a_message_applied_on_its_own_reads_the_rows_held_before_it(backend):
    """Submissions applied together keep their rows out of the session until the flush; a
    deposit later in the batch (a savepoint of its own) finds its application stored, and
    the batch is not applied apart."""
    backend.feed(submission(_no(999)))  # the first batch also makes the counters' rows
    deposit = _deposit(_no(1))
    statements = _Statements(backend.db)

    result = backend.feed(submission(_no(1)), submission(_no(2)), deposit, submission(_no(3)))

    assert (result.stored, result.rejected, result.deferred) == (4, 0, 0)
    assert statements.count("SAVEPOINT") == 1  # the deposit's own; no second pass apart
    assert backend.application(_no(1)).deposit_compartment_id == deposit.compartment_id
    assert backend.count(Application) == 4
    assert backend.count(WorkflowHistory) == 5  # four submissions, one deposit
    assert backend.count(ProcessedMessage) == 5
    assert len(backend.sms("submitted")) == 4


def test_a_deposit_for_an_application_that_never_comes_is_refused_after_waiting(
    backend, monkeypatch
):
    deposit = _deposit(_no(7))
    assert backend.feed(deposit).deferred == 1

    monkeypatch.setattr(ingest_module, "NOT_YET_FOR", timedelta(0))
    late = backend.feed(deposit)

    assert late.rejected == 1
    assert "no application" in late.receipts[TERMINAL][0].reason
    assert backend.count(RejectedMessage) == 1
