"""GET /api/commands: every terminal's commands with their lifecycle state and times, filtered
by terminal and state; fleet readers only, an unknown or oversized filter refused clearly."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL
from fastapi.testclient import TestClient

from backend import commands
from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import utcnow
from backend.operator_commands import OperatorCommands
from backend.service import BackendService


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.register_terminal("T0002", KEY)
    yield svc
    svc.stop()


def test_commands_are_listed_by_state_and_terminal_with_each_states_time(service):
    ops = OperatorCommands(service.db, service)
    queued = ops.issue(TERMINAL, "resync_state", "op.one", "a")
    sent = ops.issue("T0002", "resync_state", "op.one", "b")
    commands.mark_sent(service.db, [(sent.message_id, utcnow())])
    _, operator = account_with_token(service.db, "op.one", ["operator"])
    _, clerk = account_with_token(service.db, "clerk.one", ["clerk"])
    with TestClient(create_app(service)) as client:
        assert client.get("/api/commands").status_code == 401
        assert client.get("/api/commands", headers=bearer(clerk)).status_code == 403

        got = client.get("/api/commands", params={"state": "sent"}, headers=bearer(operator))
        [row] = got.json()
        assert (row["command_id"], row["terminal_id"], row["status"]) == (
            sent.message_id,
            "T0002",
            "sent",
        )
        assert row["sent_at"] and row["delivered_at"] is None and row["finished_at"] is None

        mine = client.get(
            "/api/commands", params={"terminal_id": TERMINAL}, headers=bearer(operator)
        ).json()
        assert [r["command_id"] for r in mine] == [queued.message_id]
        assert (
            client.get(
                "/api/commands", params={"state": "delivered"}, headers=bearer(operator)
            ).json()
            == []
        )

        bad = client.get("/api/commands", params={"state": "pending"}, headers=bearer(operator))
        assert bad.status_code == 422 and "unknown command state 'pending'" in bad.text
        long = client.get("/api/commands", params={"state": "x" * 17}, headers=bearer(operator))
        assert long.status_code == 422
