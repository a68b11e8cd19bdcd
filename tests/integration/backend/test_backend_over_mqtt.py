"""The backend behind a real Mosquitto: receipts after commit, persistent session, bad input."""

from __future__ import annotations

import pytest
from backend_integration_factories import TERMINAL, submission, wait_for
from sqlalchemy import func, select

from backend.models import Application, CommandRow, LoadOperation
from backend.queries import ingest_stats
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

pytestmark = pytest.mark.broker


def _applications(service) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Application))


def test_submission_over_mqtt_is_stored_and_answered_with_a_receipt(make_service, terminal):
    service = make_service()
    event = submission("AH-T0001-20261120-0001")

    terminal.send(event)

    (item,) = terminal.receipt_items(1)
    assert item == m.ReceiptItem(message_id=event.message_id, outcome="stored")
    assert _applications(service) == 1


def test_redelivery_over_mqtt_is_answered_duplicate(make_service, terminal):
    service = make_service()
    event = submission("AH-T0001-20261120-0001")

    terminal.send(event)
    terminal.send(event)

    outcomes = [i.outcome for i in terminal.receipt_items(2)]
    assert outcomes == ["stored", "duplicate"]
    assert _applications(service) == 1


def test_message_published_while_the_backend_is_down_is_ingested_after_it_starts(
    make_service, terminal
):
    first = make_service()
    first.stop()
    event = submission("AH-T0001-20261120-0002")

    terminal.send(event)
    second = make_service()

    (item,) = terminal.receipt_items(1)
    assert (item.message_id, item.outcome) == (event.message_id, "stored")
    assert _applications(second) == 1


def test_malformed_and_oversized_messages_are_counted_and_ingest_continues(make_service, terminal):
    service = make_service()
    topic = topics.event(TERMINAL, "application_submitted")
    good = submission("AH-T0001-20261120-0003")

    terminal.publish_raw(topic, b"{not json")
    terminal.publish_raw(topic, b"{" + b" " * m.MAX_MESSAGE_BYTES + b"}")
    terminal.send(good)

    wait_for(lambda: _applications(service) == 1, what="the valid message to be stored")

    def stats_after_two_rejections():
        with service.db.transaction() as s:
            stats = ingest_stats(s)
        return stats if stats["rejected"] == 2 else None

    stats = wait_for(stats_after_two_rejections, what="two rejections")
    assert stats["stored"] == 1
    assert sorted(r["reason"].split(":")[0] for r in stats["rejected_messages"]) == [
        "invalid message",
        "oversized",
    ]


def test_a_batch_that_cannot_commit_is_not_acked_and_comes_back_after_a_restart(
    make_service, terminal
):
    broken = make_service()
    attempts = []

    def failing_batch(items):
        attempts.append(len(items))
        raise RuntimeError("database is gone")

    broken.ingest.handle_batch = failing_batch
    event = submission("AH-T0001-20261120-0004")
    terminal.send(event)
    wait_for(lambda: attempts, what="the broken backend to try the batch")
    broken.stop()
    assert terminal.receipts.empty(), "no receipt before commit"

    healthy = make_service()

    (item,) = terminal.receipt_items(1)
    assert (item.message_id, item.outcome) == (event.message_id, "stored")
    assert _applications(healthy) == 1


def test_load_command_reaches_the_terminal_with_an_expiry_and_its_ack_is_recorded(
    make_service, terminal
):
    service = make_service()
    no = "AH-T0001-20261120-0005"
    terminal.send(submission(no))
    terminal.receipt_items(1)
    for step in ("accept", "review", "approve"):
        service.desk.step(no, step, "staff-1")

    load = service.desk.load_result(no, TERMINAL, "M", "staff-1")

    command, raw = terminal.commands.get(timeout=10)
    assert isinstance(command, m.LoadResult) and command.load_id == load.load_id
    assert 0 < raw.properties.MessageExpiryInterval <= 3600
    ack = m.CommandAck(
        terminal_id=TERMINAL,
        command_id=command.message_id,
        command_type="command.load_result",
        operation_id=load.load_id,
        outcome="done",
        result={"compartment_id": "B01"},
    )
    terminal.send(ack)
    terminal.receipt_items(1)
    with service.db.transaction() as s:
        row = s.get(CommandRow, command.message_id)
        assert (row.status, s.get(LoadOperation, load.load_id).compartment_id) == ("done", "B01")


def test_message_sent_after_a_broker_restart_while_the_backend_is_away_is_not_lost(
    make_service, mosquitto, terminal
):
    first = make_service()
    first.stop()
    subscribed = terminal.subscriptions
    mosquitto.stop()
    mosquitto.start()  # same port and persistence file
    wait_for(lambda: terminal.subscriptions > subscribed, what="the terminal to resubscribe")
    event = submission("AH-T0001-20261120-0006")

    terminal.send(event)
    second = make_service()

    (item,) = terminal.receipt_items(1)
    assert (item.message_id, item.outcome) == (event.message_id, "stored")
    assert _applications(second) == 1


def test_shared_subscription_mode_ingests_too(make_service, terminal):
    service = make_service(shared_group="allhours-backend")
    event = submission("AH-T0001-20261120-0007")

    terminal.send(event)

    (item,) = terminal.receipt_items(1)
    assert item.outcome == "stored"
    assert _applications(service) == 1
