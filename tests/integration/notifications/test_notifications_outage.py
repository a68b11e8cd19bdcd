"""Provider outages, refusals and rate limits: messages wait, then go in order, none twice."""

from __future__ import annotations

from datetime import timedelta

from notification_parts import PHONE

from backend.models import Application
from backend.notifications.models import NotificationState

OTHER = "13900139000"


def _drain_for(notified, minutes: int) -> None:
    for _ in range(minutes * 4):
        notified.drain()
        notified.clock.advance(timedelta(seconds=15))


def test_a_provider_down_for_an_hour_loses_nothing_and_sends_in_order_once(notified):
    notified.emulator.down = True
    notified.submit("AH-T0001-20261203-0001")
    notified.submit("AH-T0001-20261203-0002", phone=OTHER)
    notified.desk.step("AH-T0001-20261203-0001", "accept", "clerk.li")
    notified.desk.step("AH-T0001-20261203-0001", "review", "clerk.li")
    notified.desk.step("AH-T0001-20261203-0001", "approve", "clerk.li")

    _drain_for(notified, minutes=60)

    assert notified.emulator.received == []
    rows = notified.rows()
    assert {r.state for r in rows} == {NotificationState.QUEUED}
    # Only the head of each number's queue is tried; the rest wait behind it, untried.
    tried = [(r.phone, r.kind) for r in rows if r.attempts]
    assert tried == [(PHONE, "submitted"), (OTHER, "submitted")]
    assert all(r.last_error.startswith("unreachable") for r in rows if r.attempts)

    notified.emulator.down = False
    _drain_for(notified, minutes=2)

    assert notified.kinds_received() == ["submitted", "accepted", "approved"]
    assert notified.kinds_received(OTHER) == ["submitted"]
    assert {r.state for r in notified.rows()} == {NotificationState.ACCEPTED}


def test_a_retryable_refusal_holds_later_messages_to_the_same_number_only(notified):
    notified.submit("AH-T0001-20261203-0001")
    notified.desk.step("AH-T0001-20261203-0001", "accept", "clerk.li")
    notified.submit("AH-T0001-20261203-0002", phone=OTHER)
    notified.emulator.fail_next = ["isp.SYSTEM_ERROR"]

    notified.drain()

    assert notified.kinds_received() == []
    assert notified.kinds_received(OTHER) == ["submitted"]  # not held up by another number
    notified.clock.advance(timedelta(seconds=2))
    notified.drain()
    assert notified.kinds_received() == ["submitted", "accepted"]


def test_an_illegal_number_is_given_up_and_listed_for_staff_to_call(notified):
    notified.submit("AH-T0001-20261203-0001", phone="13800000000")
    notified.emulator.fail_next = ["isv.MOBILE_NUMBER_ILLEGAL"]

    notified.drain()

    (row,) = notified.rows()
    assert row.state == NotificationState.DEAD
    assert "isv.MOBILE_NUMBER_ILLEGAL" in row.last_error


def test_a_bad_template_or_signature_raises_an_alarm_and_keeps_the_message(notified, caplog):
    notified.submit("AH-T0001-20261203-0001")
    notified.emulator.fail_next = ["isv.SMS_TEMPLATE_ILLEGAL"]

    notified.drain()

    (row,) = notified.rows()
    assert row.state == NotificationState.QUEUED
    assert row.last_error.startswith("alarm: isv.SMS_TEMPLATE_ILLEGAL")
    assert any(r.levelname == "ERROR" and "refused" in r.getMessage() for r in caplog.records)
    notified.clock.advance(timedelta(seconds=1))
    notified.drain()
    assert notified.kinds_received() == []  # an alarm waits longer than a plain retry
    notified.clock.advance(timedelta(seconds=5))
    notified.drain()
    assert notified.kinds_received() == ["submitted"]


def test_a_burst_to_one_number_is_queued_by_the_rate_limits_not_refused(notified):
    # 52 applications by one person in a day: the provider takes 50 messages of one template to
    # one number in any 24 hours, and refuses the 51st (isv.BUSINESS_LIMIT_CONTROL).
    numbers = [f"AH-T0001-20261203-{n:04d}" for n in range(1, 53)]
    for no in numbers[:50]:
        notified.submit(no)
    while notified.drain():  # a pass moves one number's queue on by `rounds` (20) at most
        pass
    notified.clock.advance(timedelta(hours=12))
    for no in numbers[50:]:
        notified.submit(no)

    assert notified.drain() == 0
    assert len(notified.emulator.inbox(PHONE)) == 50
    late = notified.rows()[50:]
    assert [r.state for r in late] == [NotificationState.QUEUED] * 2
    assert late[0].last_error == "rate limit: queued"  # the next waits behind it, in order
    assert all(r.attempts == 0 for r in late)  # held back here, never refused there

    notified.clock.advance(timedelta(hours=12, seconds=1))  # the first 50 leave the window
    assert notified.drain() == 2

    received = notified.emulator.inbox(PHONE)
    order = [no for r in received for no in numbers if no in r.text]
    assert order == numbers
    assert received[50].at - received[0].at >= timedelta(hours=24)


def test_a_number_too_long_for_the_template_still_files_the_application(notified):
    long_no = "AH-T0001-20261203-" + "9" * 30  # valid on the wire, 48 characters

    notified.submit(long_no)

    with notified.db.transaction() as s:
        assert s.get(Application, long_no) is not None  # the application is not lost
    (row,) = notified.rows()
    assert row.state == NotificationState.DEAD and row.last_error.startswith("not sendable")
    assert notified.drain() == 0 and notified.emulator.received == []
