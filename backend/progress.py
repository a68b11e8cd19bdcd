"""Progress queries (查询办理进度): what a citizen at any terminal may learn of an application.

The citizen gives the application number and the last 4 digits of the phone number given at
submission. The answer says the state in citizen terms, the item, the dates and what is still
owed, never who the applicant is or what a clerk wrote. An unknown number, a wrong tail and a
number locked after too many wrong tails get the same `found: false` (ADR 0005).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from . import step_deadlines, supplement_requests
from .models import (
    Application,
    ApplicationPromise,
    LoadOperation,
    MaterialSupplement,
    StatusQueryLog,
    WorkflowHistory,
    utcnow,
)
from .workdays import BEIJING, CN_OFFICIAL, WorkingDayCalendar
from .workflow import LoadStatus, State

log = logging.getLogger(__name__)

CITIZEN_STATE: dict[str, m.CitizenState] = {
    State.SUBMITTED: m.CitizenState.RECEIVED,
    State.ACCEPTED: m.CitizenState.UNDER_REVIEW,
    State.UNDER_REVIEW: m.CitizenState.UNDER_REVIEW,
    State.SUPPLEMENT_REQUESTED: m.CitizenState.SUPPLEMENT_NEEDED,
    State.APPROVED: m.CitizenState.APPROVED,
    State.RESULT_LOADED: m.CitizenState.READY_FOR_PICKUP,
    State.PICKED_UP: m.CitizenState.PICKED_UP,
    State.REJECTED: m.CitizenState.REFUSED,
    State.RETURNED: m.CitizenState.AT_THE_OFFICE,
}

ANSWERED, UNKNOWN, WRONG_TAIL, LOCKED, THROTTLED, EXPIRED = (
    "answered",
    "unknown",
    "wrong_tail",
    "locked",
    "throttled",
    "expired",
)
# Outcomes that count as guesses against a number: a locked query is one more guess too, so a
# guesser who keeps trying keeps the number locked.
_GUESSES = (WRONG_TAIL, LOCKED)
# What a terminal's misses are: someone walking the number space misses on unknown numbers.
_MISSES = (UNKNOWN, WRONG_TAIL, LOCKED, THROTTLED)


@dataclass(frozen=True)
class ProgressSettings:
    """How guessing is limited and how working days are counted."""

    max_wrong_tails: int = 5
    window: timedelta = timedelta(hours=24)
    # Misses (unknown number, wrong tail, locked) from one terminal before it is not answered
    # either: a person trying number after number at one kiosk, not citizens with typos.
    max_misses_per_terminal: int = 30
    terminal_window: timedelta = timedelta(hours=1)
    calendar: WorkingDayCalendar = CN_OFFICIAL


class ApplicationProgress:
    """The backend's side of `request.application_status`, and the promise kept per application."""

    def __init__(
        self, settings: ProgressSettings | None = None, clock: Callable[[], datetime] = utcnow
    ):
        self.settings = settings or ProgressSettings()
        self.clock = clock
        self.step_days = step_deadlines.StepDaysInForce()

    # ------------------------------------------------------------ at submission

    def record_promise(self, session: Session, application_no: str, msg: m.ApplicationSubmitted):
        """Keep the promised-by day of a new application, when the terminal said how many days."""
        if msg.promised_days is None:
            return
        calendar = self.settings.calendar
        due = calendar.due_date(msg.submitted_at, msg.promised_days)
        step_deadlines.record(
            session,
            application_no,
            msg.submitted_at,
            msg.promised_days,
            calendar,
            self.step_days.of(session, msg.item_code, msg.promised_days, msg.catalog_version),
        )
        session.add(
            ApplicationPromise(
                application_no=application_no,
                promised_days=msg.promised_days,
                promised_by=due,
                calendar_covered=calendar.covers(due),
            )
        )

    # ------------------------------------------------------------ the question

    def answer(
        self, session: Session, query: m.ApplicationStatusQuery
    ) -> m.ApplicationStatus | None:
        """The response to publish, or None for a request that has expired."""
        now = self.clock()
        if query.expired(now):
            self._audit(
                session, query.terminal_id, query.operation_id, query.application_no, EXPIRED, now
            )
            log.info("status request %s expired before it was read", query.message_id)
            return None
        app = self.find(
            session,
            query.terminal_id,
            query.operation_id,
            query.application_no,
            query.phone_tail,
            now,
        )
        if app is None:
            return self._response(query, found=False)
        return self._response(query, found=True, **self._what_citizen_sees(session, app))

    def find(
        self,
        session: Session,
        terminal_id: str,
        operation_id: str,
        application_no: str,
        phone_tail: str,
        now: datetime,
    ) -> Application | None:
        """The application a number and phone tail given at a terminal find, or None.

        None for an unknown number, a wrong tail, a locked number and a throttled terminal
        alike; audited either way (a throttled one within bounds), which counts the guesses and
        misses. Supplements brought by
        number and tail are found here too, so they share the progress query's limits.
        """
        guesses = self._guesses(session, application_no, now)
        misses = self._misses(session, terminal_id, now)
        app = session.get(Application, application_no)
        if misses >= self.settings.max_misses_per_terminal:
            outcome = THROTTLED
        elif guesses >= self.settings.max_wrong_tails:
            outcome = LOCKED
        elif app is None:
            outcome = UNKNOWN
        elif not hmac.compare_digest(app.phone[-4:].encode(), phone_tail.encode()):
            outcome = WRONG_TAIL
        else:
            outcome = ANSWERED
        # A terminal kept out is audited up to twice its budget a window: those rows keep it
        # out while it goes on asking; past them nothing more is written, or a stolen
        # certificate asking at broker speed would grow the log without bound.
        if outcome != THROTTLED or misses < 2 * self.settings.max_misses_per_terminal:
            self._audit(session, terminal_id, operation_id, application_no, outcome, now)
        if outcome == WRONG_TAIL and guesses + 1 >= self.settings.max_wrong_tails:
            # Someone may be guessing at a citizen's application: worth an operator's look.
            log.warning(
                "progress queries for %s locked after %d wrong phone tails (last from %s)",
                application_no,
                guesses + 1,
                terminal_id,
            )
        elif outcome == LOCKED:
            log.warning("progress query for locked %s from %s", application_no, terminal_id)
        elif outcome == THROTTLED and misses == self.settings.max_misses_per_terminal:
            log.warning(
                "terminal %s: %d progress queries missed within %s; it is not answered until"
                " the misses age out (someone may be trying numbers)",
                terminal_id,
                misses,
                self.settings.terminal_window,
            )
        return app if outcome == ANSWERED else None

    def _guesses(self, session: Session, application_no: str, now: datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(StatusQueryLog)
                .where(
                    StatusQueryLog.application_no == application_no,
                    StatusQueryLog.outcome.in_(_GUESSES),
                    StatusQueryLog.at > now - self.settings.window,
                )
            )
            or 0
        )

    def _misses(self, session: Session, terminal_id: str, now: datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(StatusQueryLog)
                .where(
                    StatusQueryLog.terminal_id == terminal_id,
                    StatusQueryLog.outcome.in_(_MISSES),
                    StatusQueryLog.at > now - self.settings.terminal_window,
                )
            )
            or 0
        )

    @staticmethod
    def _audit(
        session: Session,
        terminal_id: str,
        operation_id: str,
        application_no: str,
        outcome: str,
        now: datetime,
    ) -> None:
        session.add(
            StatusQueryLog(
                terminal_id=terminal_id,
                operation_id=operation_id,
                application_no=application_no,
                outcome=outcome,
                at=now,
            )
        )
        session.flush()

    def _what_citizen_sees(self, session: Session, app: Application) -> dict[str, object]:
        state = CITIZEN_STATE.get(app.status)
        since = session.scalar(
            select(WorkflowHistory.at)
            .where(
                WorkflowHistory.application_no == app.application_no,
                WorkflowHistory.to_state == app.status,
                WorkflowHistory.from_state.is_distinct_from(app.status),
            )
            .order_by(WorkflowHistory.at.desc(), WorkflowHistory.id.desc())
            .limit(1)
        )
        promise = session.get(ApplicationPromise, app.application_no)
        owed = session.scalars(
            select(MaterialSupplement)
            .where(
                MaterialSupplement.application_no == app.application_no,
                MaterialSupplement.supplied_at.is_(None),
            )
            .order_by(MaterialSupplement.due_on, MaterialSupplement.material_code)
        ).all()
        pickup_terminal = None
        if app.status == State.RESULT_LOADED:
            pickup_terminal = session.scalar(
                select(LoadOperation.terminal_id)
                .where(
                    LoadOperation.application_no == app.application_no,
                    LoadOperation.status == LoadStatus.LOADED,
                )
                .limit(1)
            )
        return {
            "state": state,
            "since": since,
            "item_code": app.item_code,
            "submitted_on": app.submitted_at.astimezone(BEIJING).date(),
            "promised_by": promise.promised_by if promise else None,
            "supplements": [
                m.SupplementDue(material_code=x.material_code, due_on=x.due_on) for x in owed
            ],
            "requested": [
                m.RequestedMaterial(material_code=x.material_code, reason=x.reason)
                for x in supplement_requests.open_rows(session, app.application_no)
            ]
            if app.status == State.SUPPLEMENT_REQUESTED
            else [],
            "pickup_terminal_id": pickup_terminal,
        }

    @staticmethod
    def _response(
        query: m.ApplicationStatusQuery, *, found: bool, **fields: object
    ) -> m.ApplicationStatus:
        return m.ApplicationStatus(
            terminal_id=query.terminal_id,
            operation_id=query.operation_id,
            request_id=query.message_id,
            found=found,
            expires_at=query.expires_at,
            **fields,  # type: ignore[arg-type]
        )
