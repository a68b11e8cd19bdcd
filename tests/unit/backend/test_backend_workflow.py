"""Staff steps through the workflow: allowed moves, refused moves, history and SMS."""

from __future__ import annotations

import pytest
from backend_unit_factories import submission
from sqlalchemy import select

from backend.models import WorkflowHistory
from backend.workflow import STAFF_STEPS, InvalidTransition, NotFound, State

NO = "AH-T0001-20261120-0001"


@pytest.fixture
def submitted(backend):
    backend.feed(submission(NO))
    return backend


def test_staff_walk_an_application_to_approved_with_history_and_sms(submitted):
    submitted.approve(NO)

    assert submitted.application(NO).status == State.APPROVED
    with submitted.db.transaction() as s:
        history = [
            (h.from_state, h.to_state, h.actor)
            for h in s.scalars(select(WorkflowHistory).order_by(WorkflowHistory.id))
        ]
    assert history == [
        (None, "submitted", "terminal:T0001"),
        ("submitted", "accepted", "staff-1"),
        ("accepted", "under_review", "staff-1"),
        ("under_review", "approved", "staff-1"),
    ]
    sms = submitted.sms()
    assert [x.kind for x in sms] == ["submitted", "accepted", "approved"]
    assert {x.phone for x in sms} == {"13800138000"}
    assert all(NO in x.text for x in sms)


def test_approving_a_submitted_application_is_an_invalid_transition(submitted):
    with pytest.raises(InvalidTransition) as info:
        submitted.desk.step(NO, "approve", "staff-1")

    assert info.value.state == "submitted"
    assert submitted.application(NO).status == State.SUBMITTED
    assert [x.kind for x in submitted.sms()] == ["submitted"]


def test_supplement_request_sends_only_the_fixed_wording_and_resume_returns_to_review(submitted):
    submitted.desk.step(NO, "accept", "staff-1")
    submitted.desk.step(
        NO,
        "request_supplement",
        "staff-1",
        "请补充户口本首页",
        reason="missing_material",
        materials=["household-register"],
    )

    assert submitted.application(NO).status == State.SUPPLEMENT_REQUESTED
    # The clerk's note stays in the history; the SMS carries no free text, only the fixed
    # reason and the material's catalog name.
    text = submitted.sms()[-1].text
    assert "请补充户口本首页" not in text
    assert "需补正材料：户口簿，原因：缺少必要材料" in text

    submitted.desk.step(NO, "resume", "staff-2")

    assert submitted.application(NO).status == State.UNDER_REVIEW
    assert [x.kind for x in submitted.sms()] == ["submitted", "accepted", "supplement_requested"]


def test_a_rejected_application_cannot_be_approved_or_resumed(submitted):
    submitted.desk.step(NO, "accept", "staff-1")
    submitted.desk.step(NO, "reject", "staff-1", "材料不全")

    for step in ("approve", "resume", "accept", "review"):
        with pytest.raises(InvalidTransition):
            submitted.desk.step(NO, step, "staff-1")
    assert submitted.application(NO).status == State.REJECTED


def test_every_staff_step_is_refused_from_a_state_it_does_not_start_from(submitted):
    for step, rule in STAFF_STEPS.items():
        if State.SUBMITTED not in rule.sources:
            with pytest.raises(InvalidTransition):
                submitted.desk.step(NO, step, "staff-1")


def test_unknown_application_is_not_found(backend):
    with pytest.raises(NotFound):
        backend.desk.step("AH-NOPE-0001", "accept", "staff-1")


def test_load_result_needs_an_approved_application(submitted):
    with pytest.raises(InvalidTransition):
        submitted.desk.load_result(NO, "T0001", "S", "staff-1")
    assert submitted.commands() == []
