"""Claiming and assignment, escalation to the clerk then the supervisor, staff notices, the
statistics dashboard and the follow-up of low ratings, over the real app (TestClient), on SQLite
and on PostgreSQL 15."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import pytest
from console_cases import KEY, PASSWORD, promise_by, submit
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.console import statistics
from backend.escalations import Escalations, EscalationSettings
from backend.models import (
    Escalation,
    MaterialSupplement,
    StaffAccount,
    StaffNotice,
)
from backend.service import BackendService
from backend.workdays import CN_OFFICIAL
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.messages import SERVICE_TZ
from cloud_bridge.contract.schema import examples

NO, OTHER = "AH-T0001-20261120-0001", "AH-T0002-20261120-0001"


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    for terminal in ("T0001", "T0002"):
        svc.register_terminal(terminal, KEY)
    submit(svc, NO)
    submit(svc, OTHER, terminal="T0002", item="SB-0201")
    accounts = Accounts(svc.db)
    for name, roles in (
        ("clerk.li", ["clerk"]),
        ("clerk.wang", ["clerk"]),
        ("sup.ma", ["supervisor"]),
        ("admin.qi", ["admin"]),
        ("gone.he", ["clerk"]),
    ):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    accounts.disable("gone.he")
    yield svc
    svc.stop()


@pytest.fixture
def app(service):
    return create_app(service)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str) -> str:
    form = client.get("/console/login").text
    client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _csrf(form)},
    )
    return _csrf(client.get("/console/queue").text)


def act(client: TestClient, no: str, action: str, **extra):
    page = client.get(f"/console/applications/{no}").text
    block = re.search(
        rf'<form[^>]*/act"[^>]*>(?:(?!</form>).)*value="{action}"(?:(?!</form>).)*</form>',
        page,
        re.S,
    ).group(0)
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', block))
    return client.post(f"/console/applications/{no}/act", data=fields | extra)


def set_promise(service, no: str, by: date) -> None:
    # Every step due that day too, but the result (loading it is not this test's matter).
    promise_by(service, no, by, result=date(2026, 12, 31))


# ------------------------------------------------------------------ claiming


def test_a_claimed_case_is_acted_on_by_its_holder_only(app):
    with TestClient(app) as li, TestClient(app) as wang:
        li_csrf, wang_csrf = sign_in(li, "clerk.li"), sign_in(wang, "clerk.wang")
        claimed = li.post(f"/console/applications/{NO}/claim", data={"csrf_token": li_csrf})
        assert claimed.status_code == 200 and 'data-testid="holder"' in claimed.text
        assert "clerk.li" in li.get("/console/queue", params={"holder": "mine"}).text
        assert NO not in wang.get("/console/queue", params={"holder": "mine"}).text
        assert NO not in wang.get("/console/queue", params={"holder": "unclaimed"}).text

        taken = wang.post(f"/console/applications/{NO}/claim", data={"csrf_token": wang_csrf})
        assert taken.status_code == 409 and "此申请已由 clerk.li 办理" in taken.text
        refused = act(wang, NO, "accept")
        assert refused.status_code == 409 and "clerk.li 办理" in refused.text
        assert act(li, NO, "accept").status_code == 200  # done, the page again

        not_mine = wang.post(f"/console/applications/{NO}/release", data={"csrf_token": wang_csrf})
        assert not_mine.status_code == 403
        li.post(f"/console/applications/{NO}/release", data={"csrf_token": li_csrf})
        assert NO in wang.get("/console/queue", params={"holder": "unclaimed"}).text


def test_acting_on_an_unclaimed_case_claims_it_and_the_api_says_who_holds_it(app):
    with TestClient(app) as li, TestClient(app) as wang:
        sign_in(li, "clerk.li")
        token = sign_in(wang, "clerk.wang")  # the session's CSRF token serves the API too
        assert act(li, OTHER, "accept").status_code == 200
        row = wang.get("/console/queue", params={"holder": "unclaimed"}).text
        assert OTHER not in row
        api = wang.post(
            f"/api/applications/{OTHER}/review",
            json={"idempotency_key": "review-by-wang-1"},
            headers={"X-CSRF-Token": token},
        )
        assert api.status_code == 409 and "claimed by clerk.li" in api.json()["detail"]


def test_loading_the_result_of_anyones_case_stays_open_to_every_clerk(app, service):
    with TestClient(app) as li, TestClient(app) as wang:
        sign_in(li, "clerk.li")
        sign_in(wang, "clerk.wang")
        for step in ("accept", "review", "approve"):
            assert act(li, NO, step).status_code == 200
        page = wang.get(f"/console/applications/{NO}").text
        block = re.search(
            r'<form[^>]*/act"[^>]*>(?:(?!</form>).)*load_result.*?</form>', page, re.S
        )
        fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', block.group(0)))
        loaded = wang.post(
            f"/console/applications/{NO}/act", data=fields | {"terminal_id": "T0001"}
        )
        assert loaded.status_code == 200 and 'data-testid="done"' in loaded.text
        assert "clerk.li" in loaded.text  # li still holds the case


def test_a_supervisor_assigns_and_takes_back_a_clerk_may_not(app):
    with TestClient(app) as li, TestClient(app) as ma:
        li_csrf, ma_csrf = sign_in(li, "clerk.li"), sign_in(ma, "sup.ma")
        li.post(f"/console/applications/{NO}/claim", data={"csrf_token": li_csrf})
        by_clerk = li.post(
            f"/console/applications/{NO}/assign",
            data={"csrf_token": li_csrf, "username": "clerk.wang"},
        )
        assert by_clerk.status_code == 403
        for nobody in ("gone.he", "admin.qi", "no.such"):
            bad = ma.post(
                f"/console/applications/{NO}/assign",
                data={"csrf_token": ma_csrf, "username": nobody},
            )
            assert bad.status_code == 422, nobody
        moved = ma.post(
            f"/console/applications/{NO}/assign",
            data={"csrf_token": ma_csrf, "username": "clerk.wang"},
        )
        assert moved.status_code == 200 and "由 sup.ma 指派" in moved.text
        assert act(li, NO, "accept").status_code == 409  # no longer li's
        no_csrf = ma.post(f"/console/applications/{NO}/release", data={})
        assert no_csrf.status_code in (403, 422)
        ma.post(f"/console/applications/{NO}/release", data={"csrf_token": ma_csrf})
        assert "尚无人认领" in ma.get(f"/console/applications/{NO}").text


# ------------------------------------------------------------------ escalation


def _staff_id(service, username: str) -> int:
    with service.db.transaction() as session:
        return session.scalar(select(StaffAccount.id).where(StaffAccount.username == username))


def _notices(service, username: str) -> list[tuple[str, str, str]]:
    with service.db.transaction() as session:
        return [
            (n.kind, n.application_no, n.colour)
            for n in session.scalars(
                select(StaffNotice)
                .where(StaffNotice.staff_id == _staff_id(service, username))
                .order_by(StaffNotice.id)
            )
        ]


def test_escalation_tells_the_clerk_then_the_supervisor_when_nothing_happens(app, service):
    job = Escalations(service.db, CN_OFFICIAL, EscalationSettings(timedelta(hours=4)))
    # Monday 7 December 2026, 10:00 in Beijing: NO was promised for Thursday 3 December
    # (2 working days over: red); OTHER for Friday 4 December (1 over: yellow).
    set_promise(service, NO, date(2026, 12, 3))
    set_promise(service, OTHER, date(2026, 12, 4))
    with TestClient(app) as li:
        sign_in(li, "clerk.li")
        li.post(
            f"/console/applications/{NO}/claim",
            data={"csrf_token": _csrf(li.get("/console/queue").text)},
        )
    now = datetime(2026, 12, 7, 10, 0, tzinfo=SERVICE_TZ)
    first = job.run(now)
    assert (first.raised, first.to_supervisor) == (2, 0)
    assert sorted(_notices(service, "clerk.li")) == [
        ("escalation.clerk", NO, "red"),
        ("escalation.clerk", OTHER, "yellow"),  # unclaimed: every clerk is told
    ]
    assert _notices(service, "clerk.wang") == [("escalation.clerk", OTHER, "yellow")]
    assert _notices(service, "sup.ma") == [] and _notices(service, "gone.he") == []
    assert job.run(now + timedelta(hours=1)).raised == 0  # once per colour

    # Someone acts on OTHER within the 4 hours (at 11:00 that Monday); nobody touches NO.
    service.desk.clock = lambda: now + timedelta(hours=1)
    with TestClient(app) as wang:
        sign_in(wang, "clerk.wang")
        act(wang, OTHER, "accept")
    later = job.run(now + timedelta(hours=4, minutes=1))
    assert later.to_supervisor == 1
    assert _notices(service, "sup.ma") == [("escalation.supervisor", NO, "red")]

    with TestClient(app) as ma:
        sign_in(ma, "sup.ma")
        board = ma.get("/console/escalations")
        assert board.status_code == 200
        supervisor_rows = re.findall(r'data-testid="escalation-supervisor">(.*?)</tr>', board.text)
        assert (
            len(supervisor_rows) == 1
            and NO in supervisor_rows[0]
            and "clerk.li" in supervisor_rows[0]
        )
        assert 'data-testid="unread">1<' in board.text
        notices = ma.get("/console/notices").text
        assert "预警后无人办理" in notices and NO in notices
        ma.post("/console/notices/read", data={"csrf_token": _csrf(notices)})
        assert 'data-testid="unread"' not in ma.get("/console/notices").text

    with TestClient(app) as li:
        sign_in(li, "clerk.li")
        assert li.get("/console/escalations").status_code == 403  # supervisors only

    # A decision ends the colour: the escalations on the case are resolved.
    with TestClient(app) as li:
        sign_in(li, "clerk.li")
        act(li, NO, "accept")
        act(li, NO, "review")
        act(li, NO, "approve")
    done = job.run(now + timedelta(hours=5))
    assert done.resolved == 2
    with service.db.transaction() as session:
        left = session.scalars(
            select(Escalation.application_no).where(Escalation.resolved_at.is_(None))
        )
        assert list(left) == [OTHER]


def test_an_overdue_owed_material_colours_the_case_and_escalates(app, service):
    promise_by(service, NO, date(2026, 12, 31))
    with service.db.transaction() as session:
        session.add(
            MaterialSupplement(
                application_no=NO,
                material_code="household-register",
                reason="tolerated",
                working_days=5,
                due_on=date(2026, 12, 3),
            )
        )
    result = Escalations(service.db, CN_OFFICIAL).run(datetime(2026, 12, 7, 10, tzinfo=SERVICE_TZ))
    assert result.raised >= 1
    with service.db.transaction() as session:
        row = session.scalar(select(Escalation).where(Escalation.application_no == NO))
        assert (row.colour, row.cause, row.level) == ("red", "owed", "clerk")


def test_the_case_page_shows_the_owed_due_day_its_arrival_and_the_calendar_warning(app, service):
    promise_by(service, NO, date(2027, 1, 12))  # no 2027 table
    promise_by(service, OTHER, date(2027, 1, 12))
    with service.db.transaction() as session:
        session.add_all(
            [
                MaterialSupplement(
                    application_no=NO,
                    material_code="photo",
                    reason="tolerated",
                    working_days=5,
                    due_on=date(2026, 11, 2),
                ),
                MaterialSupplement(
                    application_no=NO,
                    material_code="form",
                    reason="tolerated",
                    working_days=5,
                    due_on=date(2026, 11, 2),
                    supplied_at=datetime(2026, 11, 1, 3, tzinfo=SERVICE_TZ),
                ),
            ]
        )
    with TestClient(app) as li:
        sign_in(li, "clerk.li")
        page = li.get(f"/console/applications/{NO}").text
        assert "2027 年的节假日安排尚未载入" in page
        photo = re.search(r'data-testid="owed-photo">(.*?)</li>', page, re.S).group(1)
        assert "2026-11-02" in photo and "逾期 2 个工作日以上" in photo
        form = re.search(r'data-testid="owed-form">(.*?)</li>', page, re.S).group(1)
        assert 'data-testid="arrived"' in form
        assert 'data-testid="case-colour">红' in page
        assert 'data-testid="beyond-calendar"' in li.get("/console/queue").text
        # Red by its owed material alone (its promised day is far off), in the filter too.
        red = li.get("/console/queue", params={"colour": "red"}).text
        assert NO in red and OTHER not in red
        assert NO not in li.get("/console/queue", params={"colour": "blue"}).text


# ------------------------------------------------------------------ statistics


def _rate(service, no: str, score: int, terminal: str = "T0001") -> None:
    base = examples()["event.service_rated"]
    msg = base.model_copy(
        update={
            "message_id": m.new_message_id(),
            "application_no": no,
            "operation_id": f"{no}#rating",
            "terminal_id": terminal,
            "score": score,
            "rated_at": datetime.now(SERVICE_TZ),
        }
    )
    service.ingest.handle_batch([(msg.topic(), msg.encode())])


def test_the_dashboard_counts_submissions_processing_and_ratings(app, service):
    today = datetime.now(SERVICE_TZ).date()
    with TestClient(app) as li:
        sign_in(li, "clerk.li")
        assert li.get("/console/statistics").status_code == 403  # clerks do not see it
        for action in ("accept", "review", "approve"):
            act(li, NO, action)
    _rate(service, NO, 5)
    _rate(service, OTHER, 1, "T0002")
    with service.db.transaction() as session:
        figures = statistics.figures(session, CN_OFFICIAL, today, 400)
    # The example submissions are from 20 November 2026 21:30 UTC: Saturday 05:30 in Beijing.
    assert figures["total"] == 2 and figures["after_hours"] == 2
    assert dict(figures["per_terminal"]) == {"T0001": 1, "T0002": 1}
    assert dict(figures["per_hour"])[5] == 2
    assert figures["processing"]["decided"] == 1
    assert dict(figures["ratings"]["levels"]) == {5: 1, 4: 0, 3: 0, 2: 0, 1: 1}
    assert figures["ratings"]["low_open"] == 1
    with TestClient(app) as ma:
        sign_in(ma, "sup.ma")
        page = ma.get("/console/statistics", params={"days": 400})
        assert page.status_code == 200
        data = re.search(r'id="chart-data">(.*?)</script>', page.text, re.S).group(1)
        charts = json.loads(data)
        assert charts["per_terminal"]["x"] == ["T0001", "T0002"]
        assert charts["ratings"]["x"][-1] == "非常不满意"
        assert charts["ratings"]["series"][0]["data"] == [1, 0, 0, 0, 1]
        for chart in ("per_day", "per_hour", "per_terminal", "per_item", "processing", "ratings"):
            assert f'data-chart="{chart}"' in page.text
        assert "/console/static/echarts-6.1.0.min.js" in page.text
        asset = ma.get("/console/static/echarts-6.1.0.min.js")
        assert asset.status_code == 200 and len(asset.content) > 500_000
        short = ma.post(
            f"/console/ratings/{OTHER}/close", data={"csrf_token": _csrf(page.text), "note": ""}
        )
        assert short.status_code == 422
        not_low = ma.post(
            f"/console/ratings/{NO}/close",
            data={"csrf_token": _csrf(page.text), "note": "called back"},
        )
        assert not_low.status_code == 404
        closed = ma.post(
            f"/console/ratings/{OTHER}/close",
            data={"csrf_token": _csrf(page.text), "note": "回访：已改进引导"},
        )
        assert closed.status_code == 200 and 'data-testid="closed"' in closed.text
        assert "已改进引导" in closed.text


def test_percentiles_are_nearest_rank():
    assert statistics.percentile([], 0.5) is None
    assert statistics.percentile([4, 1, 3, 2], 0.5) == 2
    assert statistics.percentile(list(range(1, 11)), 0.9) == 9
    assert statistics.percentile([7], 0.9) == 7


# ------------------------------------------------------------------ claims over the JSON API


def test_the_api_claims_releases_and_assigns_with_the_same_rules(app, service):
    tokens = {}
    for name, roles in (("api.li", ["clerk"]), ("api.wang", ["clerk"]), ("api.ma", ["supervisor"])):
        _, tokens[name] = account_with_token(service.db, name, roles)
    li, wang, ma = (
        TestClient(app, headers=bearer(tokens[n])) for n in ("api.li", "api.wang", "api.ma")
    )
    with li, wang, ma:
        assert li.get(f"/api/applications/{NO}/holder").json() == {"holder": None}
        assert li.post(f"/api/applications/{NO}/claim").json()["holder"] == "api.li"
        taken = wang.post(f"/api/applications/{NO}/claim")
        assert taken.status_code == 409 and "claimed by api.li" in taken.json()["detail"]
        assert wang.post(f"/api/applications/{NO}/release").status_code == 403
        by_clerk = wang.post(f"/api/applications/{NO}/assign", json={"username": "api.wang"})
        assert by_clerk.status_code == 403
        for body in ({"username": "gone.he"}, {"username": "X Y"}, {"username": "a", "x": 1}):
            assert ma.post(f"/api/applications/{NO}/assign", json=body).status_code == 422
        moved = ma.post(f"/api/applications/{NO}/assign", json={"username": "api.wang"})
        assert moved.json() == wang.get(f"/api/applications/{NO}/holder").json()
        assert moved.json()["holder"] == "api.wang" and moved.json()["assigned_by"] == "api.ma"
        assert li.post(f"/api/applications/{NO}/accept", json={}).status_code == 409
        assert wang.post(f"/api/applications/{NO}/accept", json={}).status_code == 200
        assert ma.post(f"/api/applications/{NO}/release").json() == {"holder": None}
        assert li.post("/api/applications/AH-NONE/claim").status_code == 404
    with TestClient(app) as stranger:
        assert stranger.post(f"/api/applications/{NO}/claim").status_code == 401
