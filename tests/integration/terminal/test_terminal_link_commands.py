"""Commands over the wire: once-only handling, repeated acks, and malformed payloads dropped."""

from __future__ import annotations

import pytest
from terminal_integration_parts import TERMINAL, acks_for, load_command, wait_online

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from locker.compartment import State

pytestmark = pytest.mark.broker


def _reserved(node) -> list[str]:
    return [c.id for c in node.locker.compartments() if c.state == State.RESERVED]


def test_command_delivered_twice_runs_once_and_is_acked_twice_alike(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    command = load_command()

    backend.command(command)
    backend.command(command)  # the same message id again, as a QoS 1 redelivery would be

    assert backend.wait_for(lambda: len(acks_for(backend, command)) == 2)
    acks = acks_for(backend, command)
    assert {(a.outcome, a.operation_id, tuple(a.result.items())) for a in acks} == {
        (m.AckOutcome.DONE, "L-7f3a9c", (("compartment_id", acks[0].result["compartment_id"]),))
    }
    assert len({a.message_id for a in acks}) == 2
    assert _reserved(node) == [acks[0].result["compartment_id"]]
    assert node.dispatcher.duplicates == 1


def test_acks_leave_the_outbox_once_the_backend_receipts_them(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    command = load_command()

    backend.command(command)
    assert backend.wait_for(lambda: acks_for(backend, command))
    # The `received` stage went first, from the outbox like the answer.
    [received] = acks_for(backend, command, received=True)
    [answer] = acks_for(backend, command)
    assert received.sent_at <= answer.sent_at
    backend.receipt(TERMINAL, [received.message_id, answer.message_id])

    assert backend.wait_for(lambda: node.outbox.backlog() == 0)


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"",
        b'{"type": "command.load_result"}',
        # Valid everywhere but addressed, inside the payload, to another terminal.
        load_command().model_copy(update={"terminal_id": "T0002"}).encode(),
        b"x" * (m.MAX_MESSAGE_BYTES + 1),
    ],
    ids=["not-json", "empty", "missing-fields", "other-terminal", "oversized"],
)
def test_malformed_command_is_dropped_and_counted_and_the_link_keeps_working(
    start_node, start_backend, payload: bytes
):
    backend = start_backend()
    node = start_node()
    wait_online(backend)

    backend.publish(topics.commands(TERMINAL), payload)

    assert backend.wait_for(lambda: node.link.malformed == 1)
    assert _reserved(node) == []
    assert backend.messages(m.CommandAck) == []

    command = load_command("L-after")
    backend.command(command)
    assert backend.wait_for(lambda: acks_for(backend, command))
    [ack] = acks_for(backend, command)
    assert ack.outcome == m.AckOutcome.DONE
    assert _reserved(node) == [ack.result["compartment_id"]]
    assert node.link.connections == 1  # handled on the same connection, no reconnect
