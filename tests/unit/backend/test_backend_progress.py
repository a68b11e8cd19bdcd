"""Progress queries: states in citizen terms, no personal data, no oracle, guessing limited."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backend_unit_factories import TERMINAL, DeskSite
from backend_unit_factories import submission as canonical_submission
from sqlalchemy import select

from backend.models import StatusQueryLog
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"  # submitted Sat 21 Nov 2026, 05:30 Beijing; phone 13800138000
NOTE = "张三 13800138000: 户口本第二页模糊"


def submission(no: str, **changes: object) -> m.ApplicationSubmitted:
    """The canonical submission without its reused material (whose reference is unknown here)."""
    return canonical_submission(no, **({"reused_materials": []} | changes))


class Site(DeskSite):
    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path, "progress.db")

    def ask(self, no: str = NO, tail: str = "8000", terminal: str = "T0002") -> m.ApplicationStatus:
        query = m.ApplicationStatusQuery(
            terminal_id=terminal,
            operation_id="STATUS-" + m.new_message_id()[:12],
            application_no=no,
            phone_tail=tail,
            expires_at=self.clock() + timedelta(seconds=5),
        )
        before = len(self.publisher.sent)
        result = self.feed(query)
        assert not result.receipts, "a request gets no receipt"
        [response] = self.publisher.sent[before:]
        assert isinstance(response, m.ApplicationStatus)
        assert (response.operation_id, response.request_id) == (
            query.operation_id,
            query.message_id,
        )
        assert response.terminal_id == terminal
        return response

    def outcomes(self) -> list[str]:
        with self.db.transaction() as s:
            return list(s.scalars(select(StatusQueryLog.outcome).order_by(StatusQueryLog.id)))


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    yield s
    s.db.dispose()


def _answer_only(r: m.ApplicationStatus) -> dict:
    data = json.loads(r.encode())
    for envelope in ("message_id", "sent_at", "operation_id", "request_id", "expires_at"):
        data.pop(envelope)
    return data


def test_a_received_application_shows_item_dates_and_the_promised_working_day(site):
    site.feed(submission(NO))
    r = site.ask()
    assert r.found and r.state == m.CitizenState.RECEIVED
    assert r.item_code == "HJ-0101"
    assert r.submitted_on == date(2026, 11, 21)
    # 3 working days after Saturday 21 Nov: Mon 23, Tue 24, Wed 25.
    assert r.promised_by == date(2026, 11, 25)
    assert r.since == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert r.supplements == [] and r.pickup_terminal_id is None


def test_without_promised_days_the_promise_is_left_out(site):
    site.feed(submission(NO, promised_days=None))
    assert site.ask().promised_by is None


def test_every_workflow_state_reads_in_citizen_terms(site):
    site.feed(submission(NO))
    seen = []
    for step in ("accept", "request_supplement", "resume", "approve"):
        asked = (
            {"reason": "unclear_scan", "materials": ["household-register"]}
            if step == "request_supplement"
            else {}
        )
        site.desk.step(NO, step, "staff-1", NOTE, **asked)
        answer = site.ask()
        seen.append(answer.state)
        if step == "request_supplement":
            assert answer.requested == [
                m.RequestedMaterial(material_code="household-register", reason="unclear_scan")
            ]
        else:
            assert answer.requested == []
    assert seen == [
        m.CitizenState.UNDER_REVIEW,
        m.CitizenState.SUPPLEMENT_NEEDED,
        m.CitizenState.UNDER_REVIEW,
        m.CitizenState.APPROVED,
    ]
    site.clock.now += timedelta(hours=3)
    load = site.desk.load_result(NO, TERMINAL, "S", "staff-1")
    loaded_at = site.clock.now
    site.feed(
        m.ResultLoaded(
            terminal_id=TERMINAL,
            operation_id=load.load_id,
            load_id=load.load_id,
            application_no=NO,
            compartment_id="A05",
            loaded_at=loaded_at,
        )
    )
    site.clock.now += timedelta(hours=1)
    ready = site.ask()
    assert ready.state == m.CitizenState.READY_FOR_PICKUP
    assert ready.pickup_terminal_id == TERMINAL
    assert ready.since == loaded_at
    site.feed(
        m.ResultPickedUp(
            terminal_id=TERMINAL,
            operation_id=load.load_id,
            load_id=load.load_id,
            application_no=NO,
            compartment_id="A05",
            picked_up_at=site.clock.now,
        )
    )
    done = site.ask()
    assert done.state == m.CitizenState.PICKED_UP and done.pickup_terminal_id is None


def test_a_refused_application_says_refused_and_nothing_the_clerk_wrote(site):
    site.feed(submission(NO))
    site.desk.step(NO, "accept", "staff-1")
    site.desk.step(NO, "reject", "staff-1", NOTE)
    r = site.ask()
    assert r.state == m.CitizenState.REFUSED
    raw = r.encode().decode()
    for secret in ("张三", "13800138000", "11010519491231002X", "户口本", "staff-1", "8000"):
        assert secret not in raw


def test_materials_owed_are_listed_with_their_due_day(site):
    site.feed(
        submission(
            NO, tolerated_missing=[m.ToleratedMaterial(material_code="photo", working_days=5)]
        )
    )
    r = site.ask()
    # 5 working days after Saturday 21 Nov: Mon 23 … Fri 27.
    assert r.supplements == [m.SupplementDue(material_code="photo", due_on=date(2026, 11, 27))]


def test_a_wrong_tail_gets_exactly_the_answer_of_an_unknown_number(site):
    site.feed(submission(NO))
    wrong = site.ask(tail="1234")
    unknown = site.ask(no="AH-T0001-20261120-9999")
    assert not wrong.found
    assert _answer_only(wrong) == _answer_only(unknown)
    assert site.outcomes() == ["wrong_tail", "unknown"]


def test_five_wrong_tails_lock_the_number_for_24_hours_even_for_the_right_tail(site, caplog):
    site.feed(submission(NO))
    caplog.set_level(logging.WARNING, logger="backend.progress")
    for n in range(5):
        site.clock.now += timedelta(minutes=1)
        assert not site.ask(tail=f"000{n}").found
    assert "locked after 5 wrong phone tails" in caplog.text
    assert "8000" not in caplog.text
    locked = site.ask(tail="8000")
    assert _answer_only(locked) == _answer_only(site.ask(no="AH-T0001-20261120-9999"))
    assert site.outcomes()[-2:] == ["locked", "unknown"]
    # Other applications are not affected.
    site.feed(submission("AH-T0001-20261120-0002"))
    assert site.ask(no="AH-T0001-20261120-0002").found
    # The window slides: 24 h after the last guess (the locked query counts as one) it opens.
    site.clock.now += timedelta(hours=24, seconds=1)
    assert site.ask(tail="8000").found


def test_four_wrong_tails_do_not_lock(site):
    site.feed(submission(NO))
    for n in range(4):
        site.ask(tail=f"111{n}")
    assert site.ask(tail="8000").found


def test_an_expired_request_is_not_answered_but_audited(site):
    site.feed(submission(NO))
    query = m.ApplicationStatusQuery(
        terminal_id="T0002",
        operation_id="STATUS-000000000001",
        application_no=NO,
        phone_tail="8000",
        expires_at=site.clock() - timedelta(seconds=1),
    )
    site.feed(query)
    assert not [x for x in site.publisher.sent if isinstance(x, m.ApplicationStatus)]
    assert site.outcomes() == ["expired"]


def test_a_request_from_an_unregistered_terminal_is_ignored(site):
    site.feed(submission(NO))
    query = m.ApplicationStatusQuery(
        terminal_id="T0099",
        operation_id="STATUS-000000000002",
        application_no=NO,
        phone_tail="8000",
        expires_at=site.clock() + timedelta(seconds=5),
    )
    site.feed(query)
    assert not [x for x in site.publisher.sent if isinstance(x, m.ApplicationStatus)]
    assert site.outcomes() == []


def test_the_phone_tail_is_kept_out_of_reprs():
    query = m.ApplicationStatusQuery(
        terminal_id="T0002",
        operation_id="STATUS-000000000003",
        application_no=NO,
        phone_tail="8000",
        expires_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert "8000" not in repr(query)


def test_a_terminal_kept_out_writes_no_more_than_twice_its_budget_to_the_log(site):
    # Each throttled query was a row: a stolen certificate asking at broker speed grew the
    # audit log without bound. Throttled queries are audited up to twice the budget an hour,
    # which keeps the terminal out while it goes on asking.
    site.feed(submission(NO))
    for n in range(100):
        assert not site.ask(no=f"AH-T0001-20261120-{n + 100:04d}").found
    assert site.outcomes() == ["unknown"] * 30 + ["throttled"] * 30
    site.clock.now += timedelta(minutes=50)
    assert not site.ask().found  # still out, the right tail too
    assert len(site.outcomes()) == 60
    assert site.ask(terminal=TERMINAL).found


def test_a_terminal_trying_number_after_number_is_not_answered_for_an_hour(site, caplog):
    site.feed(submission(NO))
    caplog.set_level(logging.WARNING, logger="backend.progress")
    for n in range(30):
        assert not site.ask(no=f"AH-T0001-20261120-{n + 100:04d}").found
    assert "terminal T0002: 30 progress queries missed" not in caplog.text
    throttled = site.ask()  # the right number and tail, from the same terminal
    assert _answer_only(throttled) == _answer_only(site.ask(no="AH-T0001-20261120-9999"))
    assert "terminal T0002: 30 progress queries missed" in caplog.text
    assert site.outcomes()[-2:] == ["throttled", "throttled"]
    assert site.ask(terminal=TERMINAL).found  # other terminals are answered
    site.clock.now += timedelta(hours=1, seconds=1)
    assert site.ask().found
