"""A value the database cannot take (PostgreSQL: a NUL character in text) that no route check
refused is the caller's error (422; 404 for an id), never a 500, and it is neither echoed nor
logged; on SQLite and on PostgreSQL 15."""

from __future__ import annotations

import logging

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.service import BackendService

NO = "AH-T0001-20261120-0001"


@pytest.fixture
def site(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    tokens = {
        role: account_with_token(svc.db, f"{role}.one", [role])[1]
        for role in ("clerk", "operator", "admin")
    }
    with TestClient(create_app(svc), raise_server_exceptions=False) as client:
        yield client, {role: bearer(token) for role, token in tokens.items()}
    svc.stop()


# (role, method, path, query, JSON body, the answer on PostgreSQL)
NUL_REQUESTS = [
    ("clerk", "GET", "/api/applications/%00", None, None, 404),
    ("clerk", "GET", "/console/applications/%00", None, None, 404),
    ("clerk", "GET", "/console/queue", {"state": "\x00"}, None, 422),
    ("operator", "GET", "/api/commands", {"terminal_id": "\x00"}, None, 422),
    ("admin", "GET", "/api/notifications", {"application_no": "\x00"}, None, 422),
    (
        "operator",
        "POST",
        f"/api/fleet/terminals/{TERMINAL}/commands",
        None,
        {"command": "resync_state", "reason": "x\x00"},
        422,
    ),
    ("clerk", "POST", f"/api/applications/{NO}/accept", None, {"note": "x\x00"}, 422),
]


def test_a_nul_character_is_refused_not_a_server_error_and_the_next_request_works(
    site, database_url, caplog
):
    client, headers = site
    postgres = database_url.startswith("postgresql")
    caplog.set_level(logging.WARNING, logger="backend.api")
    for role, method, path, query, body, on_postgres in NUL_REQUESTS:
        r = client.request(method, path, params=query, json=body, headers=headers[role])
        assert r.status_code < 500, (path, r.status_code, r.text)
        if postgres:  # SQLite stores and compares text with NUL in it
            assert r.status_code == on_postgres, (path, r.status_code, r.text)
            assert "\x00" not in r.text and "\\u0000" not in r.text, (path, r.text)
    if postgres:
        refused = [r.getMessage() for r in caplog.records if r.name == "backend.api"]
        assert len(refused) == len(NUL_REQUESTS)
        assert "POST /api/applications/{application_no}/accept: " in refused[-1]
        assert all("\x00" not in line and "\n" not in line for line in refused)
        # Nothing was stored from the refused step: the case waits for a clean one.
        detail = client.get(f"/api/applications/{NO}", headers=headers["clerk"])
        assert detail.status_code == 200 and detail.json()["status"] == "submitted"
        accepted = client.post(
            f"/api/applications/{NO}/accept", json={"note": "ok"}, headers=headers["clerk"]
        )
        assert accepted.status_code == 200, accepted.text
    listed = client.get("/api/commands", headers=headers["operator"])
    assert listed.status_code == 200
