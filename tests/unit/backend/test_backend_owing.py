"""request.owing_applications and supplements proven by ID card at the backend.

The applicant is named by the card's keyed digest; the answer lists only that person's open
applications that owe something (tolerated missing or asked for by staff), bounded, naming no
person; a stranger's card gets an empty list; expired or throttled questions get no answer.
event.supplement_provided with the card's digest is taken only for the applicant's own case.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from backend_unit_factories import FACE, TERMINAL, DeskSite, chunks, material_for
from backend_unit_factories import submission as canonical_submission
from pydantic import ValidationError
from sqlalchemy import select

from backend.models import (
    Material,
    MaterialSupplement,
    RejectedMessage,
    ReuseQueryLog,
    WorkflowHistory,
)
from backend.reuse import KeyQuestionLimit
from cloud_bridge.contract import messages as m

ZHANG = "11010519491231002X"  # the canonical applicant (张三, phone 13800138000)
LI = "110105198001010016"
NO = "AH-T0001-20261120-0001"
LEASE = b"%PDF-1.4 the lease, brought later with the ID card"


class Site(DeskSite):
    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path, "owing.db")

    def ref(self, number: str = ZHANG) -> str:
        return self.ingest.reuse.applicant_ref("cn_resident_id", number)

    def submit(self, no: str, number: str = ZHANG, tolerated: tuple[str, ...] = ("lease",)):
        base = canonical_submission(no)
        applicant = base.applicant.model_copy(update={"id_number": number})
        submitted = canonical_submission(
            no,
            applicant=applicant,
            reused_materials=[],
            tolerated_missing=[
                m.ToleratedMaterial(material_code=c, working_days=5) for c in tolerated
            ],
        )
        assert self.feed(submitted).stored == 1

    def query(self, ref: str, terminal: str = "T0002", **changes) -> m.OwingApplicationsQuery:
        fields = {
            "terminal_id": terminal,
            "operation_id": "OWING-" + m.new_message_id()[:12],
            "applicant_ref": ref,
            "expires_at": self.clock() + timedelta(seconds=5),
        }
        return m.OwingApplicationsQuery(**(fields | changes))

    def ask(self, ref: str, **changes) -> m.OwingApplications | None:
        query = self.query(ref, **changes)
        before = len(self.publisher.sent)
        result = self.feed(query)
        assert not result.receipts, "a request gets no receipt"
        sent = self.publisher.sent[before:]
        if not sent:
            return None
        [response] = sent
        assert isinstance(response, m.OwingApplications)
        assert (response.operation_id, response.request_id) == (
            query.operation_id,
            query.message_id,
        )
        assert response.terminal_id == query.terminal_id
        return response

    def provided(self, ref: str | None, no: str = NO, **changes) -> m.SupplementProvided:
        fields = {
            "terminal_id": "T0002",
            "operation_id": "SUP-" + m.new_message_id()[:16],
            "application_no": no,
            "applicant_ref": ref,
            "identity": FACE,
            "materials": [material_for(LEASE, "lease")],
            "provided_at": self.clock(),
        }
        return m.SupplementProvided(**(fields | changes))

    def rows(self, model, *where):
        with self.db.transaction() as s:
            return s.scalars(select(model).where(*where)).all()


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    yield s
    s.db.dispose()


def test_the_applicants_owing_application_is_listed_with_no_person_in_the_answer(site):
    site.submit(NO)
    site.submit("AH-T0001-20261120-0002", tolerated=())  # owes nothing: not listed
    answer = site.ask(site.ref())
    assert answer is not None and not answer.more
    [case] = answer.applications
    assert case.application_no == NO and case.item_code == "HJ-0101"
    assert case.state == m.CitizenState.RECEIVED
    assert case.submitted_on == date(2026, 11, 21)
    assert [(x.material_code, x.due_on) for x in case.supplements] == [
        ("lease", date(2026, 11, 27))
    ]
    assert case.requested == []
    wire = answer.encode().decode()
    for personal in ("张三", ZHANG, ZHANG[-4:], "13800138000", "8000", site.ref()):
        assert personal not in wire
    [audit] = site.rows(ReuseQueryLog, ReuseQueryLog.operation_id.startswith("OWING-"))
    assert (audit.terminal_id, audit.applicant_ref, audit.offered) == ("T0002", site.ref(), 1)


def test_another_persons_card_sees_nothing(site):
    site.submit(NO)
    answer = site.ask(site.ref(LI))
    assert answer is not None and answer.applications == [] and not answer.more


def test_staff_requested_materials_are_listed_while_the_case_waits_for_them(site):
    site.submit(NO, tolerated=())
    assert site.ask(site.ref()).applications == []
    site.desk.step(NO, "accept", "staff-1")
    site.desk.step(
        NO, "request_supplement", "staff-1", reason="unclear_scan", materials=["household-register"]
    )
    [case] = site.ask(site.ref()).applications
    assert case.state == m.CitizenState.SUPPLEMENT_NEEDED and case.supplements == []
    assert case.requested == [
        m.RequestedMaterial(material_code="household-register", reason="unclear_scan")
    ]
    site.desk.step(NO, "resume", "staff-1")  # staff go on without it: nothing owed any more
    assert site.ask(site.ref()).applications == []


def test_closed_applications_are_not_listed_and_take_nothing(site):
    site.submit(NO)
    site.desk.step(NO, "accept", "staff-1")
    site.desk.step(NO, "reject", "staff-1", reason="not_eligible")
    assert site.ask(site.ref()).applications == []
    result = site.feed(site.provided(site.ref()), *chunks(LEASE, 16, terminal_id="T0002"))
    assert result.rejected == 1
    [refused] = site.rows(RejectedMessage)
    assert "rejected: it takes nothing" in refused.reason
    assert site.rows(Material, Material.material_code == "lease") == []


def test_at_most_ten_are_listed_the_earliest_due_first_and_more_says_others_owe(site):
    for n in range(1, 13):
        site.clock.now += timedelta(days=1)  # each submitted a day later: due a day later
        site.submit(f"AH-T0001-20261120-{n:04d}")
    answer = site.ask(site.ref())
    assert len(answer.applications) == m.MAX_OWING_APPLICATIONS and answer.more
    assert [c.application_no for c in answer.applications][:2] == [
        "AH-T0001-20261120-0001",
        "AH-T0001-20261120-0002",
    ]
    assert len(answer.encode()) < m.MAX_MESSAGE_BYTES // 4


def test_an_expired_question_is_not_answered_and_a_terminal_asking_too_often_is_throttled(
    tmp_path,
):
    site = Site(tmp_path)
    try:
        site.submit(NO)
        expired = site.query(site.ref(), expires_at=site.clock() - timedelta(seconds=1))
        assert not site.feed(expired).receipts and site.publisher.sent == []
        site.ingest.owing.limit = KeyQuestionLimit(max_per_terminal=3)
        for _ in range(3):
            assert site.ask(site.ref()) is not None
        assert site.ask(site.ref()) is None  # the fourth within the hour
        assert site.ask(site.ref(), terminal=TERMINAL) is not None  # other terminals are not
        site.clock.now += timedelta(hours=1, seconds=1)
        assert site.ask(site.ref()) is not None  # aged out
    finally:
        site.db.dispose()


def test_a_material_brought_with_the_id_card_reaches_the_applicants_case(site):
    site.submit(NO)
    result = site.feed(site.provided(site.ref()), *chunks(LEASE, 16, terminal_id="T0002"))
    assert result.rejected == 0
    [lease] = site.rows(Material, Material.application_no == NO, Material.material_code == "lease")
    assert lease.verified
    [owed] = site.rows(MaterialSupplement, MaterialSupplement.application_no == NO)
    assert owed.supplied_at is not None
    notes = [h.note for h in site.rows(WorkflowHistory, WorkflowHistory.application_no == NO)]
    assert "supplement received: lease (ID card and face)" in notes


def test_a_card_that_is_not_the_applicants_supplies_nothing(site):
    site.submit(NO)
    result = site.feed(site.provided(site.ref(LI)), *chunks(LEASE, 16, terminal_id="T0002"))
    assert result.rejected == 1
    [refused] = site.rows(RejectedMessage)
    assert refused.reason == f"the card read is not the applicant of {NO}"
    assert LI not in refused.reason
    [owed] = site.rows(MaterialSupplement, MaterialSupplement.application_no == NO)
    assert owed.supplied_at is None


def test_the_contract_takes_exactly_one_proof_and_only_a_verified_face(site):
    with pytest.raises(ValidationError):  # neither
        site.provided(None, identity=None)
    with pytest.raises(ValidationError):  # both
        site.provided(site.ref(), phone_tail="8000")
    with pytest.raises(ValidationError):  # a card without the face check
        site.provided(site.ref(), identity=None)
    with pytest.raises(ValidationError):  # a face that did not match
        site.provided(site.ref(), identity=FACE.model_copy(update={"verified": False}))
    good = json.loads(site.provided(site.ref()).encode())
    good["phone_tail"] = "8000"
    with pytest.raises(m.MalformedMessage):
        m.decode(json.dumps(good).encode())
