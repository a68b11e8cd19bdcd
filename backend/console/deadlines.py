"""Deadline colours (seeds): blue 2 working days before the promised day, yellow 1 over, red 2."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import Select, and_

from ..models import Application, ApplicationPromise
from ..workdays import WorkingDayCalendar
from ..workflow import State


class Colour(StrEnum):
    BLUE = "blue"  # the promised day is at most 2 working days away, and the case is not done
    YELLOW = "yellow"  # 1 working day past the promised day
    RED = "red"  # 2 or more working days past it


# A case is done once decided; a supplement request stops its clock (no colour meanwhile).
OPEN_STATES = (State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW)


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


def colour_of(
    calendar: WorkingDayCalendar, promised_by: date | None, status: str, today: date
) -> Colour | None:
    """The case's colour today, or None (no promise, done, paused or not yet close)."""
    if promised_by is None or status not in OPEN_STATES:
        return None
    for colour, (first, end) in bounds(calendar, today).items():
        if first <= promised_by < end:
            return colour
    return None


def where_colour(query: Select, calendar: WorkingDayCalendar, colour: Colour, today: date):
    """`query` (over Application joined to ApplicationPromise) narrowed to one colour."""
    first, end = bounds(calendar, today)[colour]
    return query.where(
        and_(
            Application.status.in_([s.value for s in OPEN_STATES]),
            ApplicationPromise.promised_by >= first,
            ApplicationPromise.promised_by < end,
        )
    )
