"""Working days by the official calendar: weekends, public holidays and make-up working days.

Deadlines in government service are promised in working days (工作日). A working day is a
Monday to Friday that is not a public holiday, plus the weekend days the State Council turns
into working days (调休上班). The table is published each year (usually in November) for the
next year; `CN_OFFICIAL` holds the years published so far, and a deployment adds a year with
`WorkingDayCalendar.from_file()` (JSON, below) before the State Council's table reaches a
release. A day outside every configured year counts by weekends alone, and
`WorkingDayCalendar.covers()` says so, so callers can warn staff.

File format (dates are ISO days; both keys optional):

    {"years": [2027],
     "holidays": ["2027-01-01", ...],
     "working_weekends": ["2027-02-06", ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from cloud_bridge.contract.messages import SERVICE_TZ

# Government offices keep Beijing time; China has no daylight saving time.
BEIJING = SERVICE_TZ


def _span(first: date, last: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


# 国务院办公厅关于2026年部分节假日安排的通知 (published 4 November 2025).
_CN_2026_HOLIDAYS = (
    _span(date(2026, 1, 1), date(2026, 1, 3))  # 元旦
    | _span(date(2026, 2, 15), date(2026, 2, 23))  # 春节
    | _span(date(2026, 4, 4), date(2026, 4, 6))  # 清明节
    | _span(date(2026, 5, 1), date(2026, 5, 5))  # 劳动节
    | _span(date(2026, 6, 19), date(2026, 6, 21))  # 端午节
    | _span(date(2026, 9, 25), date(2026, 9, 27))  # 中秋节
    | _span(date(2026, 10, 1), date(2026, 10, 7))  # 国庆节
)
_CN_2026_WORKING_WEEKENDS = {
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
}


@dataclass(frozen=True)
class WorkingDayCalendar:
    """Which days are working days, and deadlines counted in them."""

    holidays: frozenset[date] = frozenset()
    working_weekends: frozenset[date] = frozenset()
    years: frozenset[int] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday and not a holiday, or a weekend day declared a working day."""
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def covers(self, day: date) -> bool:
        """True if the official table for `day`'s year is configured."""
        return day.year in self.years

    def add_working_days(self, start: date, days: int) -> date:
        """The day on which `days` working days after `start` have passed (`start` not counted).

        An application handed in on a Thursday evening with 2 working days, before a holiday
        Friday and a weekend, is due on the Tuesday.
        """
        if days < 0:
            raise ValueError("days must be >= 0")
        day, left = start, days
        while left:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def due_date(self, at: datetime, days: int) -> date:
        """`add_working_days` from the Beijing-time day of the instant `at`."""
        return self.add_working_days(at.astimezone(BEIJING).date(), days)

    def working_days_between(self, first: date, last: date) -> int:
        """Working days in (first, last]; negative when `last` is before `first`."""
        if last < first:
            return -self.working_days_between(last, first)
        return sum(
            self.is_working_day(first + timedelta(days=n))
            for n in range(1, (last - first).days + 1)
        )

    def merged(self, other: WorkingDayCalendar) -> WorkingDayCalendar:
        """This calendar with `other`'s years added (`other` wins for its own years)."""
        keep_h = {d for d in self.holidays if d.year not in other.years}
        keep_w = {d for d in self.working_weekends if d.year not in other.years}
        return WorkingDayCalendar(
            frozenset(keep_h | other.holidays),
            frozenset(keep_w | other.working_weekends),
            self.years | other.years,
        )

    @classmethod
    def of(
        cls, holidays: Iterable[date], working_weekends: Iterable[date], years: Iterable[int]
    ) -> WorkingDayCalendar:
        return cls(frozenset(holidays), frozenset(working_weekends), frozenset(years))

    @classmethod
    def from_file(cls, path: Path) -> WorkingDayCalendar:
        """Read the JSON format in the module docstring; ValueError names the bad entry."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise ValueError(f"holiday file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"holiday file {path}: expected a JSON object")

        def days(key: str) -> set[date]:
            out = set()
            for value in data.get(key, []):
                try:
                    out.add(date.fromisoformat(value))
                except (TypeError, ValueError):
                    raise ValueError(f"holiday file {path}: bad date {value!r} in {key}") from None
            return out

        holidays, working = days("holidays"), days("working_weekends")
        years = set(data.get("years", [])) | {d.year for d in holidays | working}
        if not all(isinstance(y, int) for y in years):
            raise ValueError(f"holiday file {path}: years must be integers")
        return cls.of(holidays, working, years)


CN_OFFICIAL = WorkingDayCalendar.of(_CN_2026_HOLIDAYS, _CN_2026_WORKING_WEEKENDS, {2026})
