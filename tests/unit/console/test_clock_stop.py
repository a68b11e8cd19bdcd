"""A supplement request stops the deadline's clock until the material arrives, counted day by
day across National Day 2026 (1-7 October off, Saturday 10 October a make-up working day)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from console_cases import KEY, PASSWORD, submit

from backend.auth.accounts import Accounts
from backend.console.deadlines import Colour, colour_of
from backend.models import ApplicationPromise
from backend.service import BackendService
from backend.staff import Actor, StaffDesk
from backend.workdays import CN_OFFICIAL
from cloud_bridge.contract.messages import SERVICE_TZ

PROMISED = date(2026, 9, 29)  # Tuesday
REQUESTED = date(2026, 9, 25)  # Friday: the clerk asks for a supplement
WANTED = ["household-register"]

# The day the material arrives -> working days not counted, and the promised day it makes.
# Working days stopped are those after the request up to and including the arrival.
ARRIVAL = {
    date(2026, 9, 25): (0, date(2026, 9, 29)),  # same day: nothing stopped
    date(2026, 9, 26): (0, date(2026, 9, 29)),  # Saturday
    date(2026, 9, 27): (0, date(2026, 9, 29)),  # Sunday (not a make-up day in 2026)
    date(2026, 9, 28): (1, date(2026, 9, 30)),
    date(2026, 9, 29): (2, date(2026, 10, 8)),  # over the holiday week
    date(2026, 9, 30): (3, date(2026, 10, 9)),
    **{date(2026, 10, d): (3, date(2026, 10, 9)) for d in range(1, 8)},  # holiday: none
    date(2026, 10, 8): (4, date(2026, 10, 10)),  # lands on the make-up Saturday
    date(2026, 10, 9): (5, date(2026, 10, 12)),
    date(2026, 10, 10): (6, date(2026, 10, 13)),  # the make-up Saturday counts as stopped
    date(2026, 10, 11): (6, date(2026, 10, 13)),  # Sunday
    date(2026, 10, 12): (7, date(2026, 10, 14)),
}


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), SERVICE_TZ)


class Clock:
    def __init__(self):
        self.now = at(date(2026, 9, 24))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    yield svc
    svc.stop()


@pytest.fixture
def clerk(service):
    staff, _ = Accounts(service.db).add(
        "clerk.li", ["clerk"], password=PASSWORD, must_change_password=False
    )
    return Actor(staff.id, staff.username)


def promise(service, no) -> ApplicationPromise:
    with service.db.transaction() as session:
        row = session.get(ApplicationPromise, no)
        session.expunge(row)
        return row


def open_case(service, no: str) -> None:
    submit(service, no)
    with service.db.transaction() as session:
        row = session.get(ApplicationPromise, no)
        row.promised_by = PROMISED


@pytest.mark.parametrize("arrival", sorted(ARRIVAL))
def test_the_days_a_supplement_was_pending_move_the_promise(service, clerk, arrival):
    no = f"AH-T0001-20260922-{arrival.toordinal() % 10000:04d}"
    open_case(service, no)
    clock = Clock()
    desk = StaffDesk(service.db, service, service.sms, service.settings, clock)
    desk.act(clerk, no, "accept")
    clock.now = at(REQUESTED)
    desk.act(clerk, no, "request_supplement", reason="missing_material", materials=WANTED)
    assert promise(service, no).paused_on == REQUESTED
    clock.now = at(arrival, 16)
    desk.act(clerk, no, "resume")  # what a material's arrival does too (Workflow.restart_clock)
    stopped, promised = ARRIVAL[arrival]
    row = promise(service, no)
    assert (row.paused_days, row.promised_by, row.paused_on) == (stopped, promised, None)
    assert CN_OFFICIAL.is_working_day(row.promised_by)


def test_no_colour_while_the_clock_is_stopped_and_the_new_promise_colours_after(service, clerk):
    no = "AH-T0001-20260922-0001"
    open_case(service, no)
    clock = Clock()
    desk = StaffDesk(service.db, service, service.sms, service.settings, clock)
    desk.act(clerk, no, "accept")
    clock.now = at(REQUESTED)
    desk.act(clerk, no, "request_supplement", reason="unclear_scan", materials=WANTED)
    # Paused from 25 September to 8 October: the old promise (29 September) would be red.
    for n in range((date(2026, 10, 8) - REQUESTED).days):
        day = REQUESTED + timedelta(days=n)
        assert colour_of(CN_OFFICIAL, PROMISED, "supplement_requested", day) is None
    assert colour_of(CN_OFFICIAL, PROMISED, "under_review", date(2026, 10, 8)) == Colour.RED
    clock.now = at(date(2026, 10, 8))
    desk.act(clerk, no, "resume")
    promised = promise(service, no).promised_by
    assert promised == date(2026, 10, 10)
    expected = {
        date(2026, 10, 8): Colour.BLUE,  # two working days to go (9, 10)
        date(2026, 10, 9): Colour.BLUE,
        date(2026, 10, 10): Colour.BLUE,  # the make-up Saturday is the promised day
        date(2026, 10, 11): Colour.BLUE,  # Sunday: no working day past it yet
        date(2026, 10, 12): Colour.YELLOW,
        date(2026, 10, 13): Colour.RED,
    }
    for day, colour in expected.items():
        assert colour_of(CN_OFFICIAL, promised, "under_review", day) == colour, day


def test_a_second_request_stops_the_clock_again_and_adds_up(service, clerk):
    no = "AH-T0001-20260922-0002"
    open_case(service, no)
    clock = Clock()
    desk = StaffDesk(service.db, service, service.sms, service.settings, clock)
    desk.act(clerk, no, "accept")
    for asked, back in (
        (date(2026, 9, 25), date(2026, 9, 28)),
        (date(2026, 9, 29), date(2026, 10, 8)),
    ):
        clock.now = at(asked)
        desk.act(clerk, no, "request_supplement", reason="missing_material", materials=WANTED)
        clock.now = at(back)
        desk.act(clerk, no, "resume")
    row = promise(service, no)
    # 28 Sep (1), then 30 Sep and 8 Oct (2): 29 Sep + 3 working days = 9 Oct.
    assert (row.paused_days, row.promised_by) == (3, date(2026, 10, 9))
