"""A terminal's time near year 9999 never takes a console page down.

It was stored, and then `astimezone(SERVICE_TZ)` overflowed on /console/fleet, the terminal's
page and /console/terminal-staff for every operator, hiding the alarm buttons with them. Now the
contract refuses such a time (the message is rejected, its terminal told), and a time already
stored is shown in UTC instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in, submit
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.models import AlarmEvent, AlarmRow, Application
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

NO = "AH-T0001-20261120-0001"
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
PAGES = ("/console/fleet", "/console/fleet/terminals/T0001", "/console/terminal-staff")


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO)
    accounts = Accounts(svc.db)
    # Both pages' readers in one person: the fleet (operator) and the originals (clerk).
    accounts.add("op.zhao", ["operator", "clerk"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        sign_in(c, "op.zhao")
        yield c


def _send(service: BackendService, message: m.Message):
    return service.ingest.handle_batch([(message.topic(), message.encode())])


def _example(name: str, **fields) -> m.Message:
    # model_copy does not validate: this is what a terminal with a broken clock puts on the wire.
    return examples()[name].model_copy(update={"message_id": m.new_message_id(), **fields})


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("event.alarm", "raised_at"),
        ("telemetry", "sent_at"),
        ("status", "since"),
        ("event.materials_deposited", "deposited_at"),
    ],
)
def test_a_terminal_time_past_2999_is_rejected_and_the_pages_answer(service, client, name, field):
    result = _send(service, _example(name, **{field: FAR}))
    assert (result.stored, result.rejected) == (0, 1)
    [item] = result.receipts["T0001"]
    assert item.outcome == m.ReceiptOutcome.REJECTED and f"{field}: less_than" in item.reason
    for page in PAGES:
        assert client.get(page).status_code == 200, page
    assert 'data-testid="no-alarms"' in client.get("/console/fleet").text


def test_a_far_time_already_stored_is_shown_in_utc_and_its_alarm_is_still_acted_on(service, client):
    assert _send(service, _example("event.alarm")).stored == 1
    assert _send(service, _example("event.materials_deposited")).stored == 1
    with service.db.transaction() as session:  # rows kept before the contract refused this
        session.execute(update(AlarmRow).values(raised_at=FAR))
        session.execute(update(AlarmEvent).values(at=FAR))
        session.execute(update(Application).values(deposited_at=FAR))

    fleet = client.get("/console/fleet")
    assert fleet.status_code == 200 and "12-31 23:00:00 UTC" in fleet.text
    terminal = client.get("/console/fleet/terminals/T0001")
    assert terminal.status_code == 200 and "12-31 23:00:00 UTC" in terminal.text
    staff = client.get("/console/terminal-staff")
    assert staff.status_code == 200 and "9999-12-31 23:00 UTC" in staff.text

    acknowledge = re.search(r'action="([^"]+/acknowledge)"', fleet.text).group(1)
    r = client.post(
        acknowledge,
        data={"csrf_token": csrf_of(fleet.text), "note": "on it"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/fleet?done=acknowledge"
    with service.db.reading() as session:
        [alarm] = session.scalars(select(AlarmRow)).all()
        assert (alarm.state, alarm.acknowledged_by) == ("acknowledged", "op.zhao")


def test_a_time_in_china_standard_time_is_shown_as_before(service, client):
    at = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # 05:30 the next morning in Beijing
    assert _send(service, _example("event.alarm", raised_at=at)).stored == 1
    page = client.get("/console/fleet").text
    assert "11-21 05:30:00" in page and "11-21 05:30:00 UTC" not in page
