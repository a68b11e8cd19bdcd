"""Once-only command handling with durable acks, on a real outbox file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud_bridge.commands import (
    CommandDispatcher,
    CommandRejected,
    CommandResult,
    HandledCommands,
)
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.signing import SignedDownstream
from cloud_bridge.local_db import LocalDatabase
from cloud_bridge.outbox import Outbox

TERMINAL = "T0001"
NOW = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)


def _clock() -> datetime:
    return NOW


def _load(
    terminal_id: str = TERMINAL,
    *,
    expires_in: timedelta = timedelta(hours=1),
    load_id: str = "L-7f3a9c",
) -> m.LoadResult:
    return m.LoadResult(
        terminal_id=terminal_id,
        operation_id=load_id,
        load_id=load_id,
        application_no="AH-T0001-20261120-0001",
        size="M",
        expires_at=NOW + expires_in,
    )


class LoadHandler:
    """A terminal-side handler that counts how often it really ran."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def __call__(self, command: m.LoadResult) -> CommandResult:
        assert isinstance(command, m.LoadResult)
        self.runs.append(command.load_id)
        return CommandResult(result={"compartment_id": f"A{len(self.runs):02d}"})


def _all_acks(outbox: Outbox) -> list[m.CommandAck]:
    rows = outbox.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
    return [ack for (p,) in rows if isinstance(ack := m.decode(p), m.CommandAck)]


def _acks(outbox: Outbox) -> list[m.CommandAck]:
    """The answers queued (the `received` stage left out)."""
    return [a for a in _all_acks(outbox) if a.outcome != m.AckOutcome.RECEIVED]


def _dispatcher(outbox: Outbox, handler=None) -> CommandDispatcher:
    d = CommandDispatcher(outbox, HandledCommands(outbox.db), TERMINAL, clock=_clock)
    if handler is not None:
        d.register(m.LoadResult, handler)
    return d


def test_command_runs_its_handler_once_and_queues_a_done_ack(outbox: Outbox):
    handler = LoadHandler()
    command = _load()

    ack = _dispatcher(outbox, handler).dispatch(command, 1)

    assert handler.runs == ["L-7f3a9c"]
    assert ack.outcome == m.AckOutcome.DONE
    assert ack.command_id == command.message_id
    assert ack.command_type == "command.load_result"
    assert ack.operation_id == "L-7f3a9c"
    assert ack.result == {"compartment_id": "A01"}
    assert _acks(outbox) == [ack]
    assert ack.topic() == f"allhours/v1/terminals/{TERMINAL}/acks"


def test_a_new_command_is_said_received_before_it_runs_and_a_duplicate_is_not(outbox: Outbox):
    seen_at_run: list[list[m.AckOutcome]] = []

    def handler(command: m.Message) -> CommandResult:
        seen_at_run.append([a.outcome for a in _all_acks(outbox)])
        return CommandResult(result={"compartment_id": "A01"})

    dispatcher = _dispatcher(outbox, handler)
    command = _load()
    dispatcher.dispatch(command, 1)
    dispatcher.dispatch(command, 2)  # delivered again: the recorded answer only
    dispatcher.dispatch(_load(), 1)  # stale sequence: refused unanswered, not even received

    assert seen_at_run == [[m.AckOutcome.RECEIVED]]  # durable in the outbox before it ran
    queued = _all_acks(outbox)
    assert [(a.command_id, a.outcome) for a in queued] == [
        (command.message_id, m.AckOutcome.RECEIVED),
        (command.message_id, m.AckOutcome.DONE),
        (command.message_id, m.AckOutcome.DONE),
    ]
    assert queued[0].operation_id == command.operation_id and queued[0].result == {}


def test_duplicate_command_does_not_rerun_but_queues_another_ack_with_the_same_answer(
    outbox: Outbox,
):
    handler = LoadHandler()
    dispatcher = _dispatcher(outbox, handler)
    command = _load()

    first = dispatcher.dispatch(command, 1)
    again = dispatcher.dispatch(command.model_copy(), 2)

    assert handler.runs == ["L-7f3a9c"]
    assert dispatcher.duplicates == 1
    queued = _acks(outbox)
    assert len(queued) == 2
    assert queued[0].message_id != queued[1].message_id  # two messages, one answer
    assert {(a.command_id, a.outcome, tuple(a.result.items()), a.detail) for a in queued} == {
        (command.message_id, m.AckOutcome.DONE, (("compartment_id", "A01"),), "")
    }
    assert again.result == first.result


def test_expired_command_is_acked_expired_without_running(outbox: Outbox):
    handler = LoadHandler()

    ack = _dispatcher(outbox, handler).dispatch(_load(expires_in=timedelta(seconds=-1)), 1)

    assert handler.runs == []
    assert ack.outcome == m.AckOutcome.EXPIRED
    assert _acks(outbox) == [ack]


def test_command_expiring_exactly_now_counts_as_expired(outbox: Outbox):
    handler = LoadHandler()

    ack = _dispatcher(outbox, handler).dispatch(_load(expires_in=timedelta(0)), 1)

    assert (handler.runs, ack.outcome) == ([], m.AckOutcome.EXPIRED)


def test_command_for_another_terminal_is_rejected_without_running(outbox: Outbox):
    handler = LoadHandler()

    ack = _dispatcher(outbox, handler).dispatch(_load("T0002"), 1)

    assert handler.runs == []
    assert ack.outcome == m.AckOutcome.REJECTED
    assert "another terminal" in ack.detail
    assert ack.terminal_id == TERMINAL  # the ack still comes from this terminal


def test_handler_refusal_becomes_a_rejected_ack_with_its_text(outbox: Outbox):
    def full(command: m.Message) -> CommandResult:
        raise CommandRejected("No compartment of size M or larger is free")

    dispatcher = _dispatcher(outbox, full)
    command = _load()
    ack = dispatcher.dispatch(command, 1)

    assert ack.outcome == m.AckOutcome.REJECTED
    assert ack.detail == "No compartment of size M or larger is free"
    # The refusal is the recorded answer: a duplicate gets it again.
    assert dispatcher.dispatch(command, 2).detail == ack.detail


def test_handler_crash_is_rejected_without_leaking_its_message(outbox: Outbox):
    def broken(command: m.Message) -> CommandResult:
        raise KeyError("11010519491231002X")

    ack = _dispatcher(outbox, broken).dispatch(_load(), 1)

    assert ack.outcome == m.AckOutcome.REJECTED
    assert ack.detail == "terminal error: KeyError"


def test_unknown_command_type_is_rejected(outbox: Outbox):
    dispatcher = _dispatcher(outbox, LoadHandler())
    command = m.WithdrawResult(
        terminal_id=TERMINAL,
        operation_id="L-1#withdraw",
        load_id="L-1",
        application_no="AH-T0001-20261120-0001",
        expires_at=NOW + timedelta(hours=1),
    )

    ack = dispatcher.dispatch(command, 1)

    assert ack.outcome == m.AckOutcome.REJECTED
    assert "command.withdraw_result" in ack.detail


def test_handled_state_survives_a_new_dispatcher_on_the_same_outbox_file(outbox_files):
    first_box = outbox_files.open()
    first_handler = LoadHandler()
    command = _load()
    original = _dispatcher(first_box, first_handler).dispatch(command, 1)
    first_box.db.close()

    reopened = outbox_files.open()
    second_handler = LoadHandler()
    again = _dispatcher(reopened, second_handler).dispatch(command, 2)

    assert second_handler.runs == []
    assert (again.outcome, again.result, again.command_id) == (
        original.outcome,
        original.result,
        original.command_id,
    )
    assert len(_acks(reopened)) == 2


def test_different_commands_for_the_same_operation_each_run(outbox: Outbox):
    # Dedup is by message id; the handler's own idempotency covers a re-issued operation.
    handler = LoadHandler()
    dispatcher = _dispatcher(outbox, handler)

    dispatcher.dispatch(_load(), 1)
    dispatcher.dispatch(_load(), 2)

    assert handler.runs == ["L-7f3a9c", "L-7f3a9c"]


def test_a_command_not_newer_than_the_last_applied_is_refused_unanswered(outbox):
    calls: list[m.Message] = []

    def handler(command):
        calls.append(command)
        return CommandResult()

    dispatcher = _dispatcher(outbox, handler)
    newer, older = _load(), _load()
    assert dispatcher.dispatch(newer, 7) is not None
    assert dispatcher.dispatch(older, 6) is None  # held back by a broker, released later
    assert dispatcher.dispatch(_load(), 7) is None
    assert calls == [newer]
    assert dispatcher.last_seq() == 7 and dispatcher.stale == 2


def test_the_last_applied_sequence_survives_a_restart(tmp_path):
    first = Outbox(LocalDatabase(tmp_path / "t.sqlite"), tmp_path / "blobs", TERMINAL)
    _dispatcher(first, lambda c: CommandResult()).dispatch(_load(), 41)
    first.db.close()
    reopened = Outbox(LocalDatabase(tmp_path / "t.sqlite"), tmp_path / "blobs", TERMINAL)
    try:
        dispatcher = _dispatcher(reopened, lambda c: CommandResult())
        assert dispatcher.last_seq() == 41
        assert dispatcher.dispatch(_load(), 40) is None
    finally:
        reopened.db.close()


def test_every_command_of_the_contract_is_a_command_with_an_operation_and_an_expiry():
    assert m.COMMAND_TYPES and all(issubclass(t, m.Command) for t in m.COMMAND_TYPES)
    assert {"operation_id", "expires_at"} <= set(m.Command.model_fields)


def test_only_a_command_type_can_be_routed(outbox: Outbox):
    dispatcher = _dispatcher(outbox)
    for not_a_command in (m.CommandAck, m.Settlement, m.Status, "command.load_result"):
        with pytest.raises(TypeError, match="not a command"):
            dispatcher.register(not_a_command, lambda c: CommandResult())  # type: ignore[arg-type]


def test_each_handler_gets_its_own_command_type(outbox: Outbox):
    seen: list[tuple[str, str]] = []
    dispatcher = _dispatcher(outbox)
    dispatcher.register(m.LoadResult, lambda c: seen.append(("load", c.size)) or CommandResult())
    dispatcher.register(
        m.WithdrawResult, lambda c: seen.append(("withdraw", c.load_id)) or CommandResult()
    )
    withdraw = m.WithdrawResult(
        terminal_id=TERMINAL,
        operation_id="W-1",
        load_id="L-7f3a9c",
        application_no="AH-T0001-20261120-0001",
        expires_at=NOW + timedelta(hours=1),
    )
    assert dispatcher.dispatch(_load(), 1).outcome == m.AckOutcome.DONE
    assert dispatcher.dispatch(withdraw, 2).outcome == m.AckOutcome.DONE
    assert seen == [("load", "M"), ("withdraw", "L-7f3a9c")]


def test_a_handler_registered_signed_gets_the_command_as_the_backend_signed_it(outbox: Outbox):
    # The software update's handler passes the signed command on to root, which checks it.
    handed: list[SignedDownstream] = []

    def handler(command: m.LoadResult, signed: SignedDownstream) -> CommandResult:
        handed.append(signed)
        return CommandResult()

    dispatcher = _dispatcher(outbox)
    dispatcher.register_signed(m.LoadResult, handler)
    command = _load()
    signed = SignedDownstream(command.topic(), 1, command.encode(), "c2lnbmF0dXJl")

    assert dispatcher.dispatch(command, 1, signed).outcome == m.AckOutcome.DONE
    assert handed == [signed]
    # Without it (not from the link) the handler does not run: root would have nothing to check.
    ack = dispatcher.dispatch(_load(load_id="L-2"), 2)
    assert ack.outcome == m.AckOutcome.REJECTED and handed == [signed]
    assert ack.detail == "the backend's signature did not come with the command"
