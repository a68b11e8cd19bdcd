"""An alarm is acted on whatever id the wire contract let its terminal give it, `#` included.

The contract's operation id allows `#`; the console's buttons put the id into their URL as it
was (a browser cuts a URL at `#`) and both the console and the REST routes refused `#`, so a
terminal could plant live alarms nobody could acknowledge or clear.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import AlarmRow
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

# Every character the contract's operation id allows, and the longest one it allows.
IDS = ("ALM#1", "ALM-T0001-0007#2", "a_Z.9:x#y-z", "#" * m.MAX_OPERATION_ID)


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    Accounts(svc.db).add("op.zhao", ["operator"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def _raise(service: BackendService, operation_id: str) -> None:
    alarm = examples()["event.alarm"].model_copy(
        update={"message_id": m.new_message_id(), "operation_id": operation_id}
    )
    assert m.decode(alarm.encode()) == alarm  # the contract accepts it
    assert service.ingest.handle_batch([(alarm.topic(), alarm.encode())]).stored == 1


def _alarm(service: BackendService, operation_id: str) -> AlarmRow:
    with service.db.reading() as session:
        return session.scalars(select(AlarmRow).where(AlarmRow.operation_id == operation_id)).one()


@pytest.mark.parametrize("operation_id", IDS)
def test_the_console_buttons_acknowledge_and_clear_an_alarm_whose_id_holds_a_hash(
    service, client, operation_id
):
    _raise(service, operation_id)
    sign_in(client, "op.zhao")
    page = client.get("/console/fleet/terminals/T0001")
    forms = [unescape(a) for a in re.findall(r'action="(/console/fleet/alarms/[^"]+)"', page.text)]
    encoded = operation_id.replace("#", "%23").replace(":", "%3A")
    base = f"/console/fleet/alarms/T0001/{encoded}"
    assert forms == [f"{base}/acknowledge", f"{base}/clear"]

    back = "/console/fleet/terminals/T0001"
    fields = {"csrf_token": csrf_of(page.text), "back": back}
    r = client.post(forms[0], data=fields | {"note": "on it"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"{back}?done=acknowledge")
    assert _alarm(service, operation_id).acknowledged_by == "op.zhao"
    r = client.post(forms[1], data=fields | {"note": "door fixed"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"{back}?done=clear")
    assert _alarm(service, operation_id).cleared_by == "op.zhao"


def test_an_id_the_contract_refuses_or_no_alarm_has_is_404_in_the_console(service, client):
    _raise(service, "ALM#1")
    sign_in(client, "op.zhao")
    csrf = csrf_of(client.get("/console/fleet").text)
    for refused in ("ALM%20%231", "%23" * (m.MAX_OPERATION_ID + 1), "ALM", "ALM%232"):
        r = client.post(
            f"/console/fleet/alarms/T0001/{refused}/acknowledge",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 404, refused
    assert _alarm(service, "ALM#1").state == "open"


@pytest.mark.parametrize("operation_id", IDS)
def test_the_rest_routes_read_acknowledge_and_clear_it_percent_encoded(
    service, client, operation_id
):
    _raise(service, operation_id)
    _, token = account_with_token(service.db, "op.api", ["operator"])
    path = f"/api/alarms/T0001/{operation_id.replace('#', '%23')}"
    r = client.get(path, headers=bearer(token))
    assert r.status_code == 200 and r.json()["operation_id"] == operation_id
    r = client.post(f"{path}/acknowledge", json={"note": "on it"}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = client.post(f"{path}/clear", json={"note": "door fixed"}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["state"] == "cleared"
    too_long = "%23" * (m.MAX_OPERATION_ID + 1)
    r = client.post(f"/api/alarms/T0001/{too_long}/acknowledge", json={}, headers=bearer(token))
    assert r.status_code == 422
