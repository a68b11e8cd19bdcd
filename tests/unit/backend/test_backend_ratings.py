"""Satisfaction ratings: one per application, receipted like any event, summarised for staff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import ServiceRating
from backend.service import BackendService
from cloud_bridge.contract import messages as m

AT = datetime(2026, 11, 20, 21, 35, tzinfo=UTC)


def rated(no: str, score: int, *reasons: str, terminal: str = TERMINAL) -> m.ServiceRated:
    return m.ServiceRated(
        terminal_id=terminal,
        operation_id=f"{no}#rating",
        application_no=no,
        score=score,
        reasons=list(reasons),
        rated_at=AT,
    )


def test_a_rating_is_stored_and_receipted(backend):
    backend.feed(submission("AH-T0001-20261120-0001"))
    result = backend.feed(rated("AH-T0001-20261120-0001", 2, "waiting", "device_problem"))
    [item] = result.receipts[TERMINAL]
    assert item.outcome == m.ReceiptOutcome.STORED
    with backend.db.transaction() as s:
        row = s.get(ServiceRating, "AH-T0001-20261120-0001")
        assert row is not None
        assert (row.score, row.reasons, row.terminal_id) == (
            2,
            ["device_problem", "waiting"],
            TERMINAL,
        )


def test_a_second_rating_of_the_same_application_is_a_duplicate_and_changes_nothing(backend):
    first = rated("AH-T0001-20261120-0001", 5)
    backend.feed(first)
    replay = backend.feed(first)  # the same message again (QoS 1)
    again = backend.feed(rated("AH-T0001-20261120-0001", 1, "other"))  # a second tap
    for result in (replay, again):
        assert [i.outcome for i in result.receipts[TERMINAL]] == [m.ReceiptOutcome.DUPLICATE]
    assert backend.count(ServiceRating) == 1
    with backend.db.transaction() as s:
        assert s.get(ServiceRating, "AH-T0001-20261120-0001").score == 5


def test_a_rating_with_an_unknown_reason_is_rejected_by_the_contract(backend):
    raw = (
        rated("AH-T0001-20261120-0001", 1).encode().replace(b'"reasons":[]', b'"reasons":["rude"]')
    )
    result = backend.feed((rated("AH-T0001-20261120-0001", 1).topic(), raw))
    assert [i.outcome for i in result.receipts[TERMINAL]] == [m.ReceiptOutcome.REJECTED]
    assert backend.count(ServiceRating) == 0


@pytest.fixture
def api(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.register_terminal("T0002", KEY)
    _, token = account_with_token(svc.db, "supervisor.li", ["supervisor"])
    with TestClient(create_app(svc), headers=bearer(token)) as client:
        yield svc, client
    svc.stop()


def test_staff_summary_counts_and_averages_per_item_and_terminal_and_lists_low_scores(api):
    svc, client = api
    msgs = [
        submission("AH-T0001-20261120-0001"),
        submission("AH-T0001-20261120-0002", item_code="SB-0201"),
        submission("AH-T0002-20261120-0001", terminal_id="T0002"),
        rated("AH-T0001-20261120-0001", 5),
        rated("AH-T0001-20261120-0002", 2, "unclear_guidance"),
        rated("AH-T0002-20261120-0001", 4, terminal="T0002"),
    ]
    svc.ingest.handle_batch([(x.topic(), x.encode()) for x in msgs])
    summary = client.get("/api/ratings/summary").json()
    assert summary["total"]["count"] == 3
    assert summary["total"]["average"] == pytest.approx(11 / 3, abs=0.01)
    assert summary["by_item"]["HJ-0101"]["count"] == 2
    assert summary["by_item"]["HJ-0101"]["average"] == 4.5
    assert summary["by_item"]["SB-0201"]["by_score"]["2"] == 1
    assert summary["by_terminal"][TERMINAL]["count"] == 2
    assert summary["by_terminal"]["T0002"]["average"] == 4
    [low] = summary["low_scores"]
    assert low["application_no"] == "AH-T0001-20261120-0002"
    assert (low["score"], low["reasons"], low["item_code"]) == (2, ["unclear_guidance"], "SB-0201")
    # Staff follow up by application number; the summary itself carries no personal data.
    text = client.get("/api/ratings/summary").text
    for secret in ("张三", "13800138000", "11010519491231002X"):
        assert secret not in text


def test_staff_summary_filters_by_period_and_refuses_a_naive_time(api):
    _svc, client = api
    _svc.ingest.handle_batch(
        [(x.topic(), x.encode()) for x in [rated("AH-T0001-20261120-0001", 3)]]
    )
    after = client.get("/api/ratings/summary", params={"since": "2026-11-21T00:00:00Z"}).json()
    assert after["total"] == {"count": 0, "average": None, "by_score": dict.fromkeys("54321", 0)}
    before = client.get("/api/ratings/summary", params={"until": "2026-11-21T08:00:00+08:00"})
    assert before.json()["total"]["count"] == 1
    assert (
        client.get("/api/ratings/summary", params={"since": "2026-11-21T00:00:00"}).status_code
        == 422
    )
