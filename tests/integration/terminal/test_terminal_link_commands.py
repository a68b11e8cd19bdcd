"""Commands over the wire: once-only handling, repeated acks, and malformed payloads dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from terminal_integration_parts import TERMINAL

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from locker.compartment import State

pytestmark = pytest.mark.broker


def _load(load_id: str = "L-7f3a9c") -> m.LoadResult:
    return m.LoadResult(
        terminal_id=TERMINAL,
        operation_id=load_id,
        load_id=load_id,
        application_no="AH-T0001-20261120-0001",
        size="M",
        expires_at=m.utcnow() + timedelta(minutes=5),
        item_code="SB-0203",  # collected with the code alone
    )


def _acks_for(backend, command: m.Message) -> list[m.CommandAck]:
    return [
        r.message
        for r in backend.messages(m.CommandAck)
        if r.message.command_id == command.message_id  # type: ignore[attr-defined]
    ]


def _online(backend) -> None:
    """Wait for the terminal's online status: it is published after its SUBSCRIBE, on the same
    connection, so once it is here the broker routes commands to the terminal."""
    assert backend.wait_for(
        lambda: any(
            r.message.state == m.TerminalState.ONLINE  # type: ignore[attr-defined]
            for r in backend.messages(m.Status)
        )
    )


def _reserved(node) -> list[str]:
    return [c.id for c in node.locker.compartments() if c.state == State.RESERVED]


def test_command_delivered_twice_runs_once_and_is_acked_twice_alike(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    _online(backend)
    command = _load()

    backend.command(command)
    backend.command(command)  # the same message id again, as a QoS 1 redelivery would be

    assert backend.wait_for(lambda: len(_acks_for(backend, command)) == 2)
    acks = _acks_for(backend, command)
    assert {(a.outcome, a.operation_id, tuple(a.result.items())) for a in acks} == {
        (m.AckOutcome.DONE, "L-7f3a9c", (("compartment_id", acks[0].result["compartment_id"]),))
    }
    assert len({a.message_id for a in acks}) == 2
    assert _reserved(node) == [acks[0].result["compartment_id"]]
    assert node.dispatcher.duplicates == 1


def test_acks_leave_the_outbox_once_the_backend_receipts_them(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    _online(backend)
    command = _load()

    backend.command(command)
    assert backend.wait_for(lambda: _acks_for(backend, command))
    backend.receipt(TERMINAL, [a.message_id for a in _acks_for(backend, command)])

    assert backend.wait_for(lambda: node.outbox.backlog() == 0)


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"",
        b'{"type": "command.load_result"}',
        # Valid everywhere but addressed, inside the payload, to another terminal.
        _load().model_copy(update={"terminal_id": "T0002"}).encode(),
        b"x" * (m.MAX_MESSAGE_BYTES + 1),
    ],
    ids=["not-json", "empty", "missing-fields", "other-terminal", "oversized"],
)
def test_malformed_command_is_dropped_and_counted_and_the_link_keeps_working(
    start_node, start_backend, payload: bytes
):
    backend = start_backend()
    node = start_node()
    _online(backend)

    backend.publish(topics.commands(TERMINAL), payload)

    assert backend.wait_for(lambda: node.link.malformed == 1)
    assert _reserved(node) == []
    assert backend.messages(m.CommandAck) == []

    command = _load("L-after")
    backend.command(command)
    assert backend.wait_for(lambda: _acks_for(backend, command))
    [ack] = _acks_for(backend, command)
    assert ack.outcome == m.AckOutcome.DONE
    assert _reserved(node) == [ack.result["compartment_id"]]
    assert node.link.connections == 1  # handled on the same connection, no reconnect
