"""How ingest answers one message: stored, duplicate, or refused with a reason."""

from __future__ import annotations

from dataclasses import dataclass

from cloud_bridge.contract.messages import ReceiptOutcome

STORED, DUPLICATE, REJECTED = (
    ReceiptOutcome.STORED,
    ReceiptOutcome.DUPLICATE,
    ReceiptOutcome.REJECTED,
)


class Refused(Exception):
    """A well-formed message the backend will not apply (unknown terminal, wrong state...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Conflict(Refused):
    """A signed message that contradicts what the backend holds: refused, never a duplicate, and
    a security alarm, since a genuine terminal does not send one (a reset counter, a clone)."""


class NotYet(Refused):
    """A message about something the backend has not stored yet (a deposit for an application
    whose submission is still on its way: several workers, or a resend, can swap them). Ingest
    answers it with no receipt, so the terminal sends it again later, unless it is too old to
    be waiting on anything; then it is refused."""


@dataclass(frozen=True)
class Applied:
    """A handler's verdict; REJECTED here keeps the handler's changes (e.g. dropped chunks)."""

    outcome: ReceiptOutcome
    reason: str = ""
