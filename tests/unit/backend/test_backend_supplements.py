"""event.supplement_provided at the backend: only owed materials of the application whose
phone tail the citizen gave; a wrong tail counts against the number like a progress query."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from backend_unit_factories import KEY, TERMINAL, RecordingPublisher, chunks, material_for
from backend_unit_factories import submission as canonical_submission
from sqlalchemy import select

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest
from backend.models import Material, MaterialSupplement, StatusQueryLog, WorkflowHistory
from backend.sms import HeldSms
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"  # phone 13800138000
OTHER = "T0002"
LEASE = b"%PDF-1.4 the lease, brought later"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ingest(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'supplements.db'}")
    db.migrate()
    ingest = Ingest(
        db,
        BlobStore(tmp_path / "blobs"),
        HeldSms(),
        RecordingPublisher(),
        clock=Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC)),
    )
    ingest.register_terminal(TERMINAL, KEY)
    ingest.register_terminal(OTHER, KEY)
    submitted = canonical_submission(
        NO,
        reused_materials=[],
        tolerated_missing=[m.ToleratedMaterial(material_code="lease", working_days=5)],
    )
    assert ingest.handle_batch([(submitted.topic(), submitted.encode())]).stored == 1
    yield ingest
    db.dispose()


def feed(ingest: Ingest, *messages: m.Message):
    return ingest.handle_batch([(x.topic(), x.encode()) for x in messages])


def provided(tail: str = "8000", *refs: m.MaterialRef, no: str = NO) -> m.SupplementProvided:
    return m.SupplementProvided(
        terminal_id=OTHER,  # brought at another terminal of the fleet
        operation_id="SUP-" + m.new_message_id()[:16],
        application_no=no,
        phone_tail=tail,
        materials=list(refs) or [material_for(LEASE, "lease")],
        provided_at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
    )


def rows(ingest: Ingest, model, *where):
    with ingest.db.transaction() as s:
        return s.scalars(select(model).where(*where)).all()


def test_an_owed_material_is_attached_verified_and_marked_received_once(ingest):
    event = provided()
    result = feed(ingest, event, *chunks(LEASE, 16, terminal_id=OTHER))
    assert result.rejected == 0 and result.stored >= 1
    [lease] = rows(
        ingest, Material, Material.application_no == NO, Material.material_code == "lease"
    )
    assert lease.verified
    [owed] = rows(ingest, MaterialSupplement, MaterialSupplement.application_no == NO)
    assert owed.supplied_at == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    history = rows(ingest, WorkflowHistory, WorkflowHistory.application_no == NO)
    assert (f"terminal:{OTHER}", "supplement received: lease") in [
        (h.actor, h.note) for h in history
    ]
    assert feed(ingest, event).duplicate == 1  # the outbox's resend
    again = feed(ingest, provided())
    assert again.rejected == 1, "nothing is owed any more"
    assert len(rows(ingest, Material, Material.material_code == "lease")) == 1


def test_materials_not_owed_and_unknown_applications_are_refused_with_nothing_kept(ingest):
    other = provided("8000", material_for(b"%PDF other", "household-register"))
    result = feed(ingest, other)
    assert result.rejected == 1
    [item] = [i for items in result.receipts.values() for i in items]
    assert "does not owe household-register" in item.reason
    twice = provided("8000", material_for(LEASE, "lease"), material_for(b"%PDF 2", "lease"))
    assert feed(ingest, twice).rejected == 1
    assert feed(ingest, provided(no="AH-T0001-20261120-0099")).rejected == 1
    kept = [(x.material_code, x.sha256) for x in rows(ingest, Material, Material.id > 0)]
    assert kept == [(x.material_code, x.sha256) for x in canonical_submission(NO).materials]
    [owed] = rows(ingest, MaterialSupplement, MaterialSupplement.application_no == NO)
    assert owed.supplied_at is None


def test_a_wrong_tail_is_refused_and_counts_against_the_number_like_a_progress_query(ingest):
    limit = ingest.progress.settings.max_wrong_tails
    for _ in range(limit):
        assert feed(ingest, provided("1111")).rejected == 1
    # Locked now: even the right tail is refused until the wrong ones age out.
    result = feed(ingest, provided("8000"))
    assert result.rejected == 1
    outcomes = [
        r.outcome for r in rows(ingest, StatusQueryLog, StatusQueryLog.application_no == NO)
    ]
    assert outcomes == ["wrong_tail"] * limit + ["locked"]
    [owed] = rows(ingest, MaterialSupplement, MaterialSupplement.application_no == NO)
    assert owed.supplied_at is None
