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
