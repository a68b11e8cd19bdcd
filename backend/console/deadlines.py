"""Deadline colours (seeds): blue 2 working days before the promised day, yellow 1 over, red 2.

Three things earn a case a colour: its promised day (while it is open: submitted, accepted or
under review; a supplement request stops that clock), the due day of each of its steps not done
yet (受理, 审核, 决定, 出件: backend/step_deadlines.py; the earliest open one counts, from
submission until the result is loaded, except while a supplement request stops the clock), and
a material still owed under 容缺, by its due day (until the case is rejected or returned). The
case shows the worst of the three.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select

from ..models import Application, ApplicationPromise, MaterialSupplement, StepDeadline
from ..workdays import WorkingDayCalendar
from ..workflow import State


class Colour(StrEnum):
    BLUE = "blue"  # the promised day is at most 2 working days away, and the case is not done
    YELLOW = "yellow"  # 1 working day past the promised day
    RED = "red"  # 2 or more working days past it


# A case is done once decided; a supplement request stops its clock (no colour meanwhile).
OPEN_STATES = (State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW)
# A step's deadline counts until the result is loaded (an approved case still owes its result).
STEP_STATES = (*OPEN_STATES, State.APPROVED)
# An owed material stops mattering once the case is refused or its result went back.
OWED_CLOSED_STATES = (State.REJECTED, State.RETURNED)
# How serious each colour is: the worst of several is the one to show.
SEVERITY = {None: 0, Colour.BLUE: 1, Colour.YELLOW: 2, Colour.RED: 3}


def _back(calendar: WorkingDayCalendar, today: date, n: int) -> date:
    """The n-th working day counting back from today (today counts when it is one)."""
    day, seen = today, 0
    while True:
        if calendar.is_working_day(day):
            seen += 1
            if seen == n:
                return day
        day -= timedelta(days=1)


def bounds(calendar: WorkingDayCalendar, today: date) -> dict[Colour, tuple[date, date]]:
    """Each colour as the half-open range [first, end) of promised days that earn it today."""
    blue_end = calendar.add_working_days(today, 3)  # promised day at most 2 working days on
    latest, second = _back(calendar, today, 1), _back(calendar, today, 2)
    return {
        # Past the promised day but no working day since (a weekend) still counts as blue.
        Colour.BLUE: (latest, blue_end),
        Colour.YELLOW: (second, latest),
        Colour.RED: (date.min, second),
    }


def _of_day(calendar: WorkingDayCalendar, day: date | None, today: date) -> Colour | None:
    if day is None:
        return None
    for colour, (first, end) in bounds(calendar, today).items():
        if first <= day < end:
            return colour
    return None


def colour_of(
    calendar: WorkingDayCalendar,
    promised_by: date | None,
    status: str,
    today: date,
    owed_due: date | None = None,
    step_due: date | None = None,
) -> Colour | None:
    """The case's colour today, or None (nothing due soon, done, or paused).

    `owed_due` is the earliest due day of the materials still owed (容缺), if any;
    `step_due` the earliest due day of its steps not done yet, if any.
    """
    by_promise = _of_day(calendar, promised_by, today) if status in OPEN_STATES else None
    by_owed = _of_day(calendar, owed_due, today) if status not in OWED_CLOSED_STATES else None
    by_step = step_colour(calendar, step_due, status, today)
    return max(by_promise, by_owed, by_step, key=SEVERITY.__getitem__)


def step_colour(
    calendar: WorkingDayCalendar, due_on: date | None, status: str, today: date
) -> Colour | None:
    """One open step's colour today: None once the case is paused or closed."""
    return _of_day(calendar, due_on, today) if status in STEP_STATES else None


def step_due_column() -> ColumnElement[date]:
    """Correlated: the earliest due day of the case's steps not done yet, or NULL."""
    return (
        select(func.min(StepDeadline.due_on))
        .where(
            StepDeadline.application_no == Application.application_no,
            StepDeadline.done_at.is_(None),
        )
        .correlate(Application)
        .scalar_subquery()
    )


def owed_due_column() -> ColumnElement[date]:
    """Correlated: the earliest due day of the case's materials still owed, or NULL."""
    return (
        select(func.min(MaterialSupplement.due_on))
        .where(
            MaterialSupplement.application_no == Application.application_no,
            MaterialSupplement.supplied_at.is_(None),
        )
        .correlate(Application)
        .scalar_subquery()
    )


def where_colour(query: Select, calendar: WorkingDayCalendar, colour: Colour, today: date):
    """`query` (over Application joined to ApplicationPromise) narrowed to one colour.

    The colour of the earliest of the days that count: one of them falls in the colour's
    range and none falls before it (a worse colour). The earliest owed and open-step days come
    from two grouped subqueries joined once (a correlated subquery per row and per condition
    took PostgreSQL 1.6 s over 10,000 cases).
    """
    first, end = bounds(calendar, today)[colour]
    owed_days = (
        select(
            MaterialSupplement.application_no.label("no"),
            func.min(MaterialSupplement.due_on).label("due"),
        )
        .where(MaterialSupplement.supplied_at.is_(None))
        .group_by(MaterialSupplement.application_no)
        .subquery("owed_days")
    )
    step_days = (
        select(
            StepDeadline.application_no.label("no"),
            func.min(StepDeadline.due_on).label("due"),
        )
        .where(StepDeadline.done_at.is_(None))
        .group_by(StepDeadline.application_no)
        .subquery("step_days")
    )
    query = query.outerjoin(owed_days, owed_days.c.no == Application.application_no).outerjoin(
        step_days, step_days.c.no == Application.application_no
    )
    promise = case(
        (Application.status.in_([s.value for s in OPEN_STATES]), ApplicationPromise.promised_by),
        else_=None,
    )
    owed = case(
        (Application.status.in_([s.value for s in OWED_CLOSED_STATES]), None),
        else_=owed_days.c.due,
    )
    step = case(
        (Application.status.in_([s.value for s in STEP_STATES]), step_days.c.due),
        else_=None,
    )

    def within(day: ColumnElement[date]):
        return and_(day >= first, day < end)

    def not_worse(day: ColumnElement[date]):
        return or_(day.is_(None), day >= first)

    return query.where(
        and_(
            or_(within(promise), within(owed), within(step)),
            not_worse(promise),
            not_worse(owed),
            not_worse(step),
        )
    )
