"""The REST API over a BackendService without a broker (commands stay queued), signed in."""

from __future__ import annotations

import re

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import CommandRow
from backend.notifications.models import NotificationRow
from backend.notifications.outbox import stored_key
from backend.notifications.sealing import Sealer
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code

NO = "AH-T0001-20261120-0001"
STAFF = {"note": ""}


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    """A clerk's client; `client.as_role(...)` gives the headers of another role's token."""
    tokens = {
        role: account_with_token(service.db, f"{role}.one", [role])[1]
        for role in ("clerk", "operator", "admin")
    }
    with TestClient(create_app(service), headers=bearer(tokens["clerk"])) as c:
        c.as_role = lambda role: bearer(tokens[role])
        yield c


@pytest.fixture
def submitted(service, client):
    service.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    return client


def _walk_to_approved(client) -> None:
    for step in ("accept", "review", "approve"):
        r = client.post(f"/api/applications/{NO}/{step}", json=STAFF)
        assert r.status_code == 200, r.text


def test_healthz_reports_database_and_a_disabled_broker(client):
    assert client.get("/healthz").json() == {
        "status": "ok",
        "database": "ok",
        "mqtt": "disabled",
        "ingest": {"dead_letters_waiting": 0},
    }


def test_list_masks_the_id_number_and_detail_shows_materials_and_history(submitted):
    listed = submitted.get("/api/applications", params={"status": "submitted"}).json()
    assert [a["application_no"] for a in listed] == [NO]
    assert listed[0]["applicant"]["id_number"] == "1101**********002X"

    detail = submitted.get(f"/api/applications/{NO}").json()
    assert detail["materials"][0]["verified"] is False
    assert [h["to"] for h in detail["history"]] == ["submitted"]
    assert submitted.get("/api/applications", params={"status": "approved"}).json() == []


def test_steps_move_the_application_and_a_wrong_step_is_409(submitted):
    r = submitted.post(f"/api/applications/{NO}/approve", json=STAFF)
    assert r.status_code == 409
    assert r.json()["state"] == "submitted"

    _walk_to_approved(submitted)

    detail = submitted.get(f"/api/applications/{NO}").json()
    assert detail["status"] == "approved"
    sms = submitted.get(
        "/api/notifications", params={"application_no": NO}, headers=submitted.as_role("admin")
    )
    assert [x["kind"] for x in sms.json()] == ["approved", "accepted", "submitted"]
    assert {h["actor"] for h in detail["history"][1:]} == {"clerk.one"}


def test_supplement_and_resume_routes(submitted):
    submitted.post(f"/api/applications/{NO}/accept", json=STAFF)
    r = submitted.post(
        f"/api/applications/{NO}/request-supplement",
        json={
            "reason": "unclear_scan",
            "note": "第二页模糊，电话 139-0000-1111",
            "materials": ["household-register"],
        },
    )
    assert r.json()["status"] == "supplement_requested"
    sms = submitted.get("/api/notifications", headers=submitted.as_role("admin")).json()[0]
    # The SMS carries the fixed wording of the reason, never the clerk's private note.
    assert sms["params"]["reason"] == "扫描件不清晰" and "139" not in str(sms)
    assert submitted.post(f"/api/applications/{NO}/resume", json=STAFF).json()["status"] == (
        "under_review"
    )


def test_unknown_application_is_404_and_bad_body_is_422(client):
    r = client.get("/api/applications/AH-NOPE-0001")
    assert r.status_code == 404 and "AH-NOPE-0001" in r.json()["detail"]
    assert client.post("/api/applications/AH-NOPE-0001/accept", json=STAFF).status_code == 404
    # The audit names the signed-in person: a body that names an actor is refused.
    assert client.post(f"/api/applications/{NO}/accept", json={"actor": "x"}).status_code == 422


def test_load_result_issues_a_command_and_is_409_unless_approved(submitted):
    body = {"terminal_id": TERMINAL, "size": "M"}
    assert submitted.post(f"/api/applications/{NO}/load-result", json=body).status_code == 409
    _walk_to_approved(submitted)

    unknown = {"terminal_id": "T0404", "size": "S"}
    assert submitted.post(f"/api/applications/{NO}/load-result", json=unknown).status_code == 404

    r = submitted.post(f"/api/applications/{NO}/load-result", json=body)

    assert r.status_code == 200
    assert re.fullmatch(r"L-[0-9a-f]{12}", r.json()["load_id"])
    commands = submitted.get(
        "/api/commands", params={"terminal_id": TERMINAL}, headers=submitted.as_role("operator")
    ).json()
    assert [(c["type"], c["status"]) for c in commands] == [("command.load_result", "queued")]
    assert submitted.post(f"/api/applications/{NO}/load-result", json=body).status_code == 409


def test_resend_code_and_return_after_the_terminal_loaded_the_result(service, submitted):
    _walk_to_approved(submitted)
    load_id = submitted.post(
        f"/api/applications/{NO}/load-result", json={"terminal_id": TERMINAL}
    ).json()["load_id"]
    loaded = m.ResultLoaded(
        terminal_id=TERMINAL,
        operation_id=load_id,
        load_id=load_id,
        application_no=NO,
        compartment_id="A05",
        loaded_at=m.utcnow(),
    )
    service.ingest.handle_batch([(loaded.topic(), loaded.encode())])

    r = submitted.post(f"/api/applications/{NO}/resend-code")

    assert r.json() == {"load_id": load_id, "code_rotation": 2}
    admin, operator = submitted.as_role("admin"), submitted.as_role("operator")
    sms = submitted.get("/api/notifications", headers=admin).json()
    codes = [x for x in sms if x["kind"] == "pickup_code"]
    assert len(codes) == 2 and {x["params"]["code"] for x in codes} == {"******"}
    with service.db.transaction() as session:  # the sealed code, as the sender opens it
        row = session.scalars(select(NotificationRow).order_by(NotificationRow.id.desc())).first()
        newest = Sealer(stored_key(session)).open(row.out_id, row.sealed)["code"]
    digests = {
        c["operation_id"]: c["status"]
        for c in submitted.get("/api/commands", headers=operator).json()
        if c["type"] == "command.set_pickup_code"
    }
    assert digests == {f"{load_id}#1": "expired", f"{load_id}#2": "queued"}
    with service.db.transaction() as session:
        row = session.scalars(
            select(CommandRow).where(CommandRow.operation_id == f"{load_id}#2")
        ).one()
        assert row.payload["code_digest"] == pickup_code.digest(KEY, TERMINAL, newest)

    r = submitted.post(f"/api/applications/{NO}/return", json={"note": "逾期"})

    assert r.json()["status"] == "returned"
    assert submitted.post(f"/api/applications/{NO}/resend-code").status_code == 409


def test_terminals_and_ingest_stats(service, client):
    service.ingest.handle_batch([("allhours/v1/terminals/T0001/status", b"{nope")])

    operator = client.as_role("operator")
    terminals = client.get("/api/terminals", headers=operator).json()
    assert [t["terminal_id"] for t in terminals] == [TERMINAL]
    assert "pickup_code_key" not in terminals[0]
    stats = client.get("/api/ingest/stats", headers=operator).json()
    assert (stats["stored"], stats["rejected"]) == (0, 1)
    assert stats["rejected_messages"][0]["topic"] == "allhours/v1/terminals/T0001/status"
