"""Retention (PIPL): closed cases lose personal data and scans after the period, not before;
statistics stay; shared scans stay while another case holds them; every run is audited."""

from __future__ import annotations

import hashlib
import logging
import random
from datetime import timedelta

import pytest
from backend_unit_factories import chunks, material_for, submission
from sqlalchemy import func, select

from allhours.broker import free_port
from backend.bootstrap import build_backend
from backend.dead_letters import DeadLetter
from backend.models import (
    Application,
    Blob,
    BlobChunkRow,
    Material,
    RejectedMessage,
    RetentionRun,
    ServiceRating,
    WorkflowHistory,
    utcnow,
)
from backend.notifications.models import NotificationRow
from backend.queries import ingest_stats
from backend.retention import Retention, RetentionSettings
from backend.settings import BackendSettingsError, load_backend_settings
from provisioning.authority import SiteAuthority

A, B, OPEN = "AH-T0001-20261120-0001", "AH-T0001-20261120-0002", "AH-T0001-20261120-0003"
ONLY_A = bytes(random.Random(1).randrange(256) for _ in range(5_000))
SHARED = bytes(random.Random(2).randrange(256) for _ in range(7_000))
DAYS = 180


def _closed_at(backend, no: str):
    with backend.db.transaction() as s:
        return s.scalar(
            select(func.max(WorkflowHistory.at)).where(WorkflowHistory.application_no == no)
        )


@pytest.fixture
def cases(backend):
    """A and B rejected (A with its own scan and one it shares with OPEN), OPEN still open."""
    backend.feed(
        submission(A, materials=[material_for(ONLY_A), material_for(SHARED, "id-card")]),
        submission(B),
        submission(OPEN, materials=[material_for(SHARED, "id-card")]),
    )
    backend.feed(*chunks(ONLY_A, 4096), *chunks(SHARED, 4096))
    for no in (A, B):
        backend.desk.step(no, "accept", "staff-1")
        backend.desk.step(no, "reject", "staff-1", "申请人张三电话13800138000未接")
    with backend.db.transaction() as s:
        s.add(
            ServiceRating(
                application_no=A,
                terminal_id="T0001",
                score=2,
                rated_at=utcnow(),
                closure_note="已回访张三，电话13800138000",
            )
        )
    return backend


def _retention(backend, **settings) -> Retention:
    return Retention(backend.db, backend.ingest.blobs, RetentionSettings(days=DAYS, **settings))


def _path(backend, data: bytes):
    sha = hashlib.sha256(data).hexdigest()
    return backend.blob_dir / sha[:2] / sha


def test_nothing_is_erased_a_minute_before_the_period_ends(cases):
    first_closed = min(_closed_at(cases, A), _closed_at(cases, B))

    report = _retention(cases).run(first_closed + timedelta(days=DAYS) - timedelta(minutes=1))

    assert (report.applications, report.scans_deleted) == (0, 0)
    app = cases.application(A)
    assert (app.applicant_name, app.personal_data_erased_at) != ("", None)
    assert app.personal_data_erased_at is None and app.phone
    assert _path(cases, ONLY_A).is_file() and _path(cases, SHARED).is_file()


def test_closed_cases_lose_personal_data_and_scans_after_the_period(cases, caplog):
    before = {
        "applications": cases.count(Application),
        "history": cases.count(WorkflowHistory),
        "notifications": cases.count(NotificationRow),
        "materials": cases.count(Material),
    }
    open_before = cases.application(OPEN)
    last_closed = max(_closed_at(cases, A), _closed_at(cases, B))
    now = last_closed + timedelta(days=DAYS, minutes=1)

    with caplog.at_level(logging.INFO, logger="allhours.audit"):
        report = _retention(cases).run(now)

    assert (report.applications, report.scans_deleted) == (2, 1)
    assert report.bytes_freed == len(ONLY_A)
    for no in (A, B):
        app = cases.application(no)
        assert (app.applicant_name, app.id_number, app.phone, app.identity) == ("", "", "", {})
        assert app.applicant_ref is None and app.personal_data_erased_at == now
        # What the statistics read stays.
        assert (app.status, app.item_code, app.terminal_id) == ("rejected", "HJ-0101", "T0001")
        assert app.submitted_at is not None
    # A's own scan is gone; the one OPEN still holds stays, with its blob row.
    assert not _path(cases, ONLY_A).exists()
    assert _path(cases, SHARED).read_bytes() == SHARED
    with cases.db.transaction() as s:
        assert s.get(Blob, hashlib.sha256(ONLY_A).hexdigest()) is None
        assert s.get(Blob, hashlib.sha256(SHARED).hexdigest()) is not None
        a_materials = s.scalars(select(Material).where(Material.application_no == A)).all()
        assert sorted(m.material_code for m in a_materials) == ["household-register", "id-card"]
        assert {m.sha256 for m in a_materials} == {""}
        assert all(m.pages == 1 and m.size > 0 for m in a_materials)
        notes = s.scalars(
            select(WorkflowHistory.note).where(WorkflowHistory.application_no.in_([A, B]))
        ).all()
        assert set(notes) == {""}
        for row in s.scalars(
            select(NotificationRow).where(NotificationRow.application_no.in_([A, B]))
        ):
            assert (row.phone, row.params, row.sealed) == ("", {}, None)
            assert row.kind and row.state
        rating = s.get(ServiceRating, A)
        assert (rating.score, rating.closure_note) == (2, "")
        (run,) = s.scalars(select(RetentionRun)).all()
        assert (run.applications, run.scans_deleted, run.retention_days) == (2, 1, DAYS)
    after = {
        "applications": cases.count(Application),
        "history": cases.count(WorkflowHistory),
        "notifications": cases.count(NotificationRow),
        "materials": cases.count(Material),
    }
    assert after == before
    # The open case is untouched.
    still = cases.application(OPEN)
    assert (still.applicant_name, still.phone, still.personal_data_erased_at) == (
        open_before.applicant_name,
        open_before.phone,
        None,
    )
    (line,) = [r.getMessage() for r in caplog.records if r.name == "allhours.audit"]
    assert "2 closed cases" in line and "1 scans" in line and f"{DAYS} days" in line
    assert open_before.phone not in line and open_before.applicant_name not in line


def test_a_second_run_erases_nothing_more(cases):
    now = max(_closed_at(cases, A), _closed_at(cases, B)) + timedelta(days=DAYS, minutes=1)
    retention = _retention(cases)
    retention.run(now)

    again = retention.run(now + timedelta(days=1))

    assert (again.applications, again.scans_deleted, again.bytes_freed) == (0, 0, 0)
    assert cases.application(A).personal_data_erased_at == now
    assert cases.count(RetentionRun) == 2


def test_batches_are_bounded_and_all_due_cases_are_reached(cases):
    now = max(_closed_at(cases, A), _closed_at(cases, B)) + timedelta(days=DAYS, minutes=1)

    report = _retention(cases, batch=1).run(now)

    assert report.applications == 2


def test_a_shared_scan_goes_when_its_last_case_goes(cases):
    cases.desk.step(OPEN, "accept", "staff-1")
    cases.desk.step(OPEN, "reject", "staff-1")
    now = _closed_at(cases, OPEN) + timedelta(days=DAYS, minutes=1)

    report = _retention(cases).run(now)

    assert (report.applications, report.scans_deleted) == (3, 2)
    assert not _path(cases, SHARED).exists()


def _backdate(backend, data: bytes, by: timedelta) -> None:
    """Make the file's row and its chunks as old as if they came `by` ago."""
    sha = hashlib.sha256(data).hexdigest()
    with backend.db.transaction() as s:
        blob = s.get(Blob, sha)
        blob.first_chunk_at -= by
        if blob.completed_at is not None:
            blob.completed_at -= by
        for chunk in s.scalars(select(BlobChunkRow).where(BlobChunkRow.sha256 == sha)):
            chunk.received_at -= by


def test_files_no_case_names_go_two_days_after_they_came(cases):
    """What no application names (a refused submission's pages, or what a stolen certificate
    sends) was kept for the whole retention period, 180 days: the disk filled first."""
    whole = bytes(random.Random(3).randrange(256) for _ in range(6_000))
    part = bytes(random.Random(4).randrange(256) for _ in range(9_000))
    cases.feed(*chunks(whole, 4096), chunks(part, 4096)[0])
    with cases.db.transaction() as s:
        heard = s.get(Blob, hashlib.sha256(whole).hexdigest()).first_chunk_at
    assert _path(cases, whole).is_file()

    early = _retention(cases).run(heard + timedelta(hours=48) - timedelta(minutes=1))
    assert early.scans_deleted == 0 and _path(cases, whole).is_file()

    report = _retention(cases, batch=1).run(heard + timedelta(hours=48, minutes=1))

    assert (report.scans_deleted, report.bytes_freed) == (2, len(whole))
    assert not _path(cases, whole).exists()
    with cases.db.transaction() as s:
        left = set(s.scalars(select(Blob.sha256)))
        named = set(s.scalars(select(Material.sha256)))
        assert s.scalar(select(func.count()).select_from(BlobChunkRow)) == 0
    # The files the cases name stay, closed or not, until their cases' erasure.
    assert left == named and hashlib.sha256(ONLY_A).hexdigest() in named
    assert _path(cases, ONLY_A).is_file() and _path(cases, SHARED).is_file()


def test_an_upload_going_on_and_a_file_a_waiting_submission_names_stay(cases):
    going = bytes(random.Random(5).randrange(256) for _ in range(9_000))
    waiting = bytes(random.Random(6).randrange(256) for _ in range(6_000))
    parts = chunks(going, 4096)
    cases.feed(parts[0])
    _backdate(cases, going, timedelta(days=3))
    cases.feed(parts[1])  # the upload goes on, slowly
    cases.feed(*chunks(waiting, 4096))
    _backdate(cases, waiting, timedelta(days=3))
    # The submission naming it failed in ingest and waits for an operator's replay.
    held = submission("AH-T0001-20261120-0009", materials=[material_for(waiting)])
    with cases.db.transaction() as s:
        letter = DeadLetter(
            topic=held.topic(),
            payload=held.encode(),
            size=len(held.encode()),
            reason="IntegrityError",
            attempts=3,
            failed_at=utcnow(),
        )
        s.add(letter)

    assert _retention(cases).run(utcnow()).scans_deleted == 0
    assert _path(cases, waiting).is_file()
    with cases.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(BlobChunkRow)) == 2

    # Replayed (and refused, say): nothing names the file any more.
    with cases.db.transaction() as s:
        s.get(DeadLetter, letter.id).replayed_at = utcnow()
    report = _retention(cases).run(utcnow())
    assert (report.scans_deleted, report.bytes_freed) == (1, len(waiting))
    assert not _path(cases, waiting).exists()


def test_a_file_named_after_it_came_counts_against_its_sender_no_more(cases):
    later = bytes(random.Random(7).randrange(256) for _ in range(5_000))
    cases.feed(*chunks(later, 4096))
    cases.feed(submission("AH-T0001-20261120-0009", materials=[material_for(later)]))
    sha = hashlib.sha256(later).hexdigest()
    with cases.db.transaction() as s:
        assert s.get(Blob, sha).held_for == "T0001"

    _retention(cases).run(utcnow() + timedelta(days=3))

    with cases.db.transaction() as s:
        blob = s.get(Blob, sha)
        assert (blob.held_for, blob.verified) == (None, True)
    assert _path(cases, later).is_file()


def test_refused_messages_go_after_a_month_and_the_counts_stay(cases):
    """Every refused message left a row no job removed: 2,000 junk messages, 2,000 rows."""
    topic = "allhours/v1/terminals/T0001/telemetry"
    cases.feed(*[(topic, b'{"junk": %d}' % n) for n in range(5)])
    with cases.db.transaction() as s:
        rows = s.scalars(select(RejectedMessage).order_by(RejectedMessage.id)).all()
        for row in rows[:3]:
            row.received_at -= timedelta(days=31)
        counted = ingest_stats(s)["rejected"]

    report = _retention(cases).run(utcnow())

    assert report.rejected_messages == 3
    with cases.db.transaction() as s:
        stats = ingest_stats(s)
    assert stats["rejected"] == counted  # the totals still count them
    assert [r["topic"] for r in stats["rejected_messages"]] == [topic, topic]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"unclaimed_after": timedelta(minutes=59)}, "must be kept 1:00:00 at least"),
        ({"rejected_days": 0}, r"refused messages' days must be 1\.\.36500"),
    ],
)
def test_keeping_too_short_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        RetentionSettings(**settings)


def test_old_dead_letters_lose_their_payload(cases):
    now = utcnow()
    with cases.db.transaction() as s:
        for age, payload in ((DAYS + 1, b'{"old": 1}'), (DAYS - 1, b'{"new": 1}')):
            s.add(
                DeadLetter(
                    topic="t",
                    payload=payload,
                    size=len(payload),
                    reason="IntegrityError",
                    attempts=3,
                    failed_at=now - timedelta(days=age),
                )
            )

    report = _retention(cases).run(now)

    assert report.dead_letters == 1
    with cases.db.transaction() as s:
        kept = s.scalars(select(DeadLetter.payload).order_by(DeadLetter.id)).all()
    assert kept == [None, b'{"new": 1}']


@pytest.mark.parametrize("days", [0, -5, 36_501])
def test_a_retention_period_outside_bounds_is_refused(days):
    with pytest.raises(ValueError, match=r"retention days must be 1\.\.36500"):
        RetentionSettings(days=days)


def test_the_worker_settings_carry_the_retention_days(tmp_path):
    SiteAuthority.create(tmp_path / "site-ca")
    path = tmp_path / "backend.toml"
    path.write_text(
        f'database_url = "sqlite:///{tmp_path / "b.sqlite"}"\n'
        'ca_dir = "site-ca"\nblob_dir = "blobs"\nretention_days = 30\n',
        encoding="utf-8",
    )
    backend = build_backend(load_backend_settings(path, {"enroll_port": free_port()}))
    try:
        assert backend.service.retention.retention.settings.days == 30
    finally:
        backend.enrollment.stop()
        backend.service.stop()
    with pytest.raises(BackendSettingsError, match=r"retention_days: .*greater than or equal to 1"):
        load_backend_settings(path, {"retention_days": 0})
