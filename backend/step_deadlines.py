"""Per-step deadlines: each step of a case (受理, 审核, 决定, 出件) is promised by a working day.

A case's promise (承诺办结时限, `promised_days` working days from the submission) is split into
four cumulative step deadlines, counted from the same Beijing day as the whole promise:

    accept  受理      ceil(1/5 of the days)   the case is accepted
    review  审核      ceil(1/2 of the days)   a clerk took the review step
    decide  决定      ceil(4/5 of the days)   approved or rejected
    result  制证/出件  all the days            the result is in a locker compartment

Each at least 1 and never before the step ahead of it. An item whose service guide gives its own
step days carries them in the catalog (`step_days` of the item, cloud_bridge/contract/catalog.py),
and a case takes them from the catalog version it was promised under (`StepDaysInForce`); a step the
item leaves out takes its default share, held between the given steps around it. A step is done when
the case reaches it (a rejection ends every step still open). A supplement request stops the clock
of every open step as it does the whole promise's (workflow.restart_clock). Colours (blue, yellow,
red) apply to each open step exactly as to the whole case (ADR 0024).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract.catalog import CatalogError, builtin_catalog, parse_catalog

from .catalog_editor import PUBLISHED, CatalogVersion
from .models import StepDeadline
from .workdays import WorkingDayCalendar

log = logging.getLogger(__name__)

STEPS = ("accept", "review", "decide", "result")
# Cumulative share of the promised days by which each step is due (the default split).
SHARES = {"accept": (1, 5), "review": (1, 2), "decide": (4, 5), "result": (1, 1)}

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
    """Working days from the submission by which each step is due (cumulative).

    `given`: the item's step days (some or all of accept, review, decide); a step left out takes
    its default share, no later than the next given step.
    """
    if promised_days < 1:
        raise ValueError("promised_days must be >= 1")
    given = given or {}
    out: dict[str, int] = {}
    floor = 1
    for n, step in enumerate(STEPS):
        if step == "result":
            days = promised_days
        elif step in given:
            days = given[step]
        else:
            num, den = SHARES[step]
            later = [given[s] for s in STEPS[n + 1 :] if s in given]
            days = min([math.ceil(promised_days * num / den), *later])
        days = min(max(days, floor), promised_days)
        out[step] = floor = days
    return out


# An item's promised days and step days, by item code, in one catalog version.
_Items = dict[str, tuple[int, dict[str, int]]]
_PUBLISHED_LABEL = re.compile(r"^catalog-([0-9]{1,9})$")


class StepDaysInForce:
    """An item's step days from the catalog a case was promised under.

    A submission names its catalog's version: the terminals' starting catalog (`builtin-...`)
    or a version published in the console (`catalog-N`). A case whose terminal names none, or a
    version the backend does not hold (a document pushed from elsewhere), takes the catalog in
    force: the newest published version, else the starting catalog. Published versions never
    change, so each is parsed once (the last `keep` are kept); which one is newest is asked
    again after `recheck_s`.
    """

    def __init__(self, recheck_s: float = 5.0, keep: int = 16):
        self.recheck_s = recheck_s
        self.keep = keep
        self._lock = threading.Lock()
        self._newest: tuple[float, int | None] | None = None  # (asked at, version number)
        self._items: OrderedDict[int | None, _Items] = OrderedDict()  # None: the starting one

    def of(
        self,
        session: Session,
        item_code: str,
        promised_days: int,
        catalog_version: str | None = None,
    ) -> dict[str, int] | None:
        """The step days for a case of `item_code` promised `promised_days`, or None (default).

        When the promise differs from the catalog's (the terminal ran another version than the
        one taken), the default split: step days are written for the promise they sit in.
        """
        items = self._named(session, catalog_version)
        if items is None:
            items = self._version(session, self._newest_number(session), None)
        found = items.get(item_code)
        if found is None:
            return None
        days, steps = found
        if days != promised_days:
            log.info(
                "%s promised %d days at the terminal, %d in the catalog taken: default split",
                item_code,
                promised_days,
                days,
            )
            return None
        return steps

    def _named(self, session: Session, version: str | None) -> _Items | None:
        """The items of the version a submission names, when the backend holds it."""
        if version is None:
            return None
        if version == builtin_catalog().version:
            return self._version(session, None, None)
        match = _PUBLISHED_LABEL.fullmatch(version)
        if match is None:
            return None
        number = int(match.group(1))
        with self._lock:
            if number in self._items:
                self._items.move_to_end(number)
                return self._items[number]
        row = session.get(CatalogVersion, number)
        if row is None or row.state != PUBLISHED or row.document.get("version") != version:
            return None
        return self._version(session, number, row.document)

    def _newest_number(self, session: Session) -> int | None:
        now = time.monotonic()
        with self._lock:
            newest = self._newest
        if newest is None or now - newest[0] >= self.recheck_s:
            number = session.scalar(
                select(CatalogVersion.number)
                .where(CatalogVersion.state == PUBLISHED)
                .order_by(CatalogVersion.number.desc())
                .limit(1)
            )
            newest = (now, number)
            with self._lock:
                self._newest = newest
        return newest[1]

    def _version(self, session: Session, number: int | None, document: dict | None) -> _Items:
        with self._lock:
            if number in self._items:
                self._items.move_to_end(number)
                return self._items[number]
        items = self._parse(session, number, document)
        with self._lock:
            self._items[number] = items
            while len(self._items) > self.keep:
                self._items.popitem(last=False)
        return items

    @staticmethod
    def _parse(session: Session, number: int | None, document: dict | None) -> _Items:
        if number is None:
            catalog = builtin_catalog()
        else:
            if document is None:
                row = session.get(CatalogVersion, number)
                document = row.document if row else {}
            try:
                catalog = parse_catalog(document)
            except CatalogError as exc:  # published versions were checked; never expected
                log.error("catalog version %s does not parse (%s): default split", number, exc)
                return {}
        return {
            it.code: (it.promised_days, dict(it.step_days)) for it in catalog.items if it.step_days
        }


def record(
    session: Session,
    application_no: str,
    submitted_at: datetime,
    promised_days: int,
    calendar: WorkingDayCalendar,
    given: Mapping[str, int] | None = None,
) -> None:
    """The four step deadlines of a new case, beside its whole promise."""
    for step, days in split(promised_days, given).items():
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
