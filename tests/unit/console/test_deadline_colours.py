"""Deadline colours day by day across a holiday week and its make-up working weekend days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend.console.deadlines import Colour, colour_of
from backend.workdays import WorkingDayCalendar

# National Day week: Oct 1-7 off; Sunday Sep 27 and Saturday Oct 10 are working days.
CALENDAR = WorkingDayCalendar.of(
    holidays=[date(2026, 10, 1) + timedelta(days=n) for n in range(7)],
    working_weekends=[date(2026, 9, 27), date(2026, 10, 10)],
    years=[2026],
)
PROMISED = date(2026, 9, 30)  # a Wednesday, the last working day before the holiday

EXPECTED = {
    date(2026, 9, 25): None,  # Fri: four working days to go (27, 28, 29, 30)
    date(2026, 9, 26): None,  # Sat off
    date(2026, 9, 27): None,  # Sun worked: three to go
    date(2026, 9, 28): Colour.BLUE,  # two to go
    date(2026, 9, 29): Colour.BLUE,
    date(2026, 9, 30): Colour.BLUE,  # the promised day itself
    **{date(2026, 10, d): Colour.BLUE for d in range(1, 8)},  # holiday: no working day over
    date(2026, 10, 8): Colour.YELLOW,  # first working day after the promised one
    date(2026, 10, 9): Colour.RED,  # second
    date(2026, 10, 10): Colour.RED,  # Sat worked
    date(2026, 10, 11): Colour.RED,
    date(2026, 10, 12): Colour.RED,
}


@pytest.mark.parametrize("today", sorted(EXPECTED))
def test_an_open_case_turns_blue_yellow_red_in_working_days(today):
    assert colour_of(CALENDAR, PROMISED, "under_review", today) == EXPECTED[today]


@pytest.mark.parametrize("status", ["approved", "rejected", "picked_up", "supplement_requested"])
def test_a_decided_or_paused_case_has_no_colour(status):
    assert colour_of(CALENDAR, PROMISED, status, date(2026, 10, 12)) is None


def test_a_case_without_a_promised_day_has_no_colour():
    assert colour_of(CALENDAR, None, "submitted", date(2026, 10, 12)) is None


# 容缺: a material owed by 30 September colours the case by that day, whatever its state,
# until the case is rejected or returned.
@pytest.mark.parametrize("today", sorted(EXPECTED))
@pytest.mark.parametrize("status", ["accepted", "supplement_requested", "approved", "picked_up"])
def test_an_owed_material_turns_the_case_yellow_then_red(today, status):
    assert colour_of(CALENDAR, None, status, today, owed_due=PROMISED) == EXPECTED[today]


@pytest.mark.parametrize("status", ["rejected", "returned"])
def test_an_owed_material_of_a_closed_case_has_no_colour(status):
    assert colour_of(CALENDAR, None, status, date(2026, 10, 12), owed_due=PROMISED) is None


def test_the_case_shows_the_worse_of_its_promise_and_its_owed_material():
    today = date(2026, 10, 8)  # promise 30 Sep is yellow today
    assert colour_of(CALENDAR, PROMISED, "under_review", today, date(2026, 9, 29)) == Colour.RED
    assert colour_of(CALENDAR, PROMISED, "under_review", today, date(2026, 10, 9)) == Colour.YELLOW
    assert colour_of(CALENDAR, date(2026, 10, 9), "accepted", today, PROMISED) == Colour.YELLOW
