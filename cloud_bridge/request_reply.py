"""Waiting for the backend's answer to a request (ADR 0003): correlation for every kind.

A request goes out directly on the link (not through the outbox) and the asker waits, at
most a few seconds, for the response that repeats the request's `operation_id` and names its
`message_id` in `request_id`. Anything else that arrives (a late answer, a stranger's, a
response of another kind) is dropped and counted. Offline, refused by the broker's ACL or too
slow: the answer is None, and the caller goes on without it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from cloud_bridge.contract import messages as m

log = logging.getLogger(__name__)

R = TypeVar("R", bound=m.Message)


class RequestSender(Protocol):
    """What the correlation needs of the link: publish a request now, or say it cannot."""

    def request(self, message: m.Message, expiry_s: float) -> bool: ...


@dataclass
class _Waiter:
    request_id: str
    kind: type[m.Message]
    done: threading.Event = field(default_factory=threading.Event)
    response: m.Message | None = None


class RequestReply:
    """One waiter per operation id; `deliver` hands each response to the asker it answers."""

    def __init__(self, sender: RequestSender | None):
        self.sender = sender
        self._waiting: dict[str, _Waiter] = {}
        self._lock = threading.Lock()
        self.late = 0  # responses that came after their asker stopped waiting, or never asked

    @property
    def enabled(self) -> bool:
        return self.sender is not None

    def ask(self, request: m.Message, answer: type[R], timeout_s: float) -> R | None:
        """Publish `request` and wait for its `answer`; None if it could not go or none came."""
        operation_id = getattr(request, "operation_id", None)
        if self.sender is None or not operation_id:
            return None
        waiter = _Waiter(request.message_id, answer)
        with self._lock:
            self._waiting[operation_id] = waiter  # a newer question replaces an older one
        try:
            if not self.sender.request(request, timeout_s):
                log.info("%s not asked for %s: link down", m.type_name(type(request)), operation_id)
                return None
            if not waiter.done.wait(timeout_s):
                log.info("no answer to %s for %s in time", m.type_name(type(request)), operation_id)
                return None
        finally:
            with self._lock:
                if self._waiting.get(operation_id) is waiter:
                    del self._waiting[operation_id]
        assert isinstance(waiter.response, answer)
        return waiter.response

    def deliver(self, message: m.Message) -> bool:
        """Called by the link with every response; True if it woke the asker it belongs to."""
        operation_id = getattr(message, "operation_id", None)
        request_id = getattr(message, "request_id", None)
        with self._lock:
            waiter = self._waiting.get(operation_id) if operation_id else None
            if (
                waiter is None
                or waiter.request_id != request_id
                or not isinstance(message, waiter.kind)
                or waiter.done.is_set()
            ):
                self.late += 1
                log.info("dropping a late or unknown %s", m.type_name(type(message)))
                return False
            waiter.response = message
            waiter.done.set()
            return True
