"""The ratings summary's period lies where the wire contract's date-times do, [2000, 3000): a
time beyond is refused (422), where year 1 at +14:00 overflowed on the way to UTC (500); on
SQLite and on PostgreSQL 15."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.service import BackendService
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"


@pytest.fixture
def client(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    rating = m.ServiceRated(
        terminal_id=TERMINAL,
        operation_id=f"{NO}#rating",
        application_no=NO,
        score=4,
        reasons=[],
        rated_at=datetime(2026, 11, 20, 21, 35, tzinfo=UTC),
    )
    svc.ingest.handle_batch([(x.topic(), x.encode()) for x in (submission(NO), rating)])
    _, token = account_with_token(svc.db, "supervisor.li", ["supervisor"])
    with TestClient(create_app(svc), headers=bearer(token), raise_server_exceptions=False) as c:
        yield c
    svc.stop()


OUTSIDE = [
    ("0001-01-01T00:00:00+14:00", "greater than or equal to 2000-01-01T00:00:00Z"),
    ("1999-12-31T23:59:59Z", "greater than or equal to 2000-01-01T00:00:00Z"),
    ("9999-12-31T23:59:59-14:00", "less than 3000-01-01T00:00:00Z"),
    ("3000-01-01T00:00:00Z", "less than 3000-01-01T00:00:00Z"),
]


def test_a_period_bound_outside_2000_to_2999_is_refused(client):
    for bound in ("since", "until"):
        for at, expected in OUTSIDE:
            r = client.get("/api/ratings/summary", params={bound: at})
            assert r.status_code == 422, (bound, at, r.text)
            [error] = r.json()["detail"]
            assert error["loc"] == ["query", bound] and expected in error["msg"]


def test_a_period_within_the_bounds_still_counts(client):
    inside = {"since": "2000-01-01T00:00:00Z", "until": "2999-12-31T23:59:59+08:00"}
    assert client.get("/api/ratings/summary", params=inside).json()["total"]["count"] == 1
    after = {"since": "2026-11-21T06:00:00+08:00", "until": "3000-01-01T00:00:00+14:00"}
    assert client.get("/api/ratings/summary", params=after).json()["total"]["count"] == 0
