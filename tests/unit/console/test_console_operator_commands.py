"""The console's command page of one terminal: operators send with a reason, everyone with
fleet.read follows the answers; refusals say why and send nothing."""

from __future__ import annotations

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.models import CommandRow, utcnow
from backend.service import BackendService

PAGE = "/console/fleet/terminals/T0001/commands"


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    accounts = Accounts(svc.db)
    for name, roles in (("op.zhao", ["operator"]), ("sup.qian", ["supervisor"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def _rows(service) -> list[CommandRow]:
    with service.db.transaction() as s:
        return list(s.scalars(select(CommandRow)))


def test_an_operator_sends_a_command_and_reads_the_terminals_answer(client, service):
    sign_in(client, "op.zhao")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'data-testid="command-form"' in page.text
    csrf = csrf_of(page.text)
    r = client.post(PAGE, data={"command": "fetch_diagnostics", "reason": "x"})
    assert r.status_code == 403 and _rows(service) == []  # no CSRF token
    r = client.post(PAGE, data={"command": "restart_kiosk", "reason": "", "csrf_token": csrf})
    assert r.status_code == 422 and "请填写原因" in r.text and _rows(service) == []
    r = client.post(PAGE, data={"command": "open_compartment", "reason": "x", "csrf_token": csrf})
    assert r.status_code == 422 and "needs a compartment_id" in r.text and _rows(service) == []
    r = client.post(
        PAGE,
        data={
            "command": "open_compartment",
            "compartment_id": "A03",
            "reason": "door jammed",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    (row,) = _rows(service)
    assert (row.type, row.issued_by, row.note) == (
        "command.open_compartment",
        "op.zhao",
        "door jammed",
    )
    with service.db.transaction() as s:  # the terminal's answer, as ingest records it
        stored = s.get(CommandRow, row.command_id)
        stored.status, stored.finished_at = "done", utcnow()
        stored.result = {"compartment_id": "A03", "door": "confirmed"}
    page = client.get(r.headers["location"])
    assert "指令已发送" in page.text and "已完成" in page.text
    assert "door: confirmed" in page.text and "op.zhao" in page.text


def test_a_supervisor_reads_but_has_no_form_and_cannot_send(client, service):
    sign_in(client, "sup.qian")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'data-testid="command-form"' not in page.text
    r = client.post(
        PAGE, data={"command": "resync_state", "reason": "x", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 403 and _rows(service) == []
    assert client.get("/console/fleet/terminals/T0999/commands").status_code == 404
