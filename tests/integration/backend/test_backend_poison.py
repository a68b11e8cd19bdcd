"""Hostile and failing messages over a real Mosquitto: ingest goes on, nothing is lost."""

from __future__ import annotations

import json

import pytest
from backend_integration_factories import TERMINAL, submission, wait_for
from sqlalchemy import func, select, text

from backend.dead_letters import DeadLetter, list_dead_letters
from backend.models import Application
from backend.queries import ingest_stats
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

pytestmark = pytest.mark.broker

SUBMITTED = topics.event(TERMINAL, "application_submitted")


def _with_number(event: m.Message, field_path: tuple[str, ...], literal: str) -> bytes:
    """`event` encoded with a raw JSON number literal put at `field_path`."""
    data = json.loads(event.encode())
    target = data
    for key in field_path[:-1]:
        target = target[key]
    target[field_path[-1]] = "__NUMBER__"
    return json.dumps(data).replace('"__NUMBER__"', literal).encode()


def _poison_payloads() -> dict[str, bytes]:
    base = submission("AH-T0001-20261203-0900")
    valid = base.encode()
    return {
        "brackets": b"[" * 1000 + b"]" * 1000,
        "nested objects": b'{"a":' * 3000 + b"1" + b"}" * 3000,
        "huge number": _with_number(base, ("identity", "face_distance"), "1e999"),
        "invalid utf-8": valid.replace(b'"T0001"', b'"T\xff\xfe01"', 1),
        "wrong schema": valid.replace(b'"schema_version":1', b'"schema_version":2', 1),
        "wrong type on topic": m.Alarm(
            terminal_id=TERMINAL,
            operation_id="alarm-1",
            kind="door_forced",
            severity="critical",
            detail="",
            raised_at=m.utcnow(),
        ).encode(),
    }


def _applications(service) -> set[str]:
    with service.db.transaction() as s:
        return set(s.scalars(select(Application.application_no)))


@pytest.mark.parametrize("kind", list(_poison_payloads()))
def test_a_hostile_payload_is_refused_and_the_next_message_is_stored(make_service, terminal, kind):
    service = make_service()
    good = submission("AH-T0001-20261203-0001")

    terminal.publish_raw(SUBMITTED, _poison_payloads()[kind])
    terminal.send(good)

    wait_for(lambda: good.application_no in _applications(service), 5, "the next message")
    with service.db.transaction() as s:
        stats = ingest_stats(s)
    assert stats["rejected"] == 1 and stats["stored"] == 1
    assert service.health()["status"] == "ok"
    assert service.health()["ingest"]["lag_s"] < 5


def test_all_hostile_payloads_in_one_burst_leave_ingest_running(make_service, terminal):
    service = make_service()
    goods = [submission(f"AH-T0001-20261203-00{i:02d}") for i in range(3)]

    for payload in _poison_payloads().values():
        terminal.publish_raw(SUBMITTED, payload)
        terminal.send(goods.pop() if goods else submission("AH-T0001-20261203-0099"))

    wait_for(lambda: len(_applications(service)) == 4, 10, "every valid message")
    # The four applications are in before the burst's last messages (resends of the fourth and
    # the payloads between them) are applied: the queue drains after, not with, the fourth.
    assert service.mqtt is not None
    wait_for(lambda: service.mqtt.ingest_health()["queued"] == 0, 10, "the burst applied")
    assert not service.mqtt.ingest_health()["stalled"]


def _refuse_application(service, application_no: str) -> None:
    """A database trigger that fails every insert of one application, as a broken row would."""
    with service.db.transaction() as s:
        s.execute(
            text(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON applications "
                f"WHEN NEW.application_no = '{application_no}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
            )
        )


def test_a_message_that_keeps_failing_is_dead_lettered_and_the_stream_moves_on(
    make_service, terminal
):
    service = make_service()
    failing = submission("AH-T0001-20261203-0500")
    after = submission("AH-T0001-20261203-0501")
    _refuse_application(service, failing.application_no)

    terminal.send(failing)
    terminal.send(after)

    items = {i.message_id: i for i in terminal.receipt_items(2)}
    assert items[after.message_id].outcome == "stored"
    assert items[failing.message_id].outcome == "rejected"
    assert items[failing.message_id].reason.startswith("held for replay: IntegrityError")
    with service.db.transaction() as s:
        (letter,) = list_dead_letters(s)
        kept = s.scalar(select(func.count()).select_from(DeadLetter))
    assert kept == 1
    assert letter["message_id"] == failing.message_id and letter["attempts"] == 3
    assert letter["replayable"] and "refused by test trigger" not in letter["reason"]
    assert service.health()["ingest"]["dead_letters_waiting"] == 1
    assert _applications(service) == {after.application_no}


def test_a_replayed_dead_letter_is_stored_once_the_cause_is_fixed(make_service, terminal):
    service = make_service()
    failing = submission("AH-T0001-20261203-0600")
    _refuse_application(service, failing.application_no)
    terminal.send(failing)
    terminal.receipt_items(1)
    with service.db.transaction() as s:
        (letter,) = list_dead_letters(s)
        s.execute(text("DROP TRIGGER refuse_one"))

    outcome = service.ingest.replay(letter["id"], "ops.li")

    assert outcome == "stored"
    assert _applications(service) == {failing.application_no}
    with service.db.transaction() as s:
        (replayed,) = list_dead_letters(s)
    assert replayed["replayed_by"] == "ops.li" and not replayed["replayable"]
    assert service.health()["ingest"]["dead_letters_waiting"] == 0
