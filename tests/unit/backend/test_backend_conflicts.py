"""Signed messages that contradict what the backend holds are refused and raise an alarm."""

from __future__ import annotations

from backend_unit_factories import TERMINAL, submission
from sqlalchemy import select

from backend.models import AlarmRow, Application, RejectedMessage, Terminal
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


def _status(state: str, connection: int, n: int) -> m.Status:
    return m.Status(
        terminal_id=TERMINAL,
        message_id=f"{n:032x}",
        state=state,
        software_version="0.1.0",
        since="2026-12-03T20:00:00Z",
        connection=connection,
    )


def test_a_status_of_an_earlier_connection_never_overrides_a_newer_one(backend):
    backend.feed(_status("online", 4, 1))
    backend.feed(_status("offline", 3, 2))  # the broker's late will for connection 3
    with backend.db.transaction() as s:
        assert s.get(Terminal, TERMINAL).last_status == "online"

    backend.feed(_status("offline", 4, 3))  # connection 4's own will: applied, it ended
    backend.feed(_status("online", 4, 4))  # its online (a late heartbeat) replayed: refused
    backend.feed(_status("online", 2, 5))  # a status of connection 2, replayed: refused
    with backend.db.transaction() as s:
        assert s.get(Terminal, TERMINAL).last_status == "offline"
        reasons = list(s.scalars(select(RejectedMessage.reason)))
    assert len([r for r in reasons if "status of connection" in r]) == 2
    assert len([r for r in reasons if "connection 4 already ended" in r]) == 1

    backend.feed(_status("online", 5, 6))  # the next connection brings it back
    with backend.db.transaction() as s:
        assert s.get(Terminal, TERMINAL).last_status == "online"
