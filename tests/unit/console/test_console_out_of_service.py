"""Out of service in the console: the terminal page's service section and its two forms
(operators only, with the form token), and the fleet page showing what the terminal reports."""

from __future__ import annotations

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.console.i18n import catalog
from backend.models import CommandRow, Terminal
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from terminal.ui.i18n import load_catalog

TERMINAL_PAGE = "/console/fleet/terminals/T0001"
SEND = "/console/fleet/terminals/T0001/commands"


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


def _reported(service, state: m.ServiceState) -> None:
    """The terminal's telemetry as ingest stores it."""
    report = m.Telemetry(terminal_id="T0001", uptime_s=5, outbox_backlog=0, service=state)
    with service.db.transaction() as s:
        s.get(Terminal, "T0001").telemetry = report.model_dump(
            mode="json", exclude={"schema_version", "type", "message_id", "terminal_id"}
        )


def test_an_operator_takes_the_terminal_out_of_service_from_its_page(client, service):
    sign_in(client, "op.zhao")
    page = client.get(TERMINAL_PAGE)
    assert 'data-testid="service-in"' in page.text
    assert 'data-testid="out-of-service-form"' in page.text
    assert 'data-testid="back-in-service-form"' in page.text
    csrf = csrf_of(page.text)
    form = {"command": "out_of_service", "service_reason": "site_closed", "hold": "closed"}
    r = client.post(SEND, data=form | {"reason": "lobby works"})
    assert r.status_code == 403 and _rows(service) == []  # no form token
    r = client.post(SEND, data=form | {"reason": "", "csrf_token": csrf})
    assert r.status_code == 422 and "请填写原因" in r.text and _rows(service) == []
    r = client.post(
        SEND, data=form | {"service_reason": "bored", "reason": "x", "csrf_token": csrf}
    )
    assert r.status_code == 422 and "reason" in r.text and _rows(service) == []
    r = client.post(
        SEND, data=form | {"reason": "lobby works", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    (row,) = _rows(service)
    sent = m.BY_TYPE[row.type].model_validate(row.payload)
    assert (sent.reason, sent.hold, sent.note, sent.compartment_id) == (
        "site_closed",
        "closed",
        "lobby works",
        None,
    )
    assert row.issued_by == "op.zhao"

    # What the terminal then reports is what the pages show.
    since = m.utcnow()
    entry = {
        "reason": "site_closed",
        "note": "lobby works",
        "since": since,
        "command_id": row.command_id,
    }
    _reported(
        service,
        m.ServiceState(
            terminal=m.ServiceEntry(hold="closed", **entry),
            compartments={"A03": m.ServiceEntry(hold="locked", **entry)},
        ),
    )
    fleet = client.get("/console/fleet")
    assert "暂停服务 · 暂停受理" in fleet.text and "网点暂停开放" in fleet.text
    assert 'data-testid="held"' in fleet.text and "A03 (全部锁定" in fleet.text
    page = client.get(TERMINAL_PAGE)
    assert "lobby works" in page.text and 'data-testid="service-in"' not in page.text


def test_a_supervisor_sees_the_state_but_has_no_forms_and_cannot_send(client, service):
    sign_in(client, "sup.qian")
    page = client.get(TERMINAL_PAGE)
    assert page.status_code == 200 and 'data-testid="service-state"' in page.text
    assert 'data-testid="out-of-service-form"' not in page.text
    r = client.post(
        SEND,
        data={
            "command": "back_in_service",
            "service_reason": "repaired",
            "reason": "x",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert r.status_code == 403 and _rows(service) == []


def test_every_reason_and_hold_has_its_words_in_console_and_kiosk():
    for lang in ("zh", "en"):
        console, kiosk = catalog(lang), load_catalog(lang)
        for reason in m.ServiceReason:
            assert f"fleet.service.reason.{reason}" in console
            assert f"service.reason.{reason}" in kiosk
        for hold in m.ServiceHold:
            assert f"fleet.service.hold.{hold}" in console and f"service.hold.{hold}" in kiosk
            assert f"out_of_service.{hold}" in kiosk
