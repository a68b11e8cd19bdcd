"""The application workflow: states, allowed steps, history, SMS and the pickup-code hand-out."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code

from . import commands, step_deadlines, supplement_requests
from .effects import AfterCommit
from .models import (
    Application,
    ApplicationPromise,
    LoadOperation,
    Terminal,
    WorkflowHistory,
    utcnow,
)
from .notifications import outbox
from .notifications.templates import DEFAULT_REASON, Kind, TemplateError, check_params
from .workdays import CN_OFFICIAL, WorkingDayCalendar


class State(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    RESULT_LOADED = "result_loaded"
    PICKED_UP = "picked_up"
    RETURNED = "returned"


class LoadStatus(StrEnum):
    PENDING = "pending"  # LoadResult sent, no answer yet
    RESERVED = "reserved"  # the terminal reserved a compartment
    LOADED = "loaded"  # the result is in the compartment, a code is armed
    PICKED_UP = "picked_up"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"  # the terminal refused or let the command expire


ACTIVE_LOADS = (LoadStatus.PENDING, LoadStatus.RESERVED, LoadStatus.LOADED)


class WorkflowError(Exception):
    """A workflow step that cannot be done; the API turns it into an HTTP error."""


class NotFound(WorkflowError):
    """No such application, terminal or load operation."""


class UnknownReason(WorkflowError):
    """A reject or supplement reason wording that an SMS template variable cannot carry."""


class BadSupplementRequest(WorkflowError):
    """A supplement request naming no material, too many, or one the item does not have."""


class TooManyRotations(WorkflowError):
    """The case's pickup code was rotated as often as a day allows (HTTP 429): each rotation
    texts the citizen, and the SMS provider's cap per number and day would then block the
    notices that matter. `retry_after_s`: until the oldest counted rotation is a day old."""

    def __init__(self, application_no: str, limit: int, retry_after_s: float):
        hours = max(1, round(retry_after_s / 3600))
        super().__init__(
            f"the pickup code of {application_no} was rotated {limit} times in the last 24 hours,"
            f" the most a day allows (each one texts the applicant): try again in about"
            f" {hours} h, or call the applicant"
        )
        self.application_no, self.limit, self.retry_after_s = application_no, limit, retry_after_s


class InvalidTransition(WorkflowError):
    """The step is not allowed from the application's current state (HTTP 409)."""

    def __init__(self, application_no: str, state: str, step: str):
        super().__init__(f"cannot {step} application {application_no} in state {state}")
        self.application_no, self.state, self.step = application_no, state, step


@dataclass(frozen=True)
class Step:
    sources: frozenset[State]
    target: State
    sms_kind: Kind | None


STAFF_STEPS: dict[str, Step] = {
    "accept": Step(frozenset({State.SUBMITTED}), State.ACCEPTED, Kind.ACCEPTED),
    "review": Step(frozenset({State.ACCEPTED}), State.UNDER_REVIEW, None),
    "approve": Step(frozenset({State.UNDER_REVIEW}), State.APPROVED, Kind.APPROVED),
    "reject": Step(frozenset({State.ACCEPTED, State.UNDER_REVIEW}), State.REJECTED, Kind.REJECTED),
    "request_supplement": Step(
        frozenset({State.ACCEPTED, State.UNDER_REVIEW}),
        State.SUPPLEMENT_REQUESTED,
        Kind.SUPPLEMENT_REQUESTED,
    ),
    "resume": Step(frozenset({State.SUPPLEMENT_REQUESTED}), State.UNDER_REVIEW, None),
}


@dataclass(frozen=True)
class WorkflowSettings:
    code_ttl: timedelta = timedelta(days=7)
    command_ttl: timedelta = timedelta(hours=1)
    # Seals pickup codes held in the notification outbox; None: the key kept in the database.
    notification_key: bytes | None = field(default=None, repr=False)
    # Counts the promised deadline on, and how long a supplement request stopped its clock.
    calendar: WorkingDayCalendar = CN_OFFICIAL
    # Staff rotations of one case's pickup code (each an SMS) in any 24 hours.
    code_rotations_per_day: int = 3


ROTATED = "pickup code rotated"  # how the case history notes a rotation: "… (L-…)"
ROTATION_WINDOW = timedelta(days=1)


def new_load_id() -> str:
    return "L-" + secrets.token_hex(6)


class Workflow:
    """Workflow steps inside one session; side effects wait in `after` until commit."""

    def __init__(
        self,
        session: Session,
        after: AfterCommit,
        settings: WorkflowSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.session, self.after = session, after
        self.settings = settings or WorkflowSettings()
        self.clock = clock

    # ------------------------------------------------------------ lookups

    def application(self, application_no: str) -> Application:
        app = self.session.get(Application, application_no)
        if app is None:
            raise NotFound(f"no application {application_no}")
        return app

    def terminal(self, terminal_id: str) -> Terminal:
        terminal = self.session.get(Terminal, terminal_id)
        if terminal is None:
            raise NotFound(f"no terminal {terminal_id}")
        return terminal

    def active_load(self, application_no: str) -> LoadOperation | None:
        return self.session.scalars(
            select(LoadOperation)
            .where(
                LoadOperation.application_no == application_no,
                LoadOperation.status.in_([s.value for s in ACTIVE_LOADS]),
            )
            .order_by(LoadOperation.created_at.desc())
        ).first()

    # ------------------------------------------------------------ staff steps

    def staff_step(
        self,
        application_no: str,
        step: str,
        actor: str,
        note: str = "",
        reason: str | None = None,
        *,
        reason_code: str | None = None,
        materials: Sequence[str] = (),
    ) -> Application:
        """Apply one review step (accept, review, approve, reject, request_supplement, resume).

        `note` stays in the history for staff. A reject or supplement SMS carries `reason`, which
        the caller takes from its fixed list of wordings, never staff free text. A supplement
        request names the wanted `materials` (codes from the item's list) and its `reason_code`;
        the SMS names them, the terminal's status answer lists them, and their arrival restarts
        the clock (`resume_after_supplement`).
        """
        rule = STAFF_STEPS[step]
        app = self.application(application_no)
        if app.status not in rule.sources:
            raise InvalidTransition(application_no, app.status, step)
        values: dict[str, str] = {}
        names: dict[str, str] = {}
        if step == "request_supplement":
            if not reason_code:
                raise UnknownReason("a supplement request needs a reason from the fixed list")
            try:
                names = supplement_requests.check(self.session, app, materials)
            except supplement_requests.BadRequest as exc:
                raise BadSupplementRequest(str(exc)) from None
            values["materials"] = supplement_requests.sms_value(list(names.values()))
        if rule.sms_kind in (Kind.REJECTED, Kind.SUPPLEMENT_REQUESTED):
            values["reason"] = reason or DEFAULT_REASON
            try:
                check_params(rule.sms_kind, {"no": application_no, **values})
            except TemplateError as exc:
                raise UnknownReason(str(exc)) from None
        if names:
            asked = "asked for " + ", ".join(names)
            note = f"{note} ({asked})" if note else asked
        self._move(app, rule.target, actor, note)
        if rule.target == State.SUPPLEMENT_REQUESTED:
            assert reason_code is not None
            supplement_requests.record(
                self.session, application_no, list(names), reason_code, actor, self.clock()
            )
            self._stop_clock(app)
        elif step == "resume":
            supplement_requests.close(self.session, application_no, self.clock())
            self.restart_clock(app)
        if rule.sms_kind:
            self._notify(app, rule.sms_kind, **values)
        return app

    # ------------------------------------------------------------ the deadline's clock

    def _today(self) -> date:
        return self.clock().astimezone(m.SERVICE_TZ).date()  # working days are Beijing days

    def _stop_clock(self, app: Application) -> None:
        """A supplement request: from today, working days do not count toward the promise."""
        promise = self.session.get(ApplicationPromise, app.application_no)
        if promise is not None and promise.paused_on is None:
            promise.paused_on = self._today()

    def restart_clock(self, app: Application) -> int:
        """The requested material arrived (or staff resumed): the promise moves later by the
        working days after the request up to and including today, as the time for a supplement
        does not count (行政许可法 第三十二条). Returns those days; 0 if the clock was running.
        """
        promise = self.session.get(ApplicationPromise, app.application_no)
        if promise is None or promise.paused_on is None:
            return 0
        calendar = self.settings.calendar
        stopped = max(calendar.working_days_between(promise.paused_on, self._today()), 0)
        promise.promised_by = calendar.add_working_days(promise.promised_by, stopped)
        promise.calendar_covered = calendar.covers(promise.promised_by)
        step_deadlines.move_later(self.session, app.application_no, calendar, stopped)
        promise.paused_days += stopped
        promise.paused_on = None
        return stopped

    def resume_after_supplement(self, app: Application, actor: str) -> int:
        """Every requested material arrived: back to review, the clock running again (audited).

        Returns the working days the request stopped the clock.
        """
        if app.status != State.SUPPLEMENT_REQUESTED:
            raise InvalidTransition(app.application_no, app.status, "resume")
        stopped = self.restart_clock(app)
        self._move(
            app,
            State.UNDER_REVIEW,
            actor,
            f"every requested material arrived: clock restarted ({stopped} working days stopped)",
        )
        return stopped

    def submitted(self, app: Application) -> None:
        """A new application from a terminal: the applicant is told its number."""
        self._notify(app, Kind.SUBMITTED)

    def request_load(
        self, application_no: str, terminal_id: str, size: str, actor: str
    ) -> LoadOperation:
        """Ask a terminal to reserve a compartment for an approved application's result."""
        app = self.application(application_no)
        if app.status != State.APPROVED:
            raise InvalidTransition(application_no, app.status, "load result")
        self.terminal(terminal_id)
        if self.active_load(application_no) is not None:
            raise InvalidTransition(application_no, app.status, "load result twice")
        load = LoadOperation(
            load_id=new_load_id(),
            application_no=application_no,
            terminal_id=terminal_id,
            size=size,
            status=LoadStatus.PENDING,
        )
        self.session.add(load)
        self._command(
            m.LoadResult(
                terminal_id=terminal_id,
                operation_id=load.load_id,
                load_id=load.load_id,
                application_no=application_no,
                size=size,
                expires_at=self.clock() + self.settings.command_ttl,
                # Who may collect it (ADR 0004): the terminal's catalog holds the item's pickup
                # policy; the holder is the applicant digest ingest stored from the document
                # type and number. A row without one makes the terminal refuse an identity item.
                item_code=app.item_code,
                holder_ref=app.applicant_ref,
            )
        )
        self._history(app, app.status, app.status, actor, f"load {load.load_id} on {terminal_id}")
        return load

    def resend_code(self, application_no: str, actor: str) -> LoadOperation:
        """Rotate the pickup code of a loaded result: new code, new digest, new SMS.

        Who may ask is the staff desk's check (`claims.check_may_serve`). At most
        `code_rotations_per_day` rotations of the case in any 24 hours (TooManyRotations),
        counted from the case's history, which notes each with its actor; the case's row is
        locked first, so rotations asked at once count each other (PostgreSQL).
        """
        app = self.application(application_no)
        self.session.execute(
            select(Application.application_no)
            .where(Application.application_no == application_no)
            .with_for_update()
        )
        load = self.active_load(application_no)
        if app.status != State.RESULT_LOADED or load is None or load.status != LoadStatus.LOADED:
            raise InvalidTransition(application_no, app.status, "resend code")
        self._rotation_budget(application_no)
        self._issue_code(app, load)
        self._history(app, app.status, app.status, actor, f"{ROTATED} ({load.load_id})")
        return load

    def _rotation_budget(self, application_no: str) -> None:
        limit, now = self.settings.code_rotations_per_day, self.clock()
        times = list(
            self.session.scalars(
                select(WorkflowHistory.at)
                .where(
                    WorkflowHistory.application_no == application_no,
                    WorkflowHistory.note.startswith(f"{ROTATED} (", autoescape=True),
                    WorkflowHistory.at > now - ROTATION_WINDOW,
                )
                .order_by(WorkflowHistory.at)
            )
        )
        if len(times) >= limit:
            free_at = times[len(times) - limit] + ROTATION_WINDOW
            raise TooManyRotations(application_no, limit, (free_at - now).total_seconds())

    def withdraw(self, application_no: str, actor: str, note: str = "") -> Application:
        """Take a loaded result back to the office: WithdrawResult, state returned."""
        app = self.application(application_no)
        load = self.active_load(application_no)
        if app.status != State.RESULT_LOADED or load is None:
            raise InvalidTransition(application_no, app.status, "return")
        self._command(
            m.WithdrawResult(
                terminal_id=load.terminal_id,
                operation_id=f"{load.load_id}#withdraw",
                load_id=load.load_id,
                application_no=application_no,
                expires_at=self.clock() + self.settings.command_ttl,
            )
        )
        load.status = LoadStatus.WITHDRAWN
        self._drop_waiting_codes(app, "result withdrawn")
        self._move(app, State.RETURNED, actor, note)
        self._notify(app, Kind.RETURNED)
        return app

    # ------------------------------------------------------------ terminal facts

    def result_loaded(self, load: LoadOperation, compartment_id: str, actor: str) -> None:
        """The terminal holds the result: state result_loaded, and a pickup code goes out."""
        app = self.application(load.application_no)
        if app.status != State.APPROVED:
            raise InvalidTransition(app.application_no, app.status, "load result")
        load.status, load.compartment_id = LoadStatus.LOADED, compartment_id
        self._move(app, State.RESULT_LOADED, actor, f"compartment {compartment_id}")
        self._issue_code(app, load)

    def picked_up(self, load: LoadOperation, actor: str) -> None:
        """The applicant opened the compartment."""
        app = self.application(load.application_no)
        if app.status != State.RESULT_LOADED:
            raise InvalidTransition(app.application_no, app.status, "pick up")
        load.status = LoadStatus.PICKED_UP
        self._move(app, State.PICKED_UP, actor, f"compartment {load.compartment_id}")
        self._notify(app, Kind.PICKED_UP)

    # ------------------------------------------------------------ internals

    def _issue_code(self, app: Application, load: LoadOperation) -> None:
        terminal = self.terminal(load.terminal_id)
        load.code_rotation += 1
        load.code_expires_at = self.clock() + self.settings.code_ttl
        # The clear code lives only in this frame and, sealed, in the outbox until sent.
        code = pickup_code.new_code()
        command = m.SetPickupCode(
            terminal_id=terminal.id,
            operation_id=f"{load.load_id}#{load.code_rotation}",
            load_id=load.load_id,
            application_no=app.application_no,
            code_digest=pickup_code.digest(terminal.pickup_code_key, terminal.id, code),
            code_expires_at=load.code_expires_at,
            phone_tail_digest=pickup_code.tail_digest(
                terminal.pickup_code_key, terminal.id, load.load_id, app.phone[-4:]
            ),
            expires_at=self.clock() + self.settings.command_ttl,
        )
        self._command(command)
        commands.supersede(
            self.session, m.type_name(m.SetPickupCode), load.load_id, keep=command.message_id
        )
        at = load.code_expires_at
        at = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        expires = f"{at.astimezone(m.SERVICE_TZ):%Y-%m-%d %H:%M}"  # the citizen's clock
        self._drop_waiting_codes(app, "superseded by a newer code")
        self._notify(app, Kind.PICKUP_CODE, code=code, terminal=terminal.id, expires=expires)

    def _drop_waiting_codes(self, app: Application, why: str) -> None:
        """An earlier code's SMS still queued would send a code the terminal no longer takes
        (a wrong entry against the compartment's budget, ADR 0011): give it up, erased."""
        outbox.supersede_queued(self.session, app.application_no, Kind.PICKUP_CODE, why)

    def _command(self, command: m.Message) -> None:
        commands.record(self.session, command)
        self.after.commands.append(command)

    def _move(self, app: Application, target: State, actor: str, note: str) -> None:
        self._history(app, app.status, target, actor, note)
        app.status = target
        step_deadlines.reached(self.session, app.application_no, target, self.clock())

    def _history(
        self, app: Application, source: str | None, target: str, actor: str, note: str
    ) -> None:
        self.session.add(
            WorkflowHistory(
                application_no=app.application_no,
                from_state=source,
                to_state=target,
                actor=actor,
                note=note,
                at=self.clock(),
            )
        )

    def _notify(self, app: Application, kind: Kind, **values: str) -> None:
        outbox.notify(
            self.session,
            kind,
            app.phone,
            {"no": app.application_no, **values},
            now=self.clock(),
            application_no=app.application_no,
            key=self.settings.notification_key,
        )
        self.after.notified += 1
