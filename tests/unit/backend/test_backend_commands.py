"""The command lifecycle: queued, sent (PUBACK), delivered (the terminal's `received`), then done,
failed or expired; only forward, late and repeated acks folded, open commands republished."""

from __future__ import annotations

from datetime import timedelta

import pytest
from backend_unit_factories import TERMINAL, RecordingPublisher, submission
from sqlalchemy import select

from backend import commands
from backend.commands import mark_sent, resend_open
from backend.models import AlarmRow, CommandRow, LoadOperation, Terminal, utcnow
from backend.workflow import LoadStatus
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"
OTHER = "T0002"


def _loaded(backend) -> m.LoadResult:
    backend.feed(submission(NO))
    backend.approve(NO)
    backend.desk.load_result(NO, TERMINAL, "S", "staff-1")
    [command] = backend.publisher.sent
    return command


def _ack(command: m.Message, outcome: m.AckOutcome, terminal: str = TERMINAL, **kw) -> m.CommandAck:
    return m.CommandAck(
        terminal_id=terminal,
        command_id=command.message_id,
        command_type=command.type,  # type: ignore[attr-defined]
        operation_id=command.operation_id,  # type: ignore[attr-defined]
        outcome=outcome,
        **kw,
    )


def _row(backend, command: m.Message) -> CommandRow:
    with backend.db.transaction() as s:
        row = s.get(CommandRow, command.message_id)
        assert row is not None
        return row


def _receipt(backend, *messages: m.Message) -> list[str]:
    return [i.outcome.value for i in backend.feed(*messages).receipts[TERMINAL]]


def test_a_command_is_queued_until_the_broker_takes_it_then_sent(backend):
    command = _loaded(backend)
    row = _row(backend, command)
    assert (row.status, row.sent_at, row.delivered_at, row.finished_at) == (
        "queued",
        None,
        None,
        None,
    )

    at = utcnow()
    assert mark_sent(backend.db, [(command.message_id, at)]) == 1
    assert mark_sent(backend.db, [(command.message_id, at + timedelta(seconds=5))]) == 0

    row = _row(backend, command)
    assert row.status == "sent" and abs(row.sent_at - at) < timedelta(seconds=1)


def test_received_then_done_walks_forward_with_a_time_for_each_state(backend):
    command = _loaded(backend)
    mark_sent(backend.db, [(command.message_id, utcnow())])

    assert _receipt(backend, _ack(command, m.AckOutcome.RECEIVED)) == ["stored"]
    row = _row(backend, command)
    assert row.status == "delivered" and row.delivered_at is not None
    # Said again (a crash before the answer was recorded): folded, the first time kept.
    assert _receipt(backend, _ack(command, m.AckOutcome.RECEIVED)) == ["duplicate"]
    assert _row(backend, command).delivered_at == row.delivered_at
    assert row.finished_at is None
    with backend.db.transaction() as s:  # the load waits for the answer, not for the receipt
        assert s.get(LoadOperation, command.load_id).status == LoadStatus.PENDING

    done = _ack(command, m.AckOutcome.DONE, result={"compartment_id": "A07"})
    assert _receipt(backend, done) == ["stored"]
    row = _row(backend, command)
    assert row.status == "done" and row.result == {"compartment_id": "A07"}
    assert row.created_at <= row.sent_at <= row.delivered_at <= row.finished_at
    with backend.db.transaction() as s:
        assert s.get(LoadOperation, command.load_id).status == LoadStatus.RESERVED


def test_late_and_repeated_acks_are_folded_and_never_move_a_command_back(backend):
    command = _loaded(backend)
    done = _ack(command, m.AckOutcome.DONE, result={"compartment_id": "A07"})

    # The answer overtook the `received` (and the PUBACK): delivered and done at once.
    assert _receipt(backend, done) == ["stored"]
    first = _row(backend, command)
    assert first.status == "done" and first.delivered_at == first.finished_at

    assert _receipt(backend, _ack(command, m.AckOutcome.RECEIVED)) == ["duplicate"]
    assert _receipt(backend, _ack(command, m.AckOutcome.DONE)) == ["duplicate"]
    assert _receipt(backend, _ack(command, m.AckOutcome.REJECTED, detail="x")) == ["duplicate"]
    assert mark_sent(backend.db, [(command.message_id, utcnow())]) == 0

    row = _row(backend, command)
    assert (row.status, row.detail, row.finished_at) == ("done", "", first.finished_at)
    assert row.sent_at is not None  # the PUBACK's time is kept, the state is not moved back


def test_a_refusal_is_failed_with_the_terminals_reason(backend):
    command = _loaded(backend)
    refused = _ack(command, m.AckOutcome.REJECTED, detail="No compartment of size S is free")

    backend.feed(_ack(command, m.AckOutcome.RECEIVED), refused)

    row = _row(backend, command)
    assert (row.status, row.detail) == ("failed", "No compartment of size S is free")
    assert row.finished_at is not None


def test_an_open_command_is_republished_with_the_same_message_id(backend):
    command = _loaded(backend)
    mark_sent(backend.db, [(command.message_id, utcnow())])
    again = RecordingPublisher()

    assert resend_open(backend.db, again) == 1

    assert again.sent == [command]
    assert _row(backend, command).status == "sent"


def test_a_queued_or_sent_command_past_its_expiry_is_expired_not_republished(backend):
    command = _loaded(backend)
    again = RecordingPublisher()

    assert resend_open(backend.db, again, now=utcnow() + timedelta(hours=2)) == 0

    assert again.sent == []
    row = _row(backend, command)
    assert row.status == "expired" and row.finished_at is not None
    assert "never received" in row.detail or "before the terminal received" in row.detail


def test_a_delivered_command_past_expiry_is_asked_again_then_failed_if_never_answered(backend):
    command = _loaded(backend)
    backend.feed(_ack(command, m.AckOutcome.RECEIVED))
    expiry = _row(backend, command).expires_at
    again = RecordingPublisher()

    # The terminal had it: sent again so it repeats its recorded answer (or says expired).
    assert resend_open(backend.db, again, now=expiry + timedelta(minutes=5)) == 1
    assert _row(backend, command).status == "delivered"

    assert resend_open(backend.db, again, now=expiry + commands.ANSWER_GRACE) == 0
    row = _row(backend, command)
    assert (row.status, row.detail) == ("failed", "received by the terminal, never answered")


def test_the_terminals_answer_replaces_an_expiry_the_backend_decided_alone(backend):
    command = _loaded(backend)
    resend_open(backend.db, RecordingPublisher(), now=utcnow() + timedelta(hours=2))
    assert _row(backend, command).status == "expired"

    # Its clock ran behind: it did reserve a compartment, and the record must say so.
    backend.feed(_ack(command, m.AckOutcome.DONE, result={"compartment_id": "A03"}))

    row = _row(backend, command)
    assert row.status == "done" and row.result == {"compartment_id": "A03"}
    assert row.delivered_at is not None


def test_an_ack_from_another_terminal_is_refused_with_a_security_alarm(backend):
    command = _loaded(backend)
    backend.ingest.register_terminal(OTHER, b"k" * 32)

    result = backend.feed(_ack(command, m.AckOutcome.DONE, terminal=OTHER))

    assert result.receipts[OTHER][0].outcome == m.ReceiptOutcome.REJECTED
    assert "never sent" in result.receipts[OTHER][0].reason
    assert _row(backend, command).status == "queued"
    with backend.db.transaction() as s:
        [alarm] = s.scalars(select(AlarmRow).where(AlarmRow.kind == "security"))
        assert alarm.terminal_id == OTHER
        assert s.get(Terminal, OTHER) is not None


@pytest.mark.parametrize("state", ["queued", "sent", "delivered", "done", "failed", "expired"])
def test_listing_filters_by_state_and_refuses_an_unknown_one(backend, state):
    command = _loaded(backend)
    with backend.db.transaction() as s:
        s.get(CommandRow, command.message_id).status = state
    with backend.db.transaction() as s:
        [view] = commands.listing(s, state=state)
        assert view["command_id"] == command.message_id and view["status"] == state
        assert set(view) >= {"created_at", "sent_at", "delivered_at", "finished_at"}
        assert commands.counts(s)[state] == 1 and sum(commands.counts(s).values()) == 1
        with pytest.raises(ValueError, match="unknown command state"):
            commands.listing(s, state="pending")
