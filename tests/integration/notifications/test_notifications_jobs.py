"""Scheduled reminders, run once per cluster by whichever worker holds the lease."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from held_transactions import done_while_held
from sqlalchemy import select

from backend.db import Database
from backend.models import IngestCounter, MaterialSupplement, WorkflowHistory
from backend.notifications.reminders import Reminders
from backend.notifications.service import NotificationWorker, WorkerSettings
from backend.workdays import WorkingDayCalendar
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261203-0001"
CALENDAR = WorkingDayCalendar()  # Monday to Friday


def _reminders(notified, db: Database | None = None) -> Reminders:
    return Reminders(
        db or notified.db,
        CALENDAR,
        lambda no, note: notified.desk.withdraw(no, "scheduler", note),
    )


def _loaded(notified) -> str:
    notified.approve(NO)
    return notified.load(NO)


def test_two_workers_one_lease_jobs_run_once(notified):
    _loaded(notified)
    notified.drain()
    notified.clock.advance(timedelta(days=6, hours=1))  # the 7-day code expires within 24 h
    other_db = Database(notified.db.url)
    notified.databases.append(other_db)
    fast = WorkerSettings(reminders_every=timedelta(0), reports_every=timedelta(hours=1))
    workers = [
        NotificationWorker(
            db,
            notified.dispatcher(),
            _reminders(notified, db),
            notified.clock,
            fast,
            worker_id=name,
        )
        for db, name in ((notified.db, "backend.1"), (other_db, "backend.2"))
    ]

    for _ in range(3):
        for w in workers:
            w.run_once()

    assert [w.holds_lease for w in workers] == [True, False]
    assert notified.kinds_received().count("code_expiring") == 1

    workers[0].stop()  # gives the lease up at once; the other takes over on its next pass
    workers[1].run_once()
    assert workers[1].holds_lease


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # one writer at a time
def test_a_pass_with_nothing_to_send_waits_for_no_open_write(notified):
    """Each pass (every half second, and after each commit that queues a message) wrote the
    lease, and read what is due under the write lock: on SQLite it queued behind every ingest
    commit. Now the holder writes only to renew the lease, once a third of it has passed, and
    the other worker only to take it when it is free."""
    other_db = Database(notified.db.url)
    notified.databases.append(other_db)
    workers = [
        NotificationWorker(db, notified.dispatcher(), None, notified.clock, worker_id=name)
        for db, name in ((notified.db, "backend.1"), (other_db, "backend.2"))
    ]
    for w in workers:
        w.run_once()
    assert [w.holds_lease for w in workers] == [True, False]
    writes = iter(range(100))

    def while_ingest_writes(work) -> bool:
        row = IngestCounter(name=f"held-{next(writes)}", value=1)
        return done_while_held(notified.db, lambda s: s.add(row), work, reading=False)

    assert while_ingest_writes(workers[0].run_once)
    assert while_ingest_writes(workers[1].run_once)
    notified.clock.advance(WorkerSettings().lease_ttl / 3)
    assert not while_ingest_writes(workers[0].run_once)  # renewing is a write: it waited
    assert while_ingest_writes(workers[1].run_once)
    assert [w.holds_lease for w in workers] == [True, False]


def test_code_expiring_reminder_is_queued_once_per_code(notified):
    _loaded(notified)
    reminders = _reminders(notified)
    assert reminders.codes_expiring(notified.clock()) == 0  # 7 days left

    notified.clock.advance(timedelta(days=6, hours=1))
    first = reminders.codes_expiring(notified.clock())
    again = reminders.codes_expiring(notified.clock())

    assert (first, again) == (1, 0)
    (row,) = [r for r in notified.rows() if r.kind == "code_expiring"]
    assert "code" not in row.params and row.sealed is None  # the code itself is not resent


def test_an_uncollected_result_goes_back_to_the_office_and_staff_see_why(notified):
    load_id = _loaded(notified)
    notified.clock.advance(timedelta(days=7, minutes=1))

    returned = _reminders(notified).uncollected(notified.clock())

    assert returned == 1
    (withdraw,) = [c for c in notified.publisher.sent if isinstance(c, m.WithdrawResult)]
    assert withdraw.load_id == load_id
    assert notified.rows()[-1].kind == "returned"
    with notified.db.transaction() as s:
        last = s.scalars(select(WorkflowHistory).order_by(WorkflowHistory.id.desc())).first()
        assert (last.to_state, last.actor) == ("returned", "scheduler")
        assert last.note == "pickup code expired uncollected"
    assert _reminders(notified).uncollected(notified.clock()) == 0


def test_a_supplement_due_within_two_working_days_is_reminded_once(notified):
    notified.submit(NO)
    today = notified.clock().astimezone(m.SERVICE_TZ).date()
    due = CALENDAR.add_working_days(today, 2)
    with notified.db.transaction() as s:
        s.add(
            MaterialSupplement(
                application_no=NO,
                material_code="household-register",
                reason="tolerated",
                working_days=5,
                due_on=due,
            )
        )

    reminders = _reminders(notified)
    counts = [reminders.supplements_due(notified.clock()) for _ in range(2)]

    assert counts == [1, 0]
    (row,) = [r for r in notified.rows() if r.kind == "supplement_due"]
    assert row.params == {"no": NO, "date": f"{due:%Y-%m-%d}"}


def test_a_supplement_due_later_is_not_reminded_yet(notified):
    notified.submit(NO)
    today = notified.clock().astimezone(m.SERVICE_TZ).date()
    with notified.db.transaction() as s:
        s.add(
            MaterialSupplement(
                application_no=NO,
                material_code="household-register",
                reason="tolerated",
                working_days=5,
                due_on=CALENDAR.add_working_days(today, 5),
            )
        )

    assert _reminders(notified).supplements_due(notified.clock()) == 0


def test_a_worker_that_lost_the_lease_stops_sending_mid_drain(notified):
    notified.submit(NO)
    notified.submit("AH-T0001-20261203-0002", phone="13900139000")
    answers = iter([True, False])

    sent = notified.dispatcher().drain(notified.clock(), lambda: next(answers))

    assert sent == 1 and len(notified.emulator.received) == 1


def test_a_message_another_worker_is_sending_is_left_alone(notified):
    notified.submit(NO)
    slow = replace(notified.settings, reconcile_after=timedelta(seconds=30))
    notified.settings = slow
    notified.emulator.delay_s = 2.5  # the first worker's call is still in flight
    notified.drain()  # times out: the row stays "sending" for 30 s
    notified.emulator.delay_s = 0

    notified.dispatcher(fresh_process=True).drain(notified.clock())  # the second worker

    assert [r.state for r in notified.rows()] == ["sending"]
    assert len(notified.emulator.received) == 1
    notified.clock.advance(timedelta(seconds=31))
    notified.drain()
    assert [r.state for r in notified.rows()] == ["accepted"]
    assert len(notified.emulator.received) == 1
