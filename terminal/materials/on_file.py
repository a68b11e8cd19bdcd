"""Asking the backend which materials it holds for the citizen at the reader (材料复用).

One `request.materials_on_file` goes out directly on the link (not through the outbox), and
the caller waits for the `response.materials_on_file` with the same operation id and request
id, at most `timeout_s`. Offline, refused by the broker's ACL, or too slow: the answer is
`None`, nothing is offered, and the citizen scans as if reuse did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m
from cloud_bridge.request_reply import RequestReply, RequestSender
from terminal.materials.checklist import OnFile

__all__ = ["OnFileLookup", "RequestSender"]


class OnFileLookup:
    """Materials on file for the applicant at the reader, asked over `RequestReply`."""

    def __init__(
        self,
        terminal_id: str,
        sender: RequestSender | None,
        applicant_key: bytes | None,
        *,
        clock: Callable[[], datetime] = m.utcnow,
        timeout_s: float = 5.0,
        replies: RequestReply | None = None,
    ):
        self.terminal_id, self.sender = terminal_id, sender
        self._key = applicant_key
        self.clock, self.timeout_s = clock, timeout_s
        # Shared with the terminal's other requests when given, so one link routes them all.
        self.replies = replies or RequestReply(sender)
        self.answered = 0
        self.unanswered = 0  # link down, no responses topic, or no answer in time

    @property
    def late(self) -> int:
        """Responses that came after their asker stopped waiting."""
        return self.replies.late

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
        query = m.MaterialsOnFileQuery(
            terminal_id=self.terminal_id,
            operation_id=operation_id,
            applicant_ref=self.applicant_ref(document_type, number),
            material_codes=codes,
            expires_at=self.clock() + timedelta(seconds=self.timeout_s),
        )
        response = self.replies.ask(query, m.MaterialsOnFile, self.timeout_s)
        if response is None:
            self.unanswered += 1
            return None
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
            for x in response.materials
        ]

    def deliver(self, message: m.Message) -> None:
        """Called by the link with every response; wakes the asker it belongs to, if any."""
        self.replies.deliver(message)
