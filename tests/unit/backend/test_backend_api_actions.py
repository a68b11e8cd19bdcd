"""Staff actions: made against a version, applied once per idempotency key, reasons from a list."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import StaffAction, WorkflowHistory
from backend.service import BackendService

NO = "AH-T0001-20261120-0001"


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    yield svc
    svc.stop()


@pytest.fixture
def clerks(service):
    """Two clerks' clients on one app."""
    app = create_app(service)
    _, li = account_with_token(service.db, "clerk.li", ["clerk"])
    _, wang = account_with_token(service.db, "clerk.wang", ["clerk"])
    with (
        TestClient(app, headers=bearer(li)) as a,
        TestClient(app, headers=bearer(wang)) as b,
    ):
        yield a, b


def _history(service) -> list[tuple[str, str]]:
    with service.db.transaction() as s:
        rows = s.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.application_no == NO)
            .order_by(WorkflowHistory.id)
        )
        return [(h.to_state, h.actor) for h in rows]


def test_two_clerks_on_one_version_one_wins_and_the_other_is_told_who(service, clerks):
    li, wang = clerks
    version = li.get(f"/api/applications/{NO}").json()["version"]

    first = li.post(f"/api/applications/{NO}/accept", json={"version": version})
    second = wang.post(
        f"/api/applications/{NO}/reject", json={"version": version, "reason": "duplicate"}
    )

    assert first.status_code == 200 and first.json()["status"] == "accepted"
    assert second.status_code == 409
    assert "clerk.li moved it to accepted" in second.json()["detail"]
    assert second.json()["version"] == first.json()["version"] > version
    assert _history(service)[1:] == [("accepted", "clerk.li")]


def test_a_repeated_idempotency_key_applies_the_action_once(service, clerks):
    li, wang = clerks
    body = {"idempotency_key": "k-accept-0001"}
    one = li.post(f"/api/applications/{NO}/accept", json=body)
    two = li.post(f"/api/applications/{NO}/accept", json=body)

    assert one.status_code == two.status_code == 200
    assert two.json()["outcome"] == one.json()["outcome"] | {"replayed": True}
    assert _history(service)[1:] == [("accepted", "clerk.li")]
    # The same key from another person or for another action is refused, not replayed.
    assert wang.post(f"/api/applications/{NO}/accept", json=body).status_code == 422
    assert li.post(f"/api/applications/{NO}/review", json=body).status_code == 422
    by_header = li.post(f"/api/applications/{NO}/review", headers={"Idempotency-Key": "k-review-1"})
    assert by_header.status_code == 200
    with service.db.transaction() as s:
        # The two actions, and the claim the first one made of the unclaimed case.
        actions = sorted(s.scalars(select(StaffAction.action)))
        assert actions == ["accept", "claim", "review"]


def test_reject_and_supplement_need_a_reason_from_the_list_and_others_take_none(clerks):
    li, _ = clerks
    li.post(f"/api/applications/{NO}/accept", json={})
    missing = li.post(f"/api/applications/{NO}/reject", json={"note": "不行"})
    assert missing.status_code == 422 and "not_eligible" in missing.json()["detail"]
    made_up = li.post(f"/api/applications/{NO}/reject", json={"reason": "i_say_so"})
    assert made_up.status_code == 422
    extra = li.post(f"/api/applications/{NO}/review", json={"reason": "not_eligible"})
    assert extra.status_code == 422
    ok = li.post(f"/api/applications/{NO}/reject", json={"reason": "not_eligible"})
    assert ok.status_code == 200 and ok.json()["history"][-1]["note"] == "不符合办理条件"


def test_bad_keys_and_versions_are_refused_before_anything_changes(service, clerks):
    li, _ = clerks
    for body in ({"idempotency_key": "short"}, {"version": 0}, {"note": "x" * 501}):
        assert li.post(f"/api/applications/{NO}/accept", json=body).status_code == 422
    stale = li.post(f"/api/applications/{NO}/accept", json={"version": 99})
    assert stale.status_code == 409
    assert _history(service) == [("submitted", f"terminal:{TERMINAL}")]
