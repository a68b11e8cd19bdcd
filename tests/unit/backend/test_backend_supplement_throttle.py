"""event.supplement_provided against one stolen terminal: found as a progress query is found.

A supplement by number and phone tail is bounded by the progress query's limits (a terminal's
misses, a number's guesses) and every failed proof gets one reason (ADR 0005); one proven by
ID card is a question by applicant key, in the terminal's budget of those.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from backend_unit_factories import FACE, TERMINAL, DeskSite, material_for
from backend_unit_factories import submission as canonical_submission
from sqlalchemy import select

from backend.models import MaterialSupplement, ReuseQueryLog, StatusQueryLog
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"  # phone 13800138000, owes the lease
ATTACKER = "T0002"
ZHANG = "11010519491231002X"  # the canonical applicant
LEASE = b"%PDF-1.4 the lease, brought later"


class Site(DeskSite):
    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path, "supplement-throttle.db")

    def submit(self, no: str) -> None:
        submitted = canonical_submission(
            no,
            reused_materials=[],
            tolerated_missing=[m.ToleratedMaterial(material_code="lease", working_days=5)],
        )
        assert self.feed(submitted).stored == 1

    def provided(
        self, no: str = NO, tail: str | None = "8000", terminal: str = ATTACKER, **changes
    ) -> m.SupplementProvided:
        fields = {
            "terminal_id": terminal,
            "operation_id": "SUP-" + m.new_message_id()[:16],
            "application_no": no,
            "phone_tail": tail,
            "materials": [material_for(LEASE, "lease")],
            "provided_at": self.clock(),
        }
        return m.SupplementProvided(**(fields | changes))

    def by_card(self, number: str, no: str = NO, terminal: str = ATTACKER):
        ref = self.ingest.reuse.applicant_ref("cn_resident_id", number)
        return self.provided(no, None, terminal, applicant_ref=ref, identity=FACE)

    def reasons(self, *messages: m.Message) -> list[str]:
        """The receipts' reasons, in order; a message taken has the reason ""."""
        result = self.feed(*messages)
        return [i.reason for items in result.receipts.values() for i in items]

    def outcomes(self, *where) -> list[str]:
        with self.db.transaction() as s:
            query = select(StatusQueryLog.outcome).where(*where).order_by(StatusQueryLog.id)
            return list(s.scalars(query))

    def supplied(self, no: str = NO) -> bool:
        with self.db.transaction() as s:
            row = s.scalar(
                select(MaterialSupplement).where(MaterialSupplement.application_no == no)
            )
            return row.supplied_at is not None


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    s.submit(NO)
    yield s
    s.db.dispose()


def test_a_terminal_missing_30_times_is_refused_and_cannot_lock_any_more_numbers(site, caplog):
    caplog.set_level(logging.WARNING, logger="backend.progress")
    misses = [site.provided(f"AH-T0002-20261120-{n:04d}", "0000") for n in range(1, 31)]
    assert site.reasons(*misses) == [
        f"application {x.application_no} not found with that phone tail" for x in misses
    ]
    assert "terminal T0002: 30 progress queries missed" not in caplog.text
    # Throttled: even the right tail is refused at that terminal, with the same reason.
    assert site.reasons(site.provided()) == [f"application {NO} not found with that phone tail"]
    assert "terminal T0002: 30 progress queries missed" in caplog.text
    assert not site.supplied()
    # Wrong tails from a throttled terminal are not guesses: the number stays open to others.
    assert site.feed(*[site.provided(tail=f"{n:04d}") for n in range(10)]).rejected == 10
    assert site.outcomes(StatusQueryLog.application_no == NO) == ["throttled"] * 11
    assert site.reasons(site.provided(terminal=TERMINAL)) == [""]
    assert site.supplied()
    # The misses age out after an hour.
    site.submit("AH-T0001-20261120-0002")
    site.clock.now += timedelta(hours=1, seconds=1)
    assert site.reasons(site.provided("AH-T0001-20261120-0002")) == [""]


def test_every_failed_proof_gets_one_reason_and_details_only_once_the_tail_is_proven(site):
    closed = "AH-T0001-20261120-0002"
    site.submit(closed)
    site.desk.step(closed, "accept", "staff-1")
    site.desk.step(closed, "reject", "staff-1", reason="not_eligible")
    household = material_for(b"%PDF-1.4 not owed", "household-register")

    def reason(no: str, tail: str, *materials: m.MaterialRef) -> str:
        lease = [material_for(LEASE, "lease")]
        [said] = site.reasons(site.provided(no, tail, materials=list(materials) or lease))
        return said.replace(no, "{no}")

    refusals = {
        "unknown number": reason("AH-T0001-20261120-0099", "8000"),
        "wrong tail": reason(NO, "1234"),
        "wrong tail, closed": reason(closed, "1234"),
        "wrong tail, not owed": reason(NO, "1234", household),
    }
    assert set(refusals.values()) == {"application {no} not found with that phone tail"}
    for n in range(3):  # 5 wrong tails now: NO is locked
        reason(NO, f"000{n}")
    assert reason(NO, "8000") == "application {no} not found with that phone tail"
    assert site.outcomes(StatusQueryLog.application_no == NO)[-1] == "locked"
    # Proven, the citizen may be told what they could see at the kiosk anyway.
    assert reason(closed, "8000") == "application {no} is rejected: it takes nothing"
    site.submit("AH-T0001-20261120-0003")
    assert reason("AH-T0001-20261120-0003", "8000", household) == (
        "application {no} does not owe household-register"
    )


def test_supplements_by_card_count_with_the_terminals_questions_by_applicant_key(site, caplog):
    caplog.set_level(logging.WARNING, logger="backend.reuse")
    walk = [site.by_card(f"1101051949123{n:04d}X") for n in range(60)]
    assert set(site.reasons(*walk)) == {f"the card read is not the applicant of {NO}"}
    assert "walking ID numbers" not in caplog.text
    # The 61st question within the hour: even the applicant's card is not looked at...
    assert site.reasons(site.by_card(ZHANG)) == [f"the card read is not the applicant of {NO}"]
    assert "terminal T0002 asked 60 questions by applicant key" in caplog.text
    assert not site.supplied()
    # ... and the terminal's owing questions are spent too.
    owing = m.OwingApplicationsQuery(
        terminal_id=ATTACKER,
        operation_id="OWING-" + m.new_message_id()[:12],
        applicant_ref=site.ingest.reuse.applicant_ref("cn_resident_id", ZHANG),
        expires_at=site.clock() + timedelta(seconds=5),
    )
    before = len(site.publisher.sent)
    site.feed(owing)
    assert site.publisher.sent[before:] == []
    with site.db.transaction() as s:
        offered = list(s.scalars(select(ReuseQueryLog.offered).order_by(ReuseQueryLog.id)))
    assert offered == [0] * 60 + [-1, -1]
    # An unknown number gets the card's refusal too; other terminals are answered.
    unknown = "AH-T0001-20261120-0099"
    assert site.reasons(site.by_card(ZHANG, unknown, TERMINAL)) == [
        f"the card read is not the applicant of {unknown}"
    ]
    assert site.reasons(site.by_card(ZHANG, terminal=TERMINAL)) == [""]
    assert site.supplied()
