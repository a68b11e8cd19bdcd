"""Per-step deadlines: each step of a case (受理, 审核, 决定, 出件) is promised by a working day.

A case's promise (承诺办结时限, `promised_days` working days from the submission) is split into
four cumulative step deadlines, counted from the same Beijing day as the whole promise:

    accept  受理      ceil(1/5 of the days)   the case is accepted
    review  审核      ceil(1/2 of the days)   a clerk took the review step
    decide  决定      ceil(4/5 of the days)   approved or rejected
    result  制证/出件  all the days            the result is in a locker compartment

Each at least 1 and never before the step ahead of it; an item whose service guide gives its
own step days (`STEP_DAYS_BY_ITEM`, or a catalog's `step_days`) uses them instead. A step is
done when the case reaches it (a rejection ends every step still open). A supplement request
stops the clock of every open step as it does the whole promise's (workflow.restart_clock).
Colours (blue, yellow, red) apply to each open step exactly as to the whole case (ADR 0024).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import StepDeadline
from .workdays import WorkingDayCalendar

STEPS = ("accept", "review", "decide", "result")
# Cumulative share of the promised days by which each step is due (the default split).
SHARES = {"accept": (1, 5), "review": (1, 2), "decide": (4, 5), "result": (1, 1)}
# Step days that service guides give for an item, cumulative from the submission: none yet.
STEP_DAYS_BY_ITEM: dict[str, Mapping[str, int]] = {}

# The workflow state a case reaches when each step is done.
DONE_BY_STATE: dict[str, tuple[str, ...]] = {
    "accepted": ("accept",),
    "under_review": ("accept", "review"),
    "approved": ("accept", "review", "decide"),
    "rejected": STEPS,  # nothing more to do: no result to load
    "result_loaded": STEPS,
    "picked_up": STEPS,
    "returned": STEPS,
}


def split(promised_days: int, given: Mapping[str, int] | None = None) -> dict[str, int]:
    """Working days from the submission by which each step is due (cumulative)."""
    if promised_days < 1:
        raise ValueError("promised_days must be >= 1")
    out: dict[str, int] = {}
    floor = 1
    for step in STEPS:
        if step == "result":
            days = promised_days
        elif given and step in given:
            days = given[step]
        else:
            num, den = SHARES[step]
            days = math.ceil(promised_days * num / den)
        days = min(max(days, floor), promised_days)
        out[step] = floor = days
    return out


def record(
    session: Session,
    application_no: str,
    item_code: str,
    submitted_at: datetime,
    promised_days: int,
    calendar: WorkingDayCalendar,
) -> None:
    """The four step deadlines of a new case, beside its whole promise."""
    for step, days in split(promised_days, STEP_DAYS_BY_ITEM.get(item_code)).items():
        session.add(
            StepDeadline(
                application_no=application_no,
                step=step,
                days=days,
                due_on=calendar.due_date(submitted_at, days),
            )
        )


def rows(session: Session, application_no: str) -> list[StepDeadline]:
    order = {s: n for n, s in enumerate(STEPS)}
    found = session.scalars(
        select(StepDeadline).where(StepDeadline.application_no == application_no)
    ).all()
    return sorted(found, key=lambda r: order.get(r.step, len(order)))


def reached(session: Session, application_no: str, state: str, now: datetime) -> None:
    """The case moved to `state`: the steps it completes are done now."""
    done = DONE_BY_STATE.get(state)
    if not done:
        return
    for row in rows(session, application_no):
        if row.step in done and row.done_at is None:
            row.done_at = now


def move_later(
    session: Session, application_no: str, calendar: WorkingDayCalendar, days: int
) -> None:
    """A supplement request stopped the clock `days` working days: open steps move later."""
    if days <= 0:
        return
    for row in rows(session, application_no):
        if row.done_at is None:
            row.due_on = calendar.add_working_days(row.due_on, days)


def open_steps(rows_: Iterable[StepDeadline]) -> list[tuple[str, date]]:
    return [(r.step, r.due_on) for r in rows_ if r.done_at is None]
