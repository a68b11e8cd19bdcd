"""Per-step deadlines (受理, 审核, 决定, 出件): split from the promise, done as the case moves,
moved by a supplement request, and coloured day by day across National Day 2026 (1-7 October
off, Saturday 10 October a make-up working day), on the case page, in the queue's filter and
in the escalation job, on SQLite and on PostgreSQL 15."""

from __future__ import annotations

import re
from datetime import date, datetime, time

import pytest
from console_cases import KEY, PASSWORD, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.console import cases
from backend.console.deadlines import Colour
from backend.escalations import Escalations
from backend.models import Escalation, StaffAccount, StaffNotice
from backend.service import BackendService
from backend.staff import Actor, StaffDesk
from backend.step_deadlines import split
from backend.workdays import CN_OFFICIAL
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.messages import SERVICE_TZ
from cloud_bridge.contract.schema import examples

NO = "AH-T0001-20260928-0001"
SUBMITTED = datetime(2026, 9, 28, 10, 0, tzinfo=SERVICE_TZ)  # Monday, after 中秋 (25-27 Sep)

# Five working days promised from Monday 28 September: 29, 30 Sep, 8, 9 and 10 Oct (the make-up
# Saturday). The default split: accept 1, review 3, decide 4, result 5.
DUE = {
    "accept": date(2026, 9, 29),
    "review": date(2026, 10, 8),
    "decide": date(2026, 10, 9),
    "result": date(2026, 10, 10),
}
B, Y, R = Colour.BLUE, Colour.YELLOW, Colour.RED
HOLIDAY = {date(2026, 10, d) for d in range(1, 8)}

# Each step's colour on each day while nothing is done, worked out by hand from the rules:
# blue from 2 working days before its day, yellow 1 working day over, red 2 or more over; a
# holiday week passes no working day, and the make-up Saturday does.
EXPECTED: dict[date, dict[str, Colour | None]] = {
    date(2026, 9, 28): {"accept": B, "review": None, "decide": None, "result": None},
    date(2026, 9, 29): {"accept": B, "review": B, "decide": None, "result": None},
    date(2026, 9, 30): {"accept": Y, "review": B, "decide": B, "result": None},
    **{d: {"accept": Y, "review": B, "decide": B, "result": None} for d in HOLIDAY},
    date(2026, 10, 8): {"accept": R, "review": B, "decide": B, "result": B},
    date(2026, 10, 9): {"accept": R, "review": Y, "decide": B, "result": B},
    date(2026, 10, 10): {"accept": R, "review": R, "decide": Y, "result": B},
    date(2026, 10, 11): {"accept": R, "review": R, "decide": Y, "result": B},
    date(2026, 10, 12): {"accept": R, "review": R, "decide": R, "result": Y},
    date(2026, 10, 13): {"accept": R, "review": R, "decide": R, "result": R},
}


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    event = examples()["event.application_submitted"].model_copy(
        update={
            "message_id": m.new_message_id(),
            "application_no": NO,
            "operation_id": NO,
            "materials": [],
            "reused_materials": [],
            "submitted_at": SUBMITTED,
            "promised_days": 5,
        }
    )
    svc.ingest.handle_batch([(event.topic(), event.encode())])
    accounts = Accounts(svc.db)
    accounts.add("clerk.li", ["clerk"], password=PASSWORD, must_change_password=False)
    accounts.add("sup.ma", ["supervisor"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


class Clock:
    def __init__(self, day: date):
        self.now = datetime.combine(day, time(10), SERVICE_TZ)

    def __call__(self) -> datetime:
        return self.now

    def to(self, day: date) -> None:
        self.now = datetime.combine(day, time(10), SERVICE_TZ)


def desk_at(service, clock: Clock) -> StaffDesk:
    return StaffDesk(service.db, service, service.sms, service.settings, clock)


def clerk(service) -> Actor:
    with service.db.transaction() as session:
        staff = session.scalar(select(StaffAccount).where(StaffAccount.username == "clerk.li"))
        return Actor(staff.id, staff.username)


def steps_on(service, day: date) -> dict[str, dict]:
    with service.db.transaction() as session:
        c = cases.case(session, NO, calendar=CN_OFFICIAL, today=day)
    return {s["step"]: s for s in c["steps"]}


@pytest.mark.parametrize(
    ("days", "split_days"),
    [
        (1, (1, 1, 1, 1)),
        (3, (1, 2, 3, 3)),
        (5, (1, 3, 4, 5)),
        (15, (3, 8, 12, 15)),
        (20, (4, 10, 16, 20)),
    ],
)
def test_the_default_split_of_the_promised_days(days, split_days):
    assert tuple(split(days).values()) == split_days


def test_a_guide_s_step_days_are_kept_within_the_promise_and_in_order():
    assert split(10, {"accept": 1, "review": 4, "decide": 8}) == {
        "accept": 1,
        "review": 4,
        "decide": 8,
        "result": 10,
    }
    # A step before the one ahead of it, or past the promise, is held to them.
    assert split(5, {"accept": 3, "review": 2, "decide": 9}) == {
        "accept": 3,
        "review": 3,
        "decide": 5,
        "result": 5,
    }
    with pytest.raises(ValueError):
        split(0)


def test_a_step_the_catalog_leaves_out_takes_its_share_between_the_given_ones():
    assert split(30, {"review": 10}) == {"accept": 6, "review": 10, "decide": 24, "result": 30}
    # The default share of an earlier step never passes a given later one.
    assert split(10, {"decide": 3}) == {"accept": 2, "review": 3, "decide": 3, "result": 10}
    assert split(10, {"review": 1}) == {"accept": 1, "review": 1, "decide": 8, "result": 10}


def test_a_submission_gets_its_four_step_deadlines(service):
    steps = steps_on(service, date(2026, 9, 28))
    assert {k: v["due_on"] for k, v in steps.items()} == DUE
    assert [v["days"] for v in steps.values()] == [1, 3, 4, 5]
    assert all(v["done_at"] is None for v in steps.values())


@pytest.mark.parametrize("day", sorted(EXPECTED))
def test_each_step_s_colour_day_by_day_across_the_holiday(service, day):
    steps = steps_on(service, day)
    assert {k: v["colour"] for k, v in steps.items()} == EXPECTED[day]


def test_done_steps_lose_their_colour_and_the_case_shows_the_worst_open_one(service):
    clock = Clock(date(2026, 9, 30))
    desk = desk_at(service, clock)
    who = clerk(service)
    # 30 September: accept is a working day over (yellow), the whole promise not yet blue.
    with service.db.transaction() as session:
        c = cases.case(session, NO, calendar=CN_OFFICIAL, today=clock.now.date())
        assert c["colour"] == Colour.YELLOW
        rows = cases.queue(
            session, cases.QueueFilter(colour=Colour.YELLOW), CN_OFFICIAL, clock.now.date()
        )
        assert [r["application_no"] for r in rows] == [NO]
    desk.act(who, NO, "accept")
    steps = steps_on(service, clock.now.date())
    assert steps["accept"]["done_at"] is not None and steps["accept"]["colour"] is None
    assert steps["review"]["colour"] == Colour.BLUE
    with service.db.transaction() as session:
        day = clock.now.date()
        assert cases.case(session, NO, calendar=CN_OFFICIAL, today=day)["colour"] == B
        assert cases.queue(session, cases.QueueFilter(colour=Y), CN_OFFICIAL, day) == []
    # Approved on 9 October: the result step is the one still open, due the make-up Saturday.
    clock.to(date(2026, 10, 9))
    desk.act(who, NO, "review")
    desk.act(who, NO, "approve")
    steps = steps_on(service, date(2026, 10, 12))
    assert [k for k, v in steps.items() if v["done_at"] is None] == ["result"]
    assert steps["result"]["colour"] == Colour.YELLOW


def test_a_rejection_ends_every_step(service):
    clock = Clock(date(2026, 9, 29))
    desk = desk_at(service, clock)
    who = clerk(service)
    desk.act(who, NO, "accept")
    desk.act(who, NO, "reject", reason="not_eligible")
    steps = steps_on(service, date(2026, 10, 13))
    assert all(v["done_at"] is not None and v["colour"] is None for v in steps.values())


def test_a_supplement_request_stops_every_open_step_and_moves_it_later(service):
    clock = Clock(date(2026, 9, 29))
    desk = desk_at(service, clock)
    who = clerk(service)
    desk.act(who, NO, "accept")
    desk.act(
        who, NO, "request_supplement", reason="missing_material", materials=["household-register"]
    )
    # While the clock is stopped no step has a colour, however late the day.
    for day in (date(2026, 10, 9), date(2026, 10, 13)):
        assert {v["colour"] for v in steps_on(service, day).values()} == {None}
    clock.to(date(2026, 10, 9))
    desk.act(who, NO, "resume")
    # Stopped 30 Sep, 8 and 9 Oct (3 working days); accept was done before, it stays.
    steps = steps_on(service, date(2026, 10, 9))
    assert steps["accept"]["due_on"] == DUE["accept"]
    assert steps["review"]["done_at"] is not None  # resumed into review
    assert steps["decide"]["due_on"] == date(2026, 10, 13)  # 9 Oct + 10, 12, 13 Oct
    assert steps["result"]["due_on"] == date(2026, 10, 14)  # 10 Oct + 12, 13, 14 Oct


def test_the_case_page_shows_the_steps(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        page = client.get(f"/console/applications/{NO}").text
        table = re.search(r'data-testid="steps">(.*?)</table>', page, re.S).group(1)
        for step, zh in (("accept", "受理"), ("review", "审核"), ("decide", "决定")):
            row = re.search(rf'data-testid="step-{step}">(.*?)</tr>', table, re.S).group(1)
            assert zh in row and str(DUE[step]) in row
        # Submitted long ago in the machine's own calendar: every step is red today.
        assert table.count('data-testid="step-colour"') == 4 and "红色预警" in table


def test_escalation_names_the_step_once_per_step_and_level(service):
    job = Escalations(service.db, CN_OFFICIAL)
    # 30 September: accept is yellow; nobody holds the case, so the clerk is told.
    first = job.run(datetime(2026, 9, 30, 10, tzinfo=SERVICE_TZ))
    assert first.raised == 1
    assert job.run(datetime(2026, 9, 30, 11, tzinfo=SERVICE_TZ)).raised == 0
    with service.db.transaction() as session:
        row = session.scalars(select(Escalation)).one()
        assert (row.colour, row.cause, row.step, row.level) == ("yellow", "step", "accept", "clerk")
        notice = session.scalars(select(StaffNotice)).one()
        assert (notice.step, notice.colour) == ("accept", "yellow")
    # Accepted on 8 October (accept was red by then, the review step blue).
    clock = Clock(date(2026, 10, 8))
    desk_at(service, clock).act(clerk(service), NO, "accept")
    later = job.run(datetime(2026, 10, 8, 12, tzinfo=SERVICE_TZ))
    assert later.resolved == 1 and later.raised == 1
    with service.db.transaction() as session:
        open_ = session.scalars(select(Escalation).where(Escalation.resolved_at.is_(None))).one()
        assert (open_.colour, open_.step) == ("blue", "review")
