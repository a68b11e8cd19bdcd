"""Citizens an SMS did not reach show up for staff to call, masked, to the roles that follow up."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from console_cases import KEY, PASSWORD, submit
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.models import utcnow
from backend.notifications.models import NotificationRow
from backend.notifications.models import NotificationState as S
from backend.service import BackendService

NO = "AH-T0001-20261120-0001"
PHONE = "13800138000"


@pytest.fixture
def client(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO)
    accounts = Accounts(svc.db)
    for name, roles in (("clerk.li", ["clerk"]), ("op.zhao", ["operator"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    with svc.db.transaction() as session:
        for n, (state, error, age) in enumerate(
            [
                (S.DEAD, "isv.MOBILE_NUMBER_ILLEGAL", timedelta(0)),  # not a mobile number
                (S.QUEUED, "provider down", timedelta(hours=1)),  # waiting far too long
                (S.ACCEPTED, "", timedelta(0)),  # went out: nobody needs calling
            ]
        ):
            session.add(
                NotificationRow(
                    out_id=f"OUT{n:08d}",
                    application_no=NO,
                    kind="accepted",
                    phone=PHONE,
                    params={"no": NO},
                    state=state,
                    last_error=error,
                    next_attempt_at=utcnow(),
                    created_at=utcnow() - age,
                )
            )
    with TestClient(create_app(svc)) as c:
        yield c
    svc.stop()


def _sign_in(client: TestClient, username: str) -> None:
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_a_clerk_sees_whom_to_call_masked_with_a_link_to_the_case(client):
    _sign_in(client, "clerk.li")
    page = client.get("/console/to-call")

    assert page.status_code == 200
    table = page.text.split('data-testid="to-call"', 1)[1]
    assert table.count("<tr>") == 1 + 2  # header, the dead one and the overdue one
    assert "isv.MOBILE_NUMBER_ILLEGAL" in table and "provider down" in table
    assert f"/console/applications/{NO}" in table
    assert "138****8000" in table and PHONE not in page.text
    assert client.get("/api/notifications/attention").status_code == 200


def test_an_operator_and_a_stranger_are_refused(client):
    assert client.get("/console/to-call", follow_redirects=False).status_code in (303, 401)
    assert client.get("/api/notifications/attention").status_code == 401
    _sign_in(client, "op.zhao")
    assert client.get("/console/to-call").status_code == 403
    assert client.get("/api/notifications/attention").status_code == 403
