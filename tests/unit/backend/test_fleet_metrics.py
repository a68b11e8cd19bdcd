"""Prometheus metrics: never open, and the figures are the backend's own records."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.service import BackendService
from cloud_bridge.contract import messages as m


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.register_terminal("T0002", KEY)
    status = m.Status(
        terminal_id=TERMINAL,
        message_id=m.new_message_id(),
        state="online",
        software_version="0.2.0",
        since="2026-12-04T01:00:00Z",
        connection=1,
        keepalive_s=30,
    )
    alarm = m.Alarm(
        terminal_id=TERMINAL,
        message_id=m.new_message_id(),
        operation_id="ALM-1",
        kind="low_paper",
        severity="warning",
        detail="paper low",
        raised_at="2026-12-04T02:00:00Z",
    )
    svc.ingest.handle_batch([(x.topic(), x.encode()) for x in (status, alarm)])
    svc.ingest.handle_batch([("allhours/v1/terminals/T0001/events/x", b"{not json")])
    yield svc
    svc.stop()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_need_a_token_with_fleet_read(service):
    with TestClient(create_app(service)) as client:
        assert client.get("/metrics").status_code == 401
        _, clerk = account_with_token(service.db, "clerk.one", ["clerk"])
        r = client.get("/metrics", headers=bearer(clerk))
        assert (r.status_code, r.json()["reason"]) == (403, "fleet.read")


def test_metrics_report_ingest_presence_alarms(service):
    _, operator = account_with_token(service.db, "op.one", ["operator"])
    with TestClient(create_app(service)) as client:
        r = client.get("/metrics", headers=bearer(operator))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = _samples(r.text)
    assert got[("allhours_ingest_messages_total", (("outcome", "stored"),))] == 2
    assert got[("allhours_ingest_messages_total", (("outcome", "rejected"),))] == 1
    assert got[("allhours_terminals", (("state", "online"),))] == 1
    assert got[("allhours_terminals", (("state", "unknown"),))] == 1
    assert got[("allhours_terminals", (("state", "offline"),))] == 0
    key = (
        "allhours_alarms_live",
        (("kind", "low_paper"), ("severity", "warning"), ("state", "open")),
    )
    assert got[key] == 1
    assert got[("allhours_ingest_lag_seconds", ())] == 0


def test_metrics_count_commands_in_every_state_and_age_the_oldest_open(service):
    from datetime import timedelta

    from backend import commands
    from backend.models import CommandRow, utcnow
    from backend.operator_commands import OperatorCommands

    ops = OperatorCommands(service.db, service)
    queued = ops.issue(TERMINAL, "resync_state", "op.one", "a")
    sent = ops.issue(TERMINAL, "resync_state", "op.one", "b")
    refused = ops.issue(TERMINAL, "open_compartment", "op.one", "c", "Z99")
    commands.mark_sent(service.db, [(sent.message_id, utcnow()), (refused.message_id, utcnow())])
    ack = m.CommandAck(
        terminal_id=TERMINAL,
        command_id=refused.message_id,
        command_type=refused.type,
        operation_id=refused.operation_id,
        outcome=m.AckOutcome.REJECTED,
        detail="no compartment Z99",
    )
    service.ingest.handle_batch([(ack.topic(), ack.encode())])
    with service.db.transaction() as s:  # the queued one has waited ten minutes
        s.get(CommandRow, queued.message_id).created_at = utcnow() - timedelta(minutes=10)

    _, operator = account_with_token(service.db, "op.one", ["operator"])
    with TestClient(create_app(service)) as client:
        got = _samples(client.get("/metrics", headers=bearer(operator)).text)
    by_state = {s: got[("allhours_commands_by_state", (("state", s),))] for s in commands.STATES}
    assert by_state == {
        "queued": 1, "sent": 1, "delivered": 0, "done": 0, "failed": 1, "expired": 0
    }  # fmt: skip
    oldest = got[("allhours_command_oldest_open_seconds", (("state", "queued"),))]
    assert 590 <= oldest <= 900
    assert got[("allhours_command_oldest_open_seconds", (("state", "delivered"),))] == 0
