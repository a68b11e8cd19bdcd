"""GET /api/terminals/{terminal_id}/presence on the real API: the terminal's transitions newest
first with its time offline; fleet.read only; unknown terminals, bad ids and limits refused."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.service import BackendService
from cloud_bridge.contract import messages as m

URL = f"/api/terminals/{TERMINAL}/presence"


def _status(state: str, connection: int, reason: str | None = None) -> m.Status:
    return m.Status(
        terminal_id=TERMINAL,
        message_id=m.new_message_id(),
        state=state,
        software_version="0.2.0",
        since="2026-12-04T01:00:00Z",
        connection=connection,
        keepalive_s=30,
        reason=reason,
    )


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.register_terminal("T0002", KEY)
    statuses = [
        _status("online", 1),
        _status("online", 1),  # a heartbeat
        _status("offline", 1, "connection_lost"),
        _status("online", 2),
    ]
    result = svc.ingest.handle_batch([(x.topic(), x.encode()) for x in statuses])
    assert not result.rejected
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture
def tokens(service):
    return {
        role: bearer(account_with_token(service.db, f"{role}.one", [role])[1])
        for role in ("operator", "supervisor", "clerk")
    }


def test_a_reader_gets_the_transitions_newest_first_and_the_time_offline(client, tokens):
    for role in ("operator", "supervisor"):
        r = client.get(URL, headers=tokens[role])
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(t["state"], t["reason"], t["connection"]) for t in body["transitions"]] == [
            ("online", "", 2),
            ("offline", "connection_lost", 1),
            ("online", "", 1),
        ]
        assert body["terminal_id"] == TERMINAL
        assert 0 <= body["offline_s_24h"] <= body["offline_s_7d"] < 60
    r = client.get(URL, params={"limit": 1}, headers=tokens["operator"])
    assert [t["connection"] for t in r.json()["transitions"]] == [2]
    empty = client.get("/api/terminals/T0002/presence", headers=tokens["operator"]).json()
    assert empty["transitions"] == [] and empty["offline_s_7d"] == 0


def test_strangers_clerks_unknown_terminals_and_bad_requests_are_refused(client, tokens):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=tokens["clerk"]).status_code == 403
    op = tokens["operator"]
    r = client.get("/api/terminals/T0999/presence", headers=op)
    assert r.status_code == 404 and "T0999" in r.json()["detail"]
    for bad in ("/api/terminals/bad.id/presence", f"/api/terminals/{'T' * 65}/presence"):
        assert client.get(bad, headers=op).status_code == 422, bad
    for limit in (0, 1001, "many"):
        assert client.get(URL, params={"limit": limit}, headers=op).status_code == 422, limit
