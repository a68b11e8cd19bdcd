"""One number's trouble holds no one else's SMS: a long queue behind flow control, an unclear
send the provider cannot look up, delivery reports still pending for many handsets."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from notification_parts import PHONE

from backend.notifications import outbox
from backend.notifications.limits import RateLimits
from backend.notifications.models import NotificationState as S
from backend.notifications.routes import needs_attention
from backend.notifications.templates import Kind

AGENT = "13600136000"  # a company clerk filing many applications with one phone
NO = "AH-T0001-20261203-0001"


def _queue(notified, phone: str, count: int, day: str, first: int = 0) -> None:
    now = notified.clock()
    with notified.db.transaction() as s:
        for i in range(first, first + count):
            no = f"AH-T0001-{day}-{i:04d}"
            outbox.notify(s, Kind.SUBMITTED, phone, {"no": no}, now=now, application_no=no)


def test_a_number_with_more_than_a_batch_waiting_does_not_hold_another_number(notified):
    # Small figures for the same shape: 2 a day per number, 3 rows read per pass.
    notified.settings = replace(
        notified.settings, batch=3, limits=RateLimits(windows=((timedelta(days=1), 2),))
    )
    _queue(notified, AGENT, 6, "20261203")
    notified.drain()
    agent = [r for r in notified.rows() if r.phone == AGENT]
    assert [r.state for r in agent].count(S.ACCEPTED) == 2
    assert agent[2].last_error == "rate limit: queued"  # held until tomorrow, 3 more behind it

    _queue(notified, PHONE, 1, "20261204")  # a citizen's message, queued after all of them
    notified.clock.advance(timedelta(seconds=1))
    notified.drain()

    mine = [r for r in notified.rows() if r.phone == PHONE]
    assert [r.state for r in mine] == [S.ACCEPTED]
    assert len(notified.emulator.inbox(PHONE)) == 1
    # The agent's queue keeps its order and its flow control.
    assert [r.state for r in notified.rows() if r.phone == AGENT] == [S.ACCEPTED] * 2 + [
        S.QUEUED
    ] * 4


def test_an_unclear_send_whose_lookup_keeps_failing_is_given_up_and_unblocks_the_number(
    notified, monkeypatch, caplog
):
    def refused(params):  # a RAM user allowed SendSms only
        return {"Code": "isp.RAM_PERMISSION_DENY", "Message": f"no {params.get('PhoneNumber')}"}

    monkeypatch.setattr(notified.emulator, "_query", refused)
    notified.approve(NO)
    notified.drain()
    notified.load(NO)
    notified.emulator.mangled = (502, b"<html>Bad Gateway</html>")  # taken, answer lost
    notified.drain()
    notified.emulator.mangled = None
    code_row = notified.rows()[-1]
    assert (code_row.kind, code_row.state) == ("pickup_code", S.SENDING)
    assert code_row.sealed is not None
    _queue(notified, PHONE, 1, "20261204", first=7)  # the citizen's next text waits behind it
    behind = notified.rows()[-1]

    caplog.set_level(logging.ERROR, logger="backend.notifications.dispatcher")
    for _ in range(6):  # 18 h of failing lookups: still unclear, shown as an alarm
        notified.clock.advance(timedelta(hours=3))
        notified.drain()
    row = next(r for r in notified.rows() if r.id == code_row.id)
    assert row.state == S.SENDING and row.sealed is not None
    assert row.last_error == "alarm: reconcile refused: isp.RAM_PERMISSION_DENY"
    refusals = [r for r in caplog.records if "lookup of an unclear send refused" in r.message]
    assert len(refusals) == 1  # once per row, not once per pass
    assert PHONE not in caplog.text and "13800138000" not in caplog.text

    notified.clock.advance(timedelta(hours=7))  # past give_up_after (24 h from its send)
    before = len(notified.emulator.inbox(PHONE))
    notified.drain()
    row = next(r for r in notified.rows() if r.id == code_row.id)
    assert row.state == S.DEAD and row.sealed is None
    assert row.last_error.startswith("sent or not, unknown: the provider's lookup failed")
    with notified.db.transaction() as s:
        assert row.id in [entry["id"] for entry in needs_attention(s)]

    # The text that waited 25 h behind it was never tried: it is sent now, not given up.
    notified.drain()
    waited = next(r for r in notified.rows() if r.id == behind.id)
    assert waited.state == S.ACCEPTED, waited.last_error
    assert len(notified.emulator.inbox(PHONE)) == before + 1

    notified.submit("AH-T0001-20261204-0002")  # the next text to that number goes
    notified.drain()
    assert notified.rows()[-1].state == S.ACCEPTED
    assert len(notified.emulator.inbox(PHONE)) == before + 2


def test_a_failed_delivery_behind_fifty_pending_reports_gets_its_report(notified, monkeypatch):
    off = {f"139{i:08d}" for i in range(50)}  # handsets switched off: 等待回执 for days
    detail = notified.emulator._detail

    def pending(received):
        answer = detail(received)
        if received.phone in off:
            answer.update(SendStatus=1, ErrCode="", ReceiveDate="")
        return answer

    monkeypatch.setattr(notified.emulator, "_detail", pending)
    for i, phone in enumerate(sorted(off)):
        _queue(notified, phone, 1, "20261203", first=i)
    _queue(notified, PHONE, 1, "20261204")
    notified.emulator.unreachable.add(PHONE)  # its delivery failed: staff must call
    assert notified.drain() == 51

    dispatcher = notified.dispatcher()
    for _ in range(3):
        notified.clock.advance(timedelta(minutes=1))
        dispatcher.collect_reports(notified.clock())

    rows = notified.rows()
    assert rows[-1].phone == PHONE
    assert rows[-1].state == S.UNDELIVERED
    assert rows[-1].last_error == "handset: MOBILE_NOT_ON_SERVICE"
    assert {r.state for r in rows[:-1]} == {S.ACCEPTED}  # still pending, asked again later
