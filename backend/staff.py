"""Staff actions as transactions: each commits its step, then publishes commands and sends SMS.

Views of personal data are recorded here too (PIPL): an applicant shown in full, a scan opened.
A person's views within an hour are counted; past a signal the admins are told once, at a cap
further views are refused until the hour has passed (ViewLimits, docs/console.md).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import claims
from .commands import CommandPublisher
from .db import Database
from .effects import AfterCommit
from .models import Application, LoadOperation, StaffAction, WorkflowHistory, utcnow
from .notifications import staff as notices
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
class ViewLimits:
    """How many views of personal data one person makes within `window` (docs/console.md).

    Past `*_signal` every admin gets one console notice naming the person (once per window);
    at `*_cap` a further view is refused (HTTP 429) until the oldest counted one is `window`
    old. A clerk reviews a case in minutes and opens its materials (2.8 an item on average)
    once or twice: 20 cases an hour is ~60 scan views. A supervisor unmasks an applicant to
    phone them or settle a doubt, a minute or more each.
    """

    window: timedelta = timedelta(hours=1)
    unmasked_signal: int = 60  # one a minute, every minute of the hour
    unmasked_cap: int = 180
    scan_signal: int = 120  # twice a brisk clerk's pace: a case every 90 s, every scan opened
    scan_cap: int = 360
    # The same person opening the same material again within this long is one view: its pages,
    # paging back and forth, reloading.
    scan_dedupe: timedelta = timedelta(minutes=10)

    def of(self, action: str) -> tuple[int, int]:
        """(signal, cap) for the kind of view."""
        if action == VIEW_UNMASKED:
            return self.unmasked_signal, self.unmasked_cap
        return self.scan_signal, self.scan_cap


class ViewLimitReached(Exception):
    """A person made as many views of personal data this hour as allowed (HTTP 429)."""

    def __init__(self, action: str, count: int, retry_after_s: int):
        what = "applicants in full" if action == VIEW_UNMASKED else "scanned materials"
        minutes = max(1, -(-retry_after_s // 60))
        super().__init__(
            f"you have viewed {count} {what} within the last hour, the most allowed; "
            f"the next view is possible in {minutes} min (ask an admin if this is your work)"
        )
        self.action, self.count, self.retry_after_s = action, count, retry_after_s


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
        view_limits: ViewLimits | None = None,
    ):
        self.db, self.publisher, self.sms = db, publisher, sms
        self.settings = settings or WorkflowSettings()
        self.clock = clock
        self.view_limits = view_limits or ViewLimits()

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
                # actor's. Loading a result or a return serve the applicant and are open to
                # every clerk; a new code (an SMS to the applicant, cancelling the code they
                # hold) on a claimed case to its holder or a supervisor.
                if action in STEP_ACTIONS:
                    claims.check_or_claim(session, application_no, who.staff_id, self.clock())
                elif action == "resend_code":
                    claims.check_may_serve(session, application_no, who.staff_id)
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
        """Audit one view of an applicant's full ID number and phone (PIPL).

        ViewLimitReached when the person is at the hour's cap: nothing is recorded or shown.
        """
        with self.db.transaction() as session:
            if session.get(Application, application_no) is None:
                raise NotFound(f"no application {application_no}")
            self._record_view(session, who, application_no, VIEW_UNMASKED, {})
        log.info("%s viewed the unmasked applicant of %s", who.username, application_no)

    def record_scan_view(self, who: Actor, application_no: str, material_id: int) -> bool:
        """Audit a view of a scanned material before its pages are served (PIPL); True if
        recorded now, False if the person viewed it within `scan_dedupe` (already recorded).

        The material is the caller's to have checked. ViewLimitReached at the hour's cap.
        """
        since = self.clock() - self.view_limits.scan_dedupe
        # Paging through a scan reads only: no write lock for each page's image (SQLite).
        with self.db.reading() as session:
            if _viewed_lately(session, who.staff_id, application_no, material_id, since):
                return False
        with self.db.transaction() as session:
            if _viewed_lately(session, who.staff_id, application_no, material_id, since):
                return False
            outcome = {"material_id": material_id}
            self._record_view(session, who, application_no, VIEW_SCAN, outcome)
        log.info("%s viewed material %d of %s", who.username, material_id, application_no)
        return True

    def check_scan_view(self, who: Actor, application_no: str, material_id: int) -> None:
        """ViewLimitReached if a view of the material would be refused now; reads only (the
        viewer's page says so rather than show images that will not come)."""
        now = self.clock()
        with self.db.reading() as session:
            since = now - self.view_limits.scan_dedupe
            if _viewed_lately(session, who.staff_id, application_no, material_id, since):
                return
            self._refuse_past_cap(session, who, VIEW_SCAN, now)

    def _refuse_past_cap(self, session: Session, who: Actor, action: str, now: datetime) -> int:
        """The person's views of this kind within the window; ViewLimitReached at the cap."""
        _signal, cap = self.view_limits.of(action)
        window = self.view_limits.window
        count, oldest = session.execute(
            select(func.count(), func.min(StaffAction.at)).where(
                StaffAction.staff_id == who.staff_id,
                StaffAction.action == action,
                StaffAction.at > now - window,
            )
        ).one()
        if count >= cap:
            retry = max(1, int((oldest + window - now).total_seconds()) + 1)
            log.warning(
                "security: %s refused a view (%s): %d within the last hour, the cap",
                who.username,
                action,
                count,
            )
            raise ViewLimitReached(action, count, retry)
        return count

    def _record_view(
        self,
        session: Session,
        who: Actor,
        application_no: str,
        action: str,
        outcome: dict[str, Any],
    ) -> None:
        """One view as a StaffAction row; past the signal the admins are told (once a window)."""
        now = self.clock()
        count = self._refuse_past_cap(session, who, action, now) + 1
        session.add(
            StaffAction(
                idempotency_key=secrets.token_hex(16),
                staff_id=who.staff_id,
                application_no=application_no,
                action=action,
                outcome=outcome,
                at=now,
            )
        )
        signal, _cap = self.view_limits.of(action)
        if count > signal:
            kind = "audit.unmasked" if action == VIEW_UNMASKED else "audit.scans"
            since = now - self.view_limits.window
            if notices.notify_security(session, kind, who.staff_id, application_no, now, since):
                log.warning(
                    "security: %s made %d views (%s) within an hour, past the signal %d; "
                    "admins told",
                    who.username,
                    count,
                    action,
                    signal,
                )

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
VIEW_SCAN = "view_scan"
VIEWS = (VIEW_UNMASKED, VIEW_SCAN)
# Rows that record what someone saw or who holds a case, not work done on it: an escalation on
# which nobody acted stays so however often the case was looked at (backend/escalations.py).
RECORDS = (*VIEWS, *claims.RECORDS)
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


def _viewed_lately(
    session: Session, staff_id: int, application_no: str, material_id: int, since: datetime
) -> bool:
    """Whether the person's view of the material since `since` is recorded."""
    rows = session.scalars(
        select(StaffAction.outcome).where(
            StaffAction.staff_id == staff_id,
            StaffAction.application_no == application_no,
            StaffAction.action == VIEW_SCAN,
            StaffAction.at > since,
        )
    )
    return any(row.get("material_id") == material_id for row in rows)
