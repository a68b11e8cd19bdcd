"""Staff actions as transactions: each commits its step, then publishes commands and sends SMS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from .commands import CommandPublisher
from .db import Database
from .effects import AfterCommit
from .models import Application, LoadOperation, utcnow
from .sms import SmsSender
from .workflow import Workflow, WorkflowSettings

T = TypeVar("T")


class StaffDesk:
    """What staff can do to an application, one committed transaction per action."""

    def __init__(
        self,
        db: Database,
        publisher: CommandPublisher,
        sms: SmsSender,
        settings: WorkflowSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db, self.publisher, self.sms = db, publisher, sms
        self.settings = settings or WorkflowSettings()
        self.clock = clock

    def _run(self, action: Callable[[Workflow], T]) -> T:
        after = AfterCommit()
        with self.db.transaction() as session:
            out = action(Workflow(session, after, self.settings, self.clock))
        after.deliver(self.publisher, self.sms)
        return out

    def step(self, application_no: str, step: str, actor: str, note: str = "") -> Application:
        """accept, review, approve, reject, request_supplement or resume."""
        return self._run(lambda w: w.staff_step(application_no, step, actor, note))

    def load_result(
        self, application_no: str, terminal_id: str, size: str, actor: str
    ) -> LoadOperation:
        """Send LoadResult to a terminal for an approved application."""
        return self._run(lambda w: w.request_load(application_no, terminal_id, size, actor))

    def resend_code(self, application_no: str, actor: str) -> LoadOperation:
        """Rotate the pickup code and SMS the new one."""
        return self._run(lambda w: w.resend_code(application_no, actor))

    def withdraw(self, application_no: str, actor: str, note: str = "") -> Application:
        """Take the result back to the office (WithdrawResult)."""
        return self._run(lambda w: w.withdraw(application_no, actor, note))
