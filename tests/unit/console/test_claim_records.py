"""Every change of a case's holder leaves a StaffAction row naming who made it, the holder after
it and the one before, through the API and the console, on SQLite and on PostgreSQL 15."""

from __future__ import annotations

import re

import pytest
from console_cases import KEY, PASSWORD, sign_in, submit
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import StaffAccount, StaffAction
from backend.service import BackendService

NO, OTHER = "AH-T0001-20261120-0001", "AH-T0001-20261120-0002"


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO)
    submit(svc, OTHER)
    accounts = Accounts(svc.db)
    for name, roles in (("clerk.li", ["clerk"]), ("clerk.wang", ["clerk"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def app(service):
    return create_app(service)


def _trail(service, no: str) -> list[tuple[str, str, str | None, str | None]]:
    """(action, by, holder after, holder before) of each change of the case's holder."""
    with service.db.reading() as session:
        rows = session.execute(
            select(StaffAction, StaffAccount.username)
            .join(StaffAccount, StaffAccount.id == StaffAction.staff_id)
            .where(
                StaffAction.application_no == no,
                StaffAction.action.in_(("claim", "release", "assign")),
            )
            .order_by(StaffAction.at)
        )
        return [(a.action, by, a.outcome["holder"], a.outcome["previous_holder"]) for a, by in rows]


def test_claims_assignments_and_releases_through_the_api_leave_who_and_from_whom(app, service):
    tokens = {}
    for name, roles in (("api.li", ["clerk"]), ("api.wang", ["clerk"]), ("api.ma", ["supervisor"])):
        _, tokens[name] = account_with_token(service.db, name, roles)
    li, wang, ma = (
        TestClient(app, headers=bearer(tokens[n])) for n in ("api.li", "api.wang", "api.ma")
    )
    with li, wang, ma:
        assert li.post(f"/api/applications/{NO}/claim").status_code == 200
        assert li.post(f"/api/applications/{NO}/claim").status_code == 200  # holds it already
        assert wang.post(f"/api/applications/{NO}/claim").status_code == 409  # refused: no row
        assign = ma.post(f"/api/applications/{NO}/assign", json={"username": "api.wang"})
        assert assign.status_code == 200
        assert ma.post(f"/api/applications/{NO}/release").status_code == 200
        assert ma.post(f"/api/applications/{NO}/release").status_code == 200  # nothing held
        assert ma.post(f"/api/applications/{NO}/assign", json={"username": "api.li"}).is_success
        assert li.post(f"/api/applications/{NO}/release").status_code == 200
        # A review step on an unclaimed case claims it: that claim is recorded too.
        assert wang.post(f"/api/applications/{OTHER}/accept", json={}).status_code == 200
    assert _trail(service, NO) == [
        ("claim", "api.li", "api.li", None),
        ("assign", "api.ma", "api.wang", "api.li"),
        ("release", "api.ma", None, "api.wang"),
        ("assign", "api.ma", "api.li", None),
        ("release", "api.li", None, "api.li"),
    ]
    assert _trail(service, OTHER) == [("claim", "api.wang", "api.wang", None)]


def test_claims_and_releases_from_the_console_are_recorded_too(app, service):
    with TestClient(app) as li, TestClient(app) as wang:
        sign_in(li, "clerk.li")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', li.get("/console/queue").text)
        data = {"csrf_token": csrf.group(1)}
        assert li.post(f"/console/applications/{NO}/claim", data=data).status_code == 200
        sign_in(wang, "clerk.wang")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', wang.get("/console/queue").text)
        refused = wang.post(
            f"/console/applications/{NO}/release", data={"csrf_token": csrf.group(1)}
        )
        assert refused.status_code == 403
        assert li.post(f"/console/applications/{NO}/release", data=data).status_code == 200
    assert _trail(service, NO) == [
        ("claim", "clerk.li", "clerk.li", None),
        ("release", "clerk.li", None, "clerk.li"),
    ]
