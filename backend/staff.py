"""Staff actions as transactions: each commits its step, then publishes commands and sends SMS."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import claims
from .commands import CommandPublisher
from .db import Database
from .effects import AfterCommit
from .models import Application, LoadOperation, StaffAction, WorkflowHistory, utcnow
from .sms import SmsSender
from .workflow import NotFound, Workflow, WorkflowError, WorkflowSettings

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reason:
    code: str
    zh: str
    en: str


# Staff free text never reaches an SMS: only these fixed wordings do.
REASONS: dict[str, tuple[Reason, ...]] = {
    "reject": (
        Reason("not_eligible", "不符合办理条件", "not eligible for this service"),
        Reason("identity_mismatch", "身份信息与材料不一致", "identity and materials differ"),
        Reason("verify_at_desk", "材料需到窗口核验", "materials must be checked at the desk"),
        Reason("duplicate", "重复申请", "duplicate application"),
    ),
    "request_supplement": (
        Reason("missing_material", "缺少必要材料", "a required material is missing"),
        Reason("unclear_scan", "扫描件不清晰", "a scan is not legible"),
        Reason("expired_document", "证件已过期", "a document has expired"),
        Reason("incomplete_form", "申请表填写不完整", "the form is incomplete"),
    ),
}


class ReasonRequired(WorkflowError):
    """The step needs a reason from its fixed list, or takes none (HTTP 422)."""


class VersionConflict(WorkflowError):
    """Someone changed the application since the version the action was made against."""

    def __init__(self, application_no: str, seen: int, current: int, last: LastChange | None):
        said = last.text if last else "it changed"
        super().__init__(
            f"application {application_no} changed since you opened it "
            f"(version {seen}, now {current}): {said}"
        )
        self.application_no, self.seen, self.current, self.last = (
            application_no,
            seen,
            current,
            last,
        )


@dataclass(frozen=True)
class LastChange:
    """Who last moved the application, to tell the person whose action lost."""

    by: str
    to_state: str
    at: datetime

    @property
    def text(self) -> str:
        return f"{self.by} moved it to {self.to_state} at {self.at:%Y-%m-%d %H:%M:%S} UTC"


class KeyReused(WorkflowError):
    """An idempotency key already used for another person, application or action."""


def reason_for(step: str, code: str | None) -> Reason | None:
    """The step's reason by code; steps with a list need one, the others take none."""
    allowed = REASONS.get(step)
    if allowed is None:
        if code:
            raise ReasonRequired(f"{step} takes no reason")
        return None
    for reason in allowed:
        if reason.code == code:
            return reason
    raise ReasonRequired(f"{step} needs a reason from: {', '.join(r.code for r in allowed)}")


@dataclass(frozen=True)
class Actor:
    """The signed-in person an action is recorded for."""

    staff_id: int
    username: str


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

    def step(
        self,
        application_no: str,
        step: str,
        actor: str,
        note: str = "",
        *,
        reason: str | None = None,
        materials: Sequence[str] = (),
    ) -> Application:
        """accept, review, approve, reject, request_supplement or resume.

        `reason` is a code of the step's fixed list; a supplement request names `materials`.
        """
        fixed = reason_for(step, reason) if reason else None
        wording, code = (fixed.zh, fixed.code) if fixed else (None, None)
        return self._run(
            lambda w: w.staff_step(
                application_no, step, actor, note, wording, reason_code=code, materials=materials
            )
        )

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

    def act(
        self,
        who: Actor,
        application_no: str,
        action: str,
        *,
        reason: str | None = None,
        note: str = "",
        version: int | None = None,
        key: str | None = None,
        terminal_id: str | None = None,
        size: str = "S",
        materials: Sequence[str] = (),
    ) -> dict[str, Any]:
        """One audited staff action, made against `version`, applied once per idempotency `key`.

        Returns {"status", "version", ...}; a repeated key returns the first outcome unchanged.
        """
        fixed = reason_for(action, reason) if action in STEP_ACTIONS else None
        key = key or secrets.token_hex(16)
        after = AfterCommit()
        try:
            with self.db.transaction() as session:
                done = session.get(StaffAction, key)
                if done is not None:
                    if (done.staff_id, done.application_no, done.action) != (
                        who.staff_id,
                        application_no,
                        action,
                    ):
                        raise KeyReused("this idempotency key was used for another action")
                    return dict(done.outcome, replayed=True)
                app = session.get(Application, application_no)
                if app is None:
                    raise NotFound(f"no application {application_no}")
                if version is not None and app.version != version:
                    raise VersionConflict(application_no, version, app.version, _last(session, app))
                # Only the case's holder makes a review step; an unclaimed case becomes the
                # actor's. Loading a result, a new code or a return serve the applicant and
                # are open to every clerk.
                if action in STEP_ACTIONS:
                    claims.check_or_claim(session, application_no, who.staff_id, self.clock())
                w = Workflow(session, after, self.settings, self.clock)
                outcome = self._apply(w, who, app, action, fixed, terminal_id, size, materials)
                session.flush()
                outcome |= {"status": app.status, "version": app.version}
                session.add(
                    StaffAction(
                        idempotency_key=key,
                        staff_id=who.staff_id,
                        application_no=application_no,
                        action=action,
                        reason=fixed.code if fixed else None,
                        note=note[:500],
                        version_seen=version,
                        outcome=outcome,
                        at=self.clock(),
                    )
                )
        except (StaleDataError, IntegrityError):
            # Another worker committed the same application (or claimed it) between our read
            # and our write.
            with self.db.transaction() as session:
                app = session.get(Application, application_no)
                current = app.version if app else 0
                last = _last(session, app) if app else None
            raise VersionConflict(application_no, version or 0, current, last) from None
        after.deliver(self.publisher, self.sms)
        return outcome

    def record_unmasked_view(self, who: Actor, application_no: str) -> None:
        """Audit one view of an applicant's full ID number and phone (PIPL)."""
        with self.db.transaction() as session:
            if session.get(Application, application_no) is None:
                raise NotFound(f"no application {application_no}")
            session.add(
                StaffAction(
                    idempotency_key=secrets.token_hex(16),
                    staff_id=who.staff_id,
                    application_no=application_no,
                    action=VIEW_UNMASKED,
                    outcome={},
                    at=self.clock(),
                )
            )
        log.info("%s viewed the unmasked applicant of %s", who.username, application_no)

    def _apply(
        self,
        w: Workflow,
        who: Actor,
        app: Application,
        action: str,
        fixed: Reason | None,
        terminal_id: str | None,
        size: str,
        materials: Sequence[str] = (),
    ) -> dict[str, Any]:
        no = app.application_no
        if action in STEP_ACTIONS:
            wording = fixed.zh if fixed else None  # the SMS carries only this fixed wording
            w.staff_step(
                no,
                action,
                who.username,
                wording or "",
                wording,
                reason_code=fixed.code if fixed else None,
                materials=materials if action == "request_supplement" else (),
            )
            return {"materials": list(materials)} if action == "request_supplement" else {}
        if action == "load_result":
            if not terminal_id:
                raise ReasonRequired("load_result needs a terminal")
            return {"load_id": w.request_load(no, terminal_id, size, who.username).load_id}
        if action == "resend_code":
            load = w.resend_code(no, who.username)
            return {"load_id": load.load_id, "code_rotation": load.code_rotation}
        if action == "return":
            w.withdraw(no, who.username)
            return {}
        raise ReasonRequired(f"unknown action {action}")


VIEW_UNMASKED = "view_unmasked"
STEP_ACTIONS = ("accept", "review", "approve", "reject", "request_supplement", "resume")
ACTIONS = (*STEP_ACTIONS, "load_result", "resend_code", "return")


def _last(session: Session, app: Application) -> LastChange | None:
    """Who last changed the application, for the person whose action lost."""
    h = session.scalars(
        select(WorkflowHistory)
        .where(WorkflowHistory.application_no == app.application_no)
        .order_by(WorkflowHistory.id.desc())
        .limit(1)
    ).first()
    return LastChange(h.actor, h.to_state, h.at) if h else None
