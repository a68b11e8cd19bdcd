"""Asking the backend which materials it holds for the citizen at the reader (材料复用).

One `request.materials_on_file` goes out directly on the link (not through the outbox), and
the caller waits for the `response.materials_on_file` with the same operation id and request
id, at most `timeout_s`. Offline, refused by the broker's ACL, or too slow: the answer is
`None`, nothing is offered, and the citizen scans as if reuse did not exist.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m
from terminal.materials.checklist import OnFile

log = logging.getLogger(__name__)


class RequestSender(Protocol):
    """What the lookup needs of the link: publish a request now, or say it cannot."""

    def request(self, message: m.Message, expiry_s: float) -> bool: ...


@dataclass
class _Waiter:
    request_id: str
    done: threading.Event = field(default_factory=threading.Event)
    response: m.MaterialsOnFile | None = None


class OnFileLookup:
    """Request/response correlation for materials on file, one waiter per operation id."""

    def __init__(
        self,
        terminal_id: str,
        sender: RequestSender | None,
        applicant_key: bytes | None,
        *,
        clock: Callable[[], datetime] = m.utcnow,
        timeout_s: float = 5.0,
    ):
        self.terminal_id, self.sender = terminal_id, sender
        self._key = applicant_key
        self.clock, self.timeout_s = clock, timeout_s
        self._waiting: dict[str, _Waiter] = {}
        self._lock = threading.Lock()
        self.late = 0  # responses that came after their asker stopped waiting
        self.answered = 0
        self.unanswered = 0  # link down, no responses topic, or no answer in time

    @property
    def enabled(self) -> bool:
        return self.sender is not None and self._key is not None

    def applicant_ref(self, document_type: str, number: str) -> str:
        assert self._key is not None
        return applicant_ref.digest(self._key, document_type, number)

    def ask(
        self, operation_id: str, document_type: str, number: str, codes: list[str]
    ) -> list[OnFile] | None:
        """The materials on file for this applicant among `codes`; None if nobody answered."""
        if not self.enabled or not codes:
            return None
        assert self.sender is not None
        query = m.MaterialsOnFileQuery(
            terminal_id=self.terminal_id,
            operation_id=operation_id,
            applicant_ref=self.applicant_ref(document_type, number),
            material_codes=codes,
            expires_at=self.clock() + timedelta(seconds=self.timeout_s),
        )
        waiter = _Waiter(query.message_id)
        with self._lock:
            self._waiting[operation_id] = waiter
        try:
            if not self.sender.request(query, self.timeout_s):
                log.info("materials on file not asked for %s: link down", operation_id)
                self.unanswered += 1
                return None
            if not waiter.done.wait(self.timeout_s):
                log.info("no materials-on-file answer for %s in time", operation_id)
                self.unanswered += 1
                return None
        finally:
            with self._lock:
                self._waiting.pop(operation_id, None)
        assert waiter.response is not None
        self.answered += 1
        return [
            OnFile(
                material_code=x.material_code,
                reference=x.reference,
                pages=x.pages,
                valid_until=x.valid_until,
                captured_on=x.captured_on,
                content_type=x.content_type,
            )
            for x in waiter.response.materials
        ]

    def deliver(self, message: m.Message) -> None:
        """Called by the link with every response; wakes the asker it belongs to, if any."""
        if not isinstance(message, m.MaterialsOnFile):
            return
        with self._lock:
            waiter = self._waiting.get(message.operation_id)
            if waiter is None or waiter.request_id != message.request_id:
                self.late += 1
                log.info("dropping a late or unknown response for %s", message.operation_id)
                return
            waiter.response = message
            waiter.done.set()
