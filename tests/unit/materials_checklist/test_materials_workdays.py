"""Working days by the official calendar, as supplement deadlines (容缺) are counted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from backend.workdays import CN_OFFICIAL, WorkingDayCalendar


def test_weekends_holidays_and_make_up_working_days():
    cal = CN_OFFICIAL
    assert cal.is_working_day(date(2026, 9, 24))  # a Thursday
    assert not cal.is_working_day(date(2026, 9, 25))  # 中秋节, a Friday
    assert not cal.is_working_day(date(2026, 9, 26))  # Saturday
    assert cal.is_working_day(date(2026, 9, 20))  # a Sunday made a working day (调休)
    assert cal.is_working_day(date(2026, 10, 10))  # a Saturday made a working day
    assert not cal.is_working_day(date(2026, 10, 5))  # 国庆节, a Monday
    assert not any(cal.is_working_day(date(2026, 2, d)) for d in range(15, 24))  # 春节
    assert cal.is_working_day(date(2026, 2, 14))


def test_the_2026_table_has_the_official_number_of_days_off():
    holidays = sorted(CN_OFFICIAL.holidays)
    assert len(holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert all(d.year == 2026 for d in holidays)
    assert all(d.weekday() >= 5 for d in CN_OFFICIAL.working_weekends)


def test_a_deadline_skips_a_holiday_and_a_weekend():
    # Handed in on Thursday evening before the Mid-Autumn Friday: Mon 28, Tue 29.
    assert CN_OFFICIAL.add_working_days(date(2026, 9, 24), 2) == date(2026, 9, 29)
    # Five days run over the National Day week: 28, 29, 30 September, then 8 and 9 October.
    assert CN_OFFICIAL.add_working_days(date(2026, 9, 24), 5) == date(2026, 10, 9)
    # From a Friday, a make-up Sunday counts: Sun 20, Mon 21.
    assert CN_OFFICIAL.add_working_days(date(2026, 9, 18), 2) == date(2026, 9, 21)
    assert CN_OFFICIAL.add_working_days(date(2026, 9, 24), 0) == date(2026, 9, 24)


def test_the_day_is_taken_in_beijing_time():
    # 17:30 UTC on the 24th is 01:30 on the 25th in Beijing: counting starts from the 25th.
    late = datetime(2026, 9, 24, 17, 30, tzinfo=UTC)
    assert CN_OFFICIAL.due_date(late, 1) == date(2026, 9, 28)
    early = datetime(2026, 9, 24, 13, 30, tzinfo=UTC)
    assert CN_OFFICIAL.due_date(early, 1) == date(2026, 9, 28)
    assert CN_OFFICIAL.due_date(datetime(2026, 9, 22, 13, 30, tzinfo=UTC), 1) == date(2026, 9, 23)


def test_working_days_between_counts_both_ways():
    assert CN_OFFICIAL.working_days_between(date(2026, 9, 24), date(2026, 10, 9)) == 5
    assert CN_OFFICIAL.working_days_between(date(2026, 10, 9), date(2026, 9, 24)) == -5


def test_a_year_without_a_table_counts_weekends_only_and_says_so(tmp_path: Path):
    assert CN_OFFICIAL.covers(date(2026, 12, 31))
    assert not CN_OFFICIAL.covers(date(2027, 1, 1))
    assert CN_OFFICIAL.is_working_day(date(2027, 1, 1))  # unknown yet: a Friday

    path = tmp_path / "2027.json"
    path.write_text(json.dumps({"holidays": ["2027-01-01"], "working_weekends": ["2027-01-02"]}))
    cal = CN_OFFICIAL.merged(WorkingDayCalendar.from_file(path))

    assert cal.covers(date(2027, 6, 1)) and cal.covers(date(2026, 6, 1))
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 2))
    assert not cal.is_working_day(date(2026, 10, 1))  # 2026 kept


def test_a_bad_holiday_file_names_the_bad_entry(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"holidays": ["2027-02-30"]}))
    with pytest.raises(ValueError, match="bad date '2027-02-30' in holidays"):
        WorkingDayCalendar.from_file(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        WorkingDayCalendar.from_file(path)
