"""From approval to pickup: load command, keyed code digest, SMS, rotation, withdrawal."""

from __future__ import annotations

import re

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from sqlalchemy import select

from backend.models import LoadOperation
from backend.notifications.models import NotificationRow, NotificationState
from backend.notifications.outbox import stored_key
from backend.notifications.routes import needs_attention
from backend.notifications.sealing import Sealer
from backend.workflow import InvalidTransition, State
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code

NO = "AH-T0001-20261120-0001"


@pytest.fixture
def approved(backend):
    backend.feed(submission(NO))
    backend.approve(NO)
    return backend


def _loaded_event(load_id: str, **changes: object) -> m.ResultLoaded:
    return m.ResultLoaded(
        terminal_id=TERMINAL,
        operation_id=load_id,
        load_id=load_id,
        application_no=NO,
        compartment_id="A05",
        loaded_at=m.utcnow(),
        **changes,
    )


def _code_in(text: str) -> str:
    match = re.search(r"取件码(\d{6})", text)
    assert match, "the SMS carries a 6-digit code"
    return match.group(1)


def _load(backend) -> LoadOperation:
    with backend.db.transaction() as s:
        return s.scalars(select(LoadOperation)).one()


def test_load_result_sends_one_load_command_and_keeps_the_application_approved(approved):
    load = approved.desk.load_result(NO, TERMINAL, "M", "staff-1")

    assert re.fullmatch(r"L-[0-9a-f]{12}", load.load_id)
    (command,) = approved.publisher.sent
    assert isinstance(command, m.LoadResult)
    assert (command.load_id, command.size, command.terminal_id) == (load.load_id, "M", TERMINAL)
    assert [c.status for c in approved.commands()] == ["queued"]
    assert approved.application(NO).status == State.APPROVED
    with pytest.raises(InvalidTransition):
        approved.desk.load_result(NO, TERMINAL, "M", "staff-1")


def test_ack_of_load_result_records_the_reserved_compartment(approved):
    load = approved.desk.load_result(NO, TERMINAL, "S", "staff-1")
    command = approved.publisher.sent[0]

    approved.feed(
        m.CommandAck(
            terminal_id=TERMINAL,
            command_id=command.message_id,
            command_type="command.load_result",
            operation_id=load.load_id,
            outcome="done",
            result={"compartment_id": "B02"},
        )
    )

    assert (_load(approved).status, _load(approved).compartment_id) == ("reserved", "B02")
    assert [c.status for c in approved.commands()] == ["done"]


def test_result_loaded_issues_exactly_one_code_whose_digest_matches_the_sms(approved):
    load = approved.desk.load_result(NO, TERMINAL, "S", "staff-1")
    event = _loaded_event(load.load_id)
    resent = event.model_copy(update={"message_id": m.new_message_id()})

    approved.feed(event)
    approved.feed(resent)

    set_codes = [c for c in approved.publisher.sent if isinstance(c, m.SetPickupCode)]
    assert len(set_codes) == 1
    assert len(approved.commands("command.set_pickup_code")) == 1
    code_sms = [x for x in approved.sms() if x.kind == "pickup_code"]
    assert len(code_sms) == 1
    code = _code_in(code_sms[0].text)
    assert set_codes[0].code_digest == pickup_code.digest(KEY, TERMINAL, code)
    assert set_codes[0].operation_id == f"{load.load_id}#1"
    # The citizen reads the expiry on Beijing's clock, not the server's UTC.
    expires = set_codes[0].code_expires_at.astimezone(m.SERVICE_TZ)
    assert f"{expires:%Y-%m-%d %H:%M}前有效" in code_sms[0].text
    assert approved.application(NO).status == State.RESULT_LOADED
    assert (_load(approved).status, _load(approved).compartment_id) == ("loaded", "A05")


def test_the_clear_code_is_never_logged(approved, caplog):
    load = approved.desk.load_result(NO, TERMINAL, "S", "staff-1")
    with caplog.at_level("DEBUG"):
        approved.feed(_loaded_event(load.load_id))

    code = _code_in(approved.sms()[-1].text)
    # The send itself is logged by the dispatcher, checked in tests/integration/notifications.
    assert not any(code in r.getMessage() for r in caplog.records)
    assert not any("13800138000" in r.getMessage() for r in caplog.records)


def test_result_loaded_in_service_mode_without_a_load_command_is_accepted(approved):
    approved.feed(_loaded_event("L-servicemode1"))

    assert approved.application(NO).status == State.RESULT_LOADED
    assert len(approved.commands("command.set_pickup_code")) == 1


def test_result_loaded_for_an_unapproved_application_is_refused(backend):
    backend.feed(submission(NO))

    result = backend.feed(_loaded_event("L-early"))

    assert result.rejected == 1
    assert backend.application(NO).status == State.SUBMITTED
    assert backend.commands() == [] and backend.sms("pickup_code") == []


def test_resend_code_rotates_to_a_new_digest_and_a_new_sms(approved):
    load = approved.desk.load_result(NO, TERMINAL, "S", "staff-1")
    approved.feed(_loaded_event(load.load_id))

    approved.desk.resend_code(NO, "staff-1")

    first, second = [c for c in approved.publisher.sent if isinstance(c, m.SetPickupCode)]
    assert second.operation_id == f"{load.load_id}#2"
    # The first code's SMS, still waiting, is superseded: the citizen gets the new code only.
    codes = [_code_in(x.text) for x in approved.sms() if x.kind == "pickup_code"]
    assert len(codes) == 1
    assert second.code_digest == pickup_code.digest(KEY, TERMINAL, codes[0])
    assert first.code_digest != second.code_digest
    statuses = {c.command_id: c.status for c in approved.commands("command.set_pickup_code")}
    assert statuses == {first.message_id: "expired", second.message_id: "queued"}


def test_pickup_closes_the_application_and_tells_the_applicant(approved):
    load = approved.desk.load_result(NO, TERMINAL, "S", "staff-1")
    approved.feed(_loaded_event(load.load_id))
    picked = m.ResultPickedUp(
        terminal_id=TERMINAL,
        operation_id=load.load_id,
        load_id=load.load_id,
        application_no=NO,
        compartment_id="A05",
        picked_up_at=m.utcnow(),
    )

    result = approved.feed(picked, picked.model_copy(update={"message_id": m.new_message_id()}))

    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored", "duplicate"]
    assert approved.application(NO).status == State.PICKED_UP
    assert [x.kind for x in approved.sms()].count("picked_up") == 1
    with pytest.raises(InvalidTransition):
        approved.desk.resend_code(NO, "staff-1")


def test_return_withdraws_the_result_from_the_terminal(approved):
    load = approved.desk.load_result(NO, TERMINAL, "S", "staff-1")
    approved.feed(_loaded_event(load.load_id))

    approved.desk.withdraw(NO, "staff-1", "过期未取")

    withdraw = approved.publisher.sent[-1]
    assert isinstance(withdraw, m.WithdrawResult)
    assert withdraw.operation_id == f"{load.load_id}#withdraw"
    assert approved.application(NO).status == State.RETURNED
    assert _load(approved).status == "withdrawn"


# A rotated or withdrawn code's SMS still queued: superseded, its sealed code erased.


def _rows(backend, kind: str) -> list[NotificationRow]:
    with backend.db.transaction() as s:
        q = select(NotificationRow).where(NotificationRow.kind == kind)
        return list(s.scalars(q.order_by(NotificationRow.id)))


def test_resend_code_supersedes_the_queued_stale_code_and_keeps_the_newest(approved):
    backend = approved
    load = backend.desk.load_result(NO, TERMINAL, "S", "staff-1")
    backend.feed(_loaded_event(load.load_id))

    backend.desk.resend_code(NO, "staff-1")

    stale, newest = _rows(backend, "pickup_code")
    assert (stale.state, stale.sealed) == (NotificationState.SUPERSEDED, None)
    assert stale.last_error == "superseded by a newer code"
    assert newest.state == NotificationState.QUEUED
    with backend.db.transaction() as s:
        code = Sealer(stored_key(s)).open(newest.out_id, newest.sealed)["code"]
    last = [c for c in backend.publisher.sent if isinstance(c, m.SetPickupCode)][-1]
    assert last.code_digest == pickup_code.digest(KEY, TERMINAL, code)
    assert re.fullmatch(r"\d{6}", code)
    # Other kinds to the same applicant are not touched.
    assert {r.state for r in _rows(backend, "submitted")} == {NotificationState.QUEUED}
    # Nothing for staff to follow up: not on the list of citizens to call.
    with backend.db.reading() as s:
        assert stale.id not in {r["id"] for r in needs_attention(s)}


def test_withdraw_supersedes_the_queued_code_and_queues_returned(approved):
    backend = approved
    load = backend.desk.load_result(NO, TERMINAL, "S", "staff-1")
    backend.feed(_loaded_event(load.load_id))

    backend.desk.withdraw(NO, "staff-1")

    (code_row,) = _rows(backend, "pickup_code")
    assert (code_row.state, code_row.sealed) == (NotificationState.SUPERSEDED, None)
    assert code_row.last_error == "result withdrawn"
    (returned,) = _rows(backend, "returned")
    assert returned.state == NotificationState.QUEUED
