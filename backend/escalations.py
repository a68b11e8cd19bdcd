"""The escalation job: deadline colours raised on time, the clerk told, then the supervisor.

Each pass (once per cluster, in the scheduled-jobs worker):

1. Every case's colour today, by its promised day, by the due day of its earliest step not
   done yet (受理, 审核, 决定, 出件) and by its owed (容缺) materials.
2. An open escalation whose case no longer has its colour for that step (done, paused, a worse
   colour now, or the next step's) is resolved.
3. A case with a colour and no open escalation of it (per step) gets one at the clerk's level:
   its holder is notified, or every active clerk while nobody holds it.
4. A yellow or red escalation with nothing done on the case (no step, no action) for
   `supervisor_after` goes to the supervisors: one more escalation, and each active
   supervisor is notified.

So a case raises at most one escalation, and each person at most one notice, per colour, step
and level while it lasts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud_bridge.contract.messages import SERVICE_TZ

from .auth.roles import Permission, Role, permissions_of
from .console.deadlines import OPEN_STATES, STEP_STATES, Colour, bounds, where_colour
from .db import Database
from .models import (
    Application,
    ApplicationPromise,
    CaseClaim,
    Escalation,
    StaffAccount,
    StaffAction,
    StepDeadline,
    WorkflowHistory,
)
from .notifications import staff as notices
from .staff import RECORDS
from .workdays import WorkingDayCalendar

log = logging.getLogger(__name__)

CLERK, SUPERVISOR = "clerk", "supervisor"
DEADLINE, OWED, STEP = "deadline", "owed", "step"


@dataclass(frozen=True)
class EscalationSettings:
    supervisor_after: timedelta = timedelta(hours=4)  # with nothing done on the case
    to_supervisor: tuple[Colour, ...] = (Colour.YELLOW, Colour.RED)


@dataclass(frozen=True)
class PassResult:
    raised: int = 0
    to_supervisor: int = 0
    resolved: int = 0
    notified: int = 0


class Escalations:
    """run(now) does one pass; the worker that holds the cluster's job lease calls it."""

    def __init__(
        self,
        db: Database,
        calendar: WorkingDayCalendar,
        settings: EscalationSettings | None = None,
    ):
        self.db, self.calendar = db, calendar
        self.settings = settings or EscalationSettings()

    def run(self, now: datetime) -> PassResult:
        today = now.astimezone(SERVICE_TZ).date()
        raised = to_supervisor = resolved = notified = 0
        with self.db.transaction() as session:
            colours = self._colours(session, today)
            # Plain rows, not ORM objects: a site with a backlog has thousands open.
            every_open = session.execute(
                select(
                    Escalation.id,
                    Escalation.application_no,
                    Escalation.colour,
                    Escalation.level,
                    Escalation.cause,
                    Escalation.step,
                    Escalation.raised_at,
                ).where(Escalation.resolved_at.is_(None))
            ).all()

            def lasts(r) -> bool:  # the case still has this colour, earned by this step
                now_is = colours.get(r.application_no)
                return now_is is not None and (now_is[0], now_is[3]) == (r.colour, r.step)

            gone = [r.id for r in every_open if not lasts(r)]
            for i in range(0, len(gone), 500):
                session.execute(
                    update(Escalation)
                    .where(Escalation.id.in_(gone[i : i + 500]))
                    .values(resolved_at=now)
                )
            resolved = len(gone)
            closed = set(gone)
            open_rows = [r for r in every_open if r.id not in closed]
            held = {(r.application_no, r.colour, r.level, r.step) for r in open_rows}
            people = _people(session)
            for no, (colour, cause, holder_id, step) in sorted(colours.items()):
                if (no, colour.value, CLERK, step) in held:
                    continue
                session.add(
                    Escalation(
                        application_no=no,
                        colour=colour,
                        level=CLERK,
                        cause=cause,
                        step=step,
                        raised_at=now,
                    )
                )
                raised += 1
                to = [holder_id] if holder_id is not None else people[Role.CLERK]
                notified += notices.notify(
                    session, to, "escalation.clerk", no, colour, now, step=step
                )
            due = now - self.settings.supervisor_after
            for row in open_rows:
                key = (row.application_no, row.colour, SUPERVISOR, row.step)
                if (
                    row.level != CLERK
                    or row.colour not in self.settings.to_supervisor
                    or row.raised_at > due
                    or key in held
                    or _acted_since(session, row.application_no, row.raised_at)
                ):
                    continue
                session.add(
                    Escalation(
                        application_no=row.application_no,
                        colour=row.colour,
                        level=SUPERVISOR,
                        cause=row.cause,
                        step=row.step,
                        raised_at=now,
                    )
                )
                held.add(key)
                to_supervisor += 1
                notified += notices.notify(
                    session,
                    people[Role.SUPERVISOR],
                    "escalation.supervisor",
                    row.application_no,
                    row.colour,
                    now,
                    step=row.step,
                )
        result = PassResult(raised, to_supervisor, resolved, notified)
        if raised or to_supervisor or resolved:
            log.info("escalations: %s", result)
        return result

    def _colours(
        self, session: Session, today
    ) -> dict[str, tuple[Colour, str, int | None, str | None]]:
        """Each coloured case: its colour, what earned it, who holds it, and the step whose
        deadline earned it (None: the whole promise or an owed material)."""
        out: dict[str, tuple[Colour, str, int | None, str | None]] = {}
        ranges = bounds(self.calendar, today)
        open_states = {s.value for s in OPEN_STATES}
        step_states = {s.value for s in STEP_STATES}
        stepped: dict[Colour, list[str]] = {}
        for colour in Colour:
            first, end = ranges[colour]
            query = (
                select(
                    Application.application_no,
                    Application.status,
                    ApplicationPromise.promised_by,
                    CaseClaim.staff_id,
                )
                .outerjoin(
                    ApplicationPromise,
                    ApplicationPromise.application_no == Application.application_no,
                )
                .outerjoin(CaseClaim, CaseClaim.application_no == Application.application_no)
            )
            for no, status, promised_by, holder_id in session.execute(
                where_colour(query, self.calendar, colour, today)
            ):
                by_promise = (
                    status in open_states and promised_by is not None and first <= promised_by < end
                )
                out[no] = (colour, DEADLINE if by_promise else OWED, holder_id, None)
                if status in step_states:
                    stepped.setdefault(colour, []).append(no)
        # The earliest open step of each coloured case: the one a notice names when its day
        # earns the colour (a rule's cap of one notice per case, step and level).
        for colour, numbers in stepped.items():
            first, end = ranges[colour]
            for i in range(0, len(numbers), 500):
                rows = session.execute(
                    select(StepDeadline.application_no, StepDeadline.step, StepDeadline.due_on)
                    .where(
                        StepDeadline.application_no.in_(numbers[i : i + 500]),
                        StepDeadline.done_at.is_(None),
                    )
                    .order_by(StepDeadline.application_no, StepDeadline.due_on)
                ).all()
                earliest: dict[str, tuple[str, object]] = {}
                for no, step, due_on in rows:
                    earliest.setdefault(no, (step, due_on))
                for no, (step, due_on) in earliest.items():
                    if first <= due_on < end:
                        c, cause, holder_id, _ = out[no]
                        out[no] = (c, cause if cause == DEADLINE else STEP, holder_id, step)
        return out


def _people(session: Session) -> dict[Role, list[int]]:
    """Active staff by who is told: clerks (without supervision) and supervisors."""
    out: dict[Role, list[int]] = {Role.CLERK: [], Role.SUPERVISOR: []}
    for s in session.scalars(select(StaffAccount).where(StaffAccount.disabled_at.is_(None))):
        roles = list(s.roles)
        if Role.SUPERVISOR.value in roles:
            out[Role.SUPERVISOR].append(s.id)
        elif Permission.ACT_ON_APPLICATIONS in permissions_of(roles):
            out[Role.CLERK].append(s.id)
    return out


def _acted_since(session: Session, application_no: str, since: datetime) -> bool:
    steps = session.scalar(
        select(func.count())
        .select_from(WorkflowHistory)
        .where(WorkflowHistory.application_no == application_no, WorkflowHistory.at > since)
    )
    actions = session.scalar(
        select(func.count())
        .select_from(StaffAction)
        .where(
            StaffAction.application_no == application_no,
            StaffAction.at > since,
            StaffAction.action.notin_(RECORDS),  # a view or a claim is not acting on it
        )
    )
    return bool(steps or actions)


def board(session: Session, limit: int = 200) -> list[dict]:
    """Open escalations for the supervisor's page: supervisor level first, then red first."""
    rank = {Colour.RED.value: 0, Colour.YELLOW.value: 1, Colour.BLUE.value: 2}
    holder = select(StaffAccount.username).where(StaffAccount.id == CaseClaim.staff_id)
    rows = session.execute(
        select(Escalation, Application.item_code, Application.status, holder.scalar_subquery())
        .join(Application, Application.application_no == Escalation.application_no)
        .outerjoin(CaseClaim, CaseClaim.application_no == Escalation.application_no)
        .where(Escalation.resolved_at.is_(None))
        .order_by(Escalation.raised_at)
        .limit(limit)
    ).all()
    out = [
        {
            "application_no": e.application_no,
            "colour": e.colour,
            "level": e.level,
            "cause": e.cause,
            "step": e.step,
            "raised_at": e.raised_at,
            "item_code": item,
            "status": status,
            "holder": holder_name,
        }
        for e, item, status, holder_name in rows
    ]
    out.sort(key=lambda r: (r["level"] != SUPERVISOR, rank.get(r["colour"], 3)))
    return out
