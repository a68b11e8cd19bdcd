"""Pending commands are republished unchanged until acknowledged, and expire."""

from __future__ import annotations

from datetime import timedelta

from backend_unit_factories import TERMINAL, RecordingPublisher, submission

from backend.commands import resend_pending
from backend.models import utcnow

NO = "AH-T0001-20261120-0001"


def test_pending_command_is_republished_with_the_same_message_id(backend):
    backend.feed(submission(NO))
    backend.approve(NO)
    backend.desk.load_result(NO, TERMINAL, "S", "staff-1")
    original = backend.publisher.sent[0]
    again = RecordingPublisher()

    assert resend_pending(backend.db, again) == 1

    assert again.sent == [original]


def test_expired_command_is_marked_expired_and_not_republished(backend):
    backend.feed(submission(NO))
    backend.approve(NO)
    backend.desk.load_result(NO, TERMINAL, "S", "staff-1")
    again = RecordingPublisher()

    assert resend_pending(backend.db, again, now=utcnow() + timedelta(hours=2)) == 0

    assert again.sent == []
    assert [c.status for c in backend.commands()] == ["expired"]
