"""Hostile payloads and failing commands on the terminal's link: it keeps working."""

from __future__ import annotations

import pytest
from terminal_integration_parts import TERMINAL, acks_for, load_command, wait_online

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

pytestmark = pytest.mark.broker

POISON = {
    "brackets": b"[" * 1000 + b"]" * 1000,
    "nested objects": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "huge number": b'{"schema_version":1e999}',
    "invalid utf-8": b'{"type":"receipt","terminal_id":"T\xff\xfe01"}',
}
TOPICS = {
    "commands": topics.commands(TERMINAL),
    "receipts": topics.receipts(TERMINAL),
    "responses": topics.responses(TERMINAL),
}


@pytest.mark.parametrize("where", list(TOPICS))
def test_hostile_payloads_are_dropped_and_the_next_command_is_handled(
    start_node, start_backend, where
):
    backend = start_backend()
    node = start_node()
    wait_online(backend)

    for payload in POISON.values():
        backend.publish(TOPICS[where], payload)
    command = load_command("L-after-poison")
    backend.command(command)

    assert backend.wait_for(lambda: acks_for(backend, command))
    assert acks_for(backend, command)[0].outcome == m.AckOutcome.DONE
    assert node.link.malformed == len(POISON)
    assert node.link.failed == 0 and node.link.connections == 1


def test_a_command_that_cannot_be_recorded_is_given_up_and_the_next_one_is_handled(
    start_node, start_backend
):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    stuck, after = load_command("L-stuck"), load_command("L-next")
    with node.db.unit_of_work() as uow:
        # The local database refuses to record this one command, as a full disk would.
        uow.execute(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON handled_commands "
            f"WHEN NEW.command_id = '{stuck.message_id}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
        )

    backend.command(stuck)
    backend.command(after)

    assert backend.wait_for(lambda: acks_for(backend, after))
    assert node.link.failed == 1 and acks_for(backend, stuck) == []
    with node.db.unit_of_work() as uow:
        uow.execute("DROP TRIGGER refuse_one")
    backend.command(stuck)  # the backend sends a command again until it is acknowledged
    assert backend.wait_for(lambda: acks_for(backend, stuck))
    assert node.link.connections == 1


def test_a_receipt_that_cannot_be_settled_leaves_the_link_running(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    with node.db.unit_of_work() as uow:
        # The terminal's own dead-letter table refuses the write, as a full disk would.
        uow.execute(
            "CREATE TRIGGER refuse_all BEFORE INSERT ON dead_letters "
            "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
        )
    first = load_command("L-first")
    backend.command(first)
    assert backend.wait_for(lambda: acks_for(backend, first))

    backend.receipt(TERMINAL, [acks_for(backend, first)[0].message_id], m.ReceiptOutcome.REJECTED)
    command = load_command("L-after-receipt")
    backend.command(command)

    assert backend.wait_for(lambda: acks_for(backend, command))
    assert node.link.failed == 1 and node.link.connections == 1
