"""A pickup code SMS still waiting when the code is rotated or the result withdrawn: not sent."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from notification_parts import CODE, PHONE, TERMINAL, TERMINAL_KEY

from backend.notifications import outbox
from backend.notifications.models import NotificationState
from backend.notifications.templates import Kind
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code

NO = "AH-T0001-20261203-0001"


def _loaded_while_the_provider_is_down(notified) -> None:
    """Submitted, approved (those texts sent), then loaded with the provider down."""
    notified.approve(NO)
    notified.drain()
    notified.emulator.down = True
    notified.load(NO)
    notified.drain()  # the code's SMS is tried and waits
    (code_row,) = [r for r in notified.rows() if r.kind == "pickup_code"]
    assert code_row.state == NotificationState.QUEUED and code_row.sealed is not None


def _provider_back(notified) -> None:
    notified.emulator.down = False
    for _ in range(6):
        notified.clock.advance(timedelta(seconds=10))
        notified.drain()


def test_a_rotated_code_sends_only_the_newest_code_and_erases_the_stale_one(notified):
    _loaded_while_the_provider_is_down(notified)

    notified.desk.resend_code(NO, "clerk.li")

    stale, newest = [r for r in notified.rows() if r.kind == "pickup_code"]
    assert stale.state == NotificationState.SUPERSEDED
    assert stale.sealed is None  # erased in the rotation's transaction, not when sent
    assert "superseded" in stale.last_error
    assert newest.state == NotificationState.QUEUED and newest.sealed is not None

    _provider_back(notified)

    assert notified.kinds_received() == ["submitted", "accepted", "approved", "pickup_code"]
    (code,) = [c for r in notified.emulator.inbox(PHONE) for c in CODE.findall(r.text)]
    last = [c for c in notified.publisher.sent if isinstance(c, m.SetPickupCode)][-1]
    assert last.code_digest == pickup_code.digest(TERMINAL_KEY, TERMINAL, code)
    assert all(r.sealed is None for r in notified.rows())


def test_a_result_withdrawn_while_its_code_waits_sends_no_code_only_returned(notified):
    _loaded_while_the_provider_is_down(notified)

    notified.desk.withdraw(NO, "clerk.li")

    (code_row,) = [r for r in notified.rows() if r.kind == "pickup_code"]
    assert code_row.state == NotificationState.SUPERSEDED
    assert code_row.sealed is None
    assert "withdrawn" in code_row.last_error
    (returned,) = [r for r in notified.rows() if r.kind == "returned"]
    assert returned.state == NotificationState.QUEUED

    _provider_back(notified)

    assert notified.kinds_received() == ["submitted", "accepted", "approved", "returned"]
    assert not [c for r in notified.emulator.inbox(PHONE) for c in CODE.findall(r.text)]


def test_a_code_whose_send_is_under_way_is_left_for_reconciliation(notified):
    """A guard, not the bug: a row already `sending` may have reached the handset."""
    notified.approve(NO)
    notified.drain()
    notified.load(NO)
    notified.emulator.delay_s = 2.5  # the provider takes it, the answer comes too late
    notified.drain()
    notified.emulator.delay_s = 0
    (under_way,) = [r for r in notified.rows() if r.kind == "pickup_code"]
    assert under_way.state == NotificationState.SENDING

    notified.desk.resend_code(NO, "clerk.li")

    first, _ = [r for r in notified.rows() if r.kind == "pickup_code"]
    assert first.state == NotificationState.SENDING
    assert first.last_error == under_way.last_error


def test_a_code_superseded_while_the_sender_takes_it_is_never_sent(notified):
    # PostgreSQL: the sender read the row as queued while the rotation's transaction, which
    # supersedes it, was still open; after that commit the sender's claim overwrote
    # `superseded` with `sending` and sent the stale code. It now locks the row it takes.
    _loaded_while_the_provider_is_down(notified)
    notified.emulator.down = False
    notified.clock.advance(timedelta(seconds=10))
    (row,) = [r for r in notified.rows() if r.kind == "pickup_code"]
    holding, release, outcome = threading.Event(), threading.Event(), []

    def rotation() -> None:
        with notified.db.transaction() as session:
            outbox.supersede_queued(session, NO, Kind.PICKUP_CODE, "superseded by a newer code")
            session.flush()
            holding.set()
            release.wait(10)

    rotating = threading.Thread(target=rotation)
    rotating.start()
    assert holding.wait(10)
    sender = threading.Thread(
        target=lambda: outcome.append(notified.dispatcher()._send_one(row.id, notified.clock()))
    )
    sender.start()
    time.sleep(0.5)  # the sender reads the row (and waits for it, once it locks it)
    release.set()
    rotating.join(10)
    sender.join(10)

    assert outcome == [0] and notified.kinds_received().count("pickup_code") == 0
    (row,) = [r for r in notified.rows() if r.kind == "pickup_code"]
    assert (row.state, row.sealed) == (NotificationState.SUPERSEDED, None)
