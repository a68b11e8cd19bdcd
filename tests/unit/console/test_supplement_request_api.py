"""The JSON API's request-supplement: signed in with the role, the wanted materials named from
the item's list (at most 20), anything else refused with 422 and nothing changed."""

from __future__ import annotations

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in, submit
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.guard import CSRF_HEADER
from backend.service import BackendService

NO = "AH-T0001-20261120-0001"  # item HJ-0101: ID card copy, household register
URL = f"/api/applications/{NO}/request-supplement"
BODY = {"reason": "unclear_scan", "materials": ["id-card-copy"]}


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO)
    accounts = Accounts(svc.db)
    accounts.add("clerk.li", ["clerk"], password=PASSWORD, must_change_password=False)
    accounts.add("op.wang", ["operator"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


def test_without_sign_in_or_the_role_the_request_is_refused(service):
    with TestClient(create_app(service)) as client:
        assert client.post(URL, json=BODY).status_code == 401
        sign_in(client, "op.wang")  # an operator does not act on applications
        csrf = {CSRF_HEADER: csrf_of(client.get("/console/fleet").text)}
        assert client.post(URL, json=BODY, headers=csrf).status_code == 403


def test_the_api_takes_the_materials_and_refuses_others(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        csrf = {CSRF_HEADER: csrf_of(client.get(f"/console/applications/{NO}").text)}
        assert client.post(f"/api/applications/{NO}/accept", headers=csrf).status_code == 200
        for bad in (
            {"reason": "unclear_scan"},  # no material named
            {"reason": "unclear_scan", "materials": ["marriage-certificate"]},  # not HJ-0101's
            {"reason": "unclear_scan", "materials": ["x"] * 21},
            {"reason": "unclear_scan", "materials": ["a/b"]},
            {"materials": ["id-card-copy"]},  # no reason from the fixed list
        ):
            assert client.post(URL, json=bad, headers=csrf).status_code == 422, bad
        assert client.get(f"/api/applications/{NO}").json()["status"] == "accepted"
        r = client.post(URL, json=BODY, headers=csrf)
        assert r.status_code == 200 and r.json()["outcome"]["materials"] == ["id-card-copy"]
        detail = client.get(f"/api/applications/{NO}").json()
        assert detail["status"] == "supplement_requested"
        assert [(x["material_code"], x["reason"]) for x in detail["requested"]] == [
            ("id-card-copy", "unclear_scan")
        ]
        assert [x["step"] for x in detail["steps"]] == ["accept", "review", "decide", "result"]
