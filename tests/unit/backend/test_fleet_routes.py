"""The fleet's REST routes on the real API: terminals with presence, alarms, acknowledge and
clear (operators only), the trail, and refusals with a clear answer."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL

from backend.service import BackendService
from cloud_bridge.contract import messages as m


def _alarm(op: str) -> m.Alarm:
    return m.Alarm(
        terminal_id=TERMINAL,
        message_id=m.new_message_id(),
        operation_id=op,
        kind="low_paper",
        severity="warning",
        detail="paper below 10%",
        raised_at="2026-12-04T02:00:00Z",
    )


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    status = m.Status(
        terminal_id=TERMINAL,
        message_id=m.new_message_id(),
        state="online",
        software_version="0.2.0",
        since="2026-12-04T01:00:00Z",
        connection=1,
        keepalive_s=30,
    )
    svc.ingest.handle_batch([(x.topic(), x.encode()) for x in (status, _alarm("ALM-1"))])
    yield svc
    svc.stop()


ALARM = f"/api/alarms/{TERMINAL}/ALM-1"


def test_reading_the_fleet_needs_fleet_read(client, tokens):
    assert client.get("/api/alarms").status_code == 401
    assert client.get("/api/alarms", headers=tokens["clerk"]).status_code == 403
    [terminal] = client.get("/api/terminals", headers=tokens["supervisor"]).json()
    assert (terminal["status"], terminal["keepalive_s"]) == ("online", 30)
    assert [a["operation_id"] for a in terminal["open_alarms"]] == ["ALM-1"]
    live = client.get("/api/alarms?state=live", headers=tokens["admin"]).json()
    assert [(a["operation_id"], a["state"]) for a in live] == [("ALM-1", "open")]


def test_only_operators_acknowledge_and_clear(client, tokens):
    for role in ("supervisor", "admin", "clerk"):
        r = client.post(f"{ALARM}/acknowledge", json={}, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "alarms.act"), role
    assert client.post(f"{ALARM}/clear", json={"note": "x"}).status_code == 401

    r = client.post(f"{ALARM}/acknowledge", json={"note": "纸已在路上"}, headers=tokens["operator"])
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["acknowledged_by"]) == ("acknowledged", "operator.one")
    r = client.post(f"{ALARM}/clear", json={"note": "已换纸"}, headers=tokens["operator"])
    assert (r.status_code, r.json()["cleared_by"]) == (200, "operator.one")

    detail = client.get(ALARM, headers=tokens["supervisor"]).json()
    assert [(e["action"], e["actor"], e["note"]) for e in detail["trail"]] == [
        ("raised", f"terminal:{TERMINAL}", "paper below 10%"),
        ("acknowledged", "operator.one", "纸已在路上"),
        ("cleared", "operator.one", "已换纸"),
    ]
    again = client.post(f"{ALARM}/acknowledge", json={}, headers=tokens["operator"])
    assert again.status_code == 409 and "cleared by operator.one" in again.json()["detail"]


def test_bad_requests_get_a_clear_answer_and_change_nothing(client, tokens):
    op = tokens["operator"]
    assert client.post(f"{ALARM}/clear", json={}, headers=op).status_code == 422  # no reason
    assert client.post(f"{ALARM}/clear", json={"note": ""}, headers=op).status_code == 422
    long = client.post(f"{ALARM}/clear", json={"note": "x" * 501}, headers=op)
    assert long.status_code == 422
    extra = client.post(f"{ALARM}/acknowledge", json={"by": "someone.else"}, headers=op)
    assert extra.status_code == 422
    missing = client.post(f"/api/alarms/{TERMINAL}/ALM-404/acknowledge", json={}, headers=op)
    assert missing.status_code == 404 and "ALM-404" in missing.json()["detail"]
    bad_id = client.post(f"/api/alarms/{TERMINAL}/{'x' * 129}/acknowledge", json={}, headers=op)
    assert bad_id.status_code == 422
    assert client.get("/api/alarms?state=gone", headers=op).status_code == 422
    [alarm] = client.get("/api/alarms", headers=op).json()
    assert alarm["state"] == "open"
