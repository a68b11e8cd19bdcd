"""The whole story through the emulated provider: each message once, a restart anywhere."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from notification_parts import CODE, PHONE, TERMINAL, TERMINAL_KEY
from sqlalchemy import select, text

from backend.models import Base
from backend.notifications.models import NotificationState
from backend.notifications.routes import notification_routes
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code

NO = "AH-T0001-20261203-0001"
STORY = ["submitted", "accepted", "approved", "pickup_code", "picked_up"]


def _walk(notified, restart_each_step: bool) -> str:
    """Submit, review, load and pick up; drain after each step. Returns the load id."""

    def drain() -> None:
        # A restarted backend: a new database engine and a new sender on the same file.
        notified.dispatcher(fresh_process=restart_each_step).drain(notified.clock())

    notified.submit(NO)
    drain()
    for step in ("accept", "review", "approve"):
        notified.desk.step(NO, step, "clerk.li")
        drain()
    load_id = notified.load(NO)
    drain()
    notified.picked_up(NO, load_id)
    drain()
    return load_id


def test_the_story_sends_each_message_once_in_order(notified):
    _walk(notified, restart_each_step=False)

    assert notified.kinds_received() == STORY
    assert {r.state for r in notified.rows()} == {NotificationState.ACCEPTED}
    assert all(r.sealed is None for r in notified.rows())
    # The code the handset got is the one the terminal was told to accept.
    (code,) = _codes(notified)
    (command,) = [c for c in notified.publisher.sent if isinstance(c, m.SetPickupCode)]
    assert command.code_digest == pickup_code.digest(TERMINAL_KEY, TERMINAL, code)


def test_a_restart_between_every_step_sends_nothing_twice(notified):
    _walk(notified, restart_each_step=True)

    assert notified.kinds_received() == STORY


def test_a_crash_while_the_provider_holds_the_message_is_reconciled_not_resent(notified):
    notified.submit(NO)
    notified.emulator.delay_s = 2.5  # the provider takes it, the answer comes too late
    notified.drain()
    assert [r.state for r in notified.rows()] == [NotificationState.SENDING]
    notified.emulator.delay_s = 0

    notified.dispatcher(fresh_process=True).drain(notified.clock())

    assert notified.kinds_received() == ["submitted"]
    assert [r.state for r in notified.rows()] == [NotificationState.ACCEPTED]


def test_delivery_reports_are_stored_and_an_unreachable_handset_shows_for_staff(notified):
    notified.emulator.unreachable.add("13900139000")
    notified.submit(NO)
    notified.submit("AH-T0001-20261203-0002", phone="13900139000")
    notified.drain()

    stored = notified.dispatcher().collect_reports(notified.clock())

    assert stored == 2
    states = {r.phone: r.state for r in notified.rows()}
    assert states == {PHONE: "delivered", "13900139000": "undelivered"}
    app = FastAPI()
    app.include_router(notification_routes(notified.db))
    attention = TestClient(app).get("/api/notifications/attention").json()
    assert [(a["phone"], a["state"]) for a in attention] == [("139****9000", "undelivered")]


def test_no_table_log_line_or_api_answer_holds_a_clear_pickup_code(notified, caplog):
    with caplog.at_level(logging.DEBUG):
        _walk(notified, restart_each_step=False)
    codes = _codes(notified)
    assert len(codes) == 1

    # A second application whose code waits in the outbox: sealed, not in clear.
    notified.emulator.down = True
    no2 = "AH-T0001-20261203-0002"
    with caplog.at_level(logging.DEBUG):
        notified.approve(no2)
        notified.load(no2)
        notified.drain()
    waiting = [r for r in notified.rows() if r.kind == "pickup_code" and r.sealed]
    assert len(waiting) == 1
    notified.emulator.down = False
    notified.clock.advance(timedelta(minutes=10))
    with caplog.at_level(logging.DEBUG):
        for _ in range(6):
            notified.drain()
            notified.clock.advance(timedelta(minutes=1))
    codes = _codes(notified)
    assert len(codes) == 2

    _assert_nowhere(notified, codes, caplog)


def _codes(notified) -> list[str]:
    """The pickup codes the applicant's handset received, oldest first."""
    found = (CODE.search(r.text) for r in notified.emulator.inbox(PHONE))
    return [x.group(1) for x in found if x]


def _assert_nowhere(notified, codes: list[str], caplog) -> None:
    dump = []
    with notified.db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                for value in row:
                    dump.append(value.hex() if isinstance(value, bytes) else str(value))
    for path in Path(notified.path).glob("backend.db*"):  # the file, its WAL, free pages too
        dump.append(path.read_bytes().decode("latin-1"))
    app = FastAPI()
    app.include_router(notification_routes(notified.db))
    client = TestClient(app)
    answers = [
        client.get("/api/notifications").text,
        client.get("/api/notifications/attention").text,
    ]
    lines = [r.getMessage() for r in caplog.records]
    for code in codes:
        assert not any(code in x for x in dump), "a clear code in the database"
        assert not any(code in x for x in answers), "a clear code in an API answer"
        assert not any(code in x for x in lines), "a clear code in a log line"
    assert not any(PHONE in x for x in lines), "a clear phone number in a log line"
    with notified.db.transaction() as s:
        assert (
            s.execute(text("SELECT count(*) FROM notifications WHERE sealed IS NOT NULL")).scalar()
            == 0
        )
