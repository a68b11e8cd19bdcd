"""Signed messages that contradict what the backend holds are refused and raise an alarm."""

from __future__ import annotations

from backend_unit_factories import TERMINAL, submission
from sqlalchemy import select

from backend.models import AlarmRow, Application, RejectedMessage
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"


def _security_alarms(backend) -> list[AlarmRow]:
    with backend.db.transaction() as s:
        return list(s.scalars(select(AlarmRow).where(AlarmRow.kind == "security")))


def test_an_application_number_reused_with_other_content_is_refused_not_a_duplicate(backend):
    first = submission(NO)
    other = submission(NO)
    other = other.model_copy(
        update={"applicant": other.applicant.model_copy(update={"phone": "13900000000"})}
    )

    result = backend.feed(first, other)

    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored", "rejected"]
    assert "reused with other content" in result.receipts[TERMINAL][1].reason
    assert backend.application(NO).phone == first.applicant.phone
    [alarm] = _security_alarms(backend)
    assert alarm.terminal_id == TERMINAL and alarm.severity == "critical"
    assert backend.count(RejectedMessage) == 1

    again = backend.feed(other)  # the terminal sends it again: still refused, no second alarm
    assert again.receipts[TERMINAL][0].outcome == m.ReceiptOutcome.REJECTED
    assert len(_security_alarms(backend)) == 1


def test_the_same_submission_resent_is_still_a_duplicate_without_alarm(backend):
    result = backend.feed(submission(NO), submission(NO))

    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored", "duplicate"]
    assert backend.count(Application) == 1
    assert _security_alarms(backend) == []


def test_an_ack_for_a_command_never_sent_is_refused_with_an_alarm(backend):
    ack = m.CommandAck(
        terminal_id=TERMINAL,
        command_id=m.new_message_id(),
        command_type="command.set_pickup_code",
        operation_id="L-unknown#1",
        outcome=m.AckOutcome.DONE,
    )

    result = backend.feed(ack)

    assert result.receipts[TERMINAL][0].outcome == m.ReceiptOutcome.REJECTED
    [alarm] = _security_alarms(backend)
    assert "never sent" in alarm.detail
