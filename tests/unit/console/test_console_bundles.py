"""The console's bundle page: each terminal's answer in its own words, rollback for operators."""

from __future__ import annotations

import copy
import tomllib

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.catalog_bundles import ConfigBundles
from backend.models import CommandRow, utcnow
from backend.service import BackendService
from cloud_bridge.contract.catalog import BUILTIN_PATH

WORDS = "rolled back to dc-1: catalog: GS-0307 needs a size L compartment, the largest is M"


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    accounts = Accounts(svc.db)
    for name, roles in (("op.zhao", ["operator"]), ("clerk.li", ["clerk"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    doc = copy.deepcopy(tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8")))
    doc["version"] = "dc-2"
    ConfigBundles(svc.db, svc).push(doc, ["T0001"], by="op.zhao", note="L results")
    with svc.db.transaction() as session:  # the terminal's answer, as ingest records it
        row = session.scalars(select(CommandRow)).one()
        row.status, row.detail, row.finished_at = "failed", WORDS, utcnow()
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def test_the_operator_reads_why_a_bundle_was_rolled_back_and_rolls_back_with_a_reason(
    client, service
):
    assert client.get("/console/fleet/bundles", follow_redirects=False).status_code in (303, 401)
    sign_in(client, "op.zhao")
    page = client.get("/console/fleet/bundles")
    assert page.status_code == 200
    table = page.text.split('data-testid="bundles"', 1)[1]
    assert WORDS in table and "dc-2" in table and "被拒绝或已回退" in table
    assert 'data-testid="running">dc-1<' in table and "op.zhao" in table
    csrf = csrf_of(page.text)

    r = client.post("/console/fleet/bundles/rollback", data={"terminal_id": "T0001", "reason": ""})
    assert r.status_code == 403  # no CSRF token
    r = client.post(
        "/console/fleet/bundles/rollback",
        data={"terminal_id": "T0001", "reason": " ", "csrf_token": csrf},
    )
    assert r.status_code == 422 and "请填写回退原因" in r.text
    r = client.post(
        "/console/fleet/bundles/rollback",
        data={"terminal_id": "T9999", "reason": "x", "csrf_token": csrf},
    )
    assert r.status_code == 404 and "没有终端 T9999" in r.text
    r = client.post(
        "/console/fleet/bundles/rollback",
        data={"terminal_id": "T0001", "reason": "fee wrong", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "回退指令已发送" in page.text and "fee wrong" in page.text
    with service.db.transaction() as session:
        kinds = session.scalars(select(CommandRow.type).order_by(CommandRow.created_at)).all()
    assert kinds == ["command.apply_config_bundle", "command.rollback_config_bundle"]


def test_a_clerk_may_not_see_the_bundles_and_an_english_page_has_every_word(client):
    sign_in(client, "clerk.li")
    assert client.get("/console/fleet/bundles").status_code == 403
    client.cookies.clear()
    sign_in(client, "op.zhao")
    page = client.get("/console/fleet/bundles?lang=en")
    assert "Refused or rolled back" in page.text and "Roll a terminal back" in page.text
