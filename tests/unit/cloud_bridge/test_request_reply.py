"""Request/response correlation: each answer wakes only the asker it names."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from cloud_bridge.contract import messages as m
from cloud_bridge.request_reply import RequestReply

T = "T0001"
LATER = datetime(2030, 1, 1, tzinfo=UTC)


class AnsweringSender:
    """Plays the backend: answers each request with `answer(request)` from another thread."""

    def __init__(self, replies_of, answer=None, up: bool = True):
        self.replies_of, self.answer, self.up = replies_of, answer, up
        self.sent: list[m.Message] = []
        self._threads: list[threading.Thread] = []

    def request(self, message: m.Message, expiry_s: float) -> bool:
        self.sent.append(message)
        if not self.up:
            return False
        if self.answer is not None:
            for response in self.answer(message):
                t = threading.Thread(target=self.replies_of().deliver, args=(response,))
                t.start()
                self._threads.append(t)
        return True

    def join(self) -> None:
        for t in self._threads:
            t.join()


def query(op: str = "STATUS-000000000001") -> m.ApplicationStatusQuery:
    return m.ApplicationStatusQuery(
        terminal_id=T,
        operation_id=op,
        application_no="AH-T0001-20261120-0001",
        phone_tail="8000",
        expires_at=LATER,
    )


def status(q: m.Message, **changes) -> m.ApplicationStatus:
    fields = {
        "terminal_id": T,
        "operation_id": q.operation_id,
        "request_id": q.message_id,
        "found": True,
        "state": "received",
        "expires_at": LATER,
    }
    return m.ApplicationStatus(**(fields | changes))


def on_file(q: m.Message) -> m.MaterialsOnFile:
    return m.MaterialsOnFile(
        terminal_id=T, operation_id=q.operation_id, request_id=q.message_id, expires_at=LATER
    )


def test_the_answer_naming_the_request_is_returned():
    replies = None
    sender = AnsweringSender(lambda: replies, lambda q: [status(q)])
    replies = RequestReply(sender)
    answer = replies.ask(query(), m.ApplicationStatus, 5)
    sender.join()
    assert answer is not None and answer.request_id == sender.sent[0].message_id
    assert replies.late == 0


def test_answers_to_another_request_or_of_another_kind_are_dropped():
    replies = None

    def strangers(q):
        return [
            status(q, request_id=m.new_message_id()),  # same operation, another request
            status(q, operation_id="STATUS-ffffffffffff"),  # another operation
            on_file(q),  # right ids, wrong kind
        ]

    sender = AnsweringSender(lambda: replies, strangers)
    replies = RequestReply(sender)
    assert replies.ask(query(), m.ApplicationStatus, 0.3) is None
    sender.join()
    assert replies.late == 3


def test_with_the_link_down_nothing_is_awaited():
    # With a 600 s timeout a wait would hang the test instead of passing.
    sender = AnsweringSender(lambda: None, up=False)
    replies = RequestReply(sender)
    assert replies.ask(query(), m.ApplicationStatus, 600) is None
    assert len(sender.sent) == 1
    assert replies.deliver(status(sender.sent[0])) is False  # nobody is waiting any more


def test_a_late_answer_after_the_asker_gave_up_is_counted_not_kept():
    sender = AnsweringSender(lambda: None)
    replies = RequestReply(sender)
    assert replies.ask(query(), m.ApplicationStatus, 0.05) is None
    assert replies.deliver(status(sender.sent[0])) is False
    assert replies.late == 1


def test_without_a_sender_nothing_is_asked():
    assert RequestReply(None).ask(query(), m.ApplicationStatus, 1) is None
