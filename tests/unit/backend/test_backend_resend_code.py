"""Rotating a pickup code on the real API: who may, and how often (each rotation is an SMS)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import WorkflowHistory
from backend.notifications.models import NotificationRow
from backend.service import BackendService
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"
ROTATE = f"/api/applications/{NO}/resend-code"


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    yield svc
    svc.stop()


@pytest.fixture
def staff(service):
    """Headers of clerk.li (who works the case to a loaded result), clerk.wang and sup.ma."""
    people = {
        name: bearer(account_with_token(service.db, name, [role])[1])
        for name, role in (
            ("clerk.li", "clerk"),
            ("clerk.wang", "clerk"),
            ("sup.ma", "supervisor"),
        )
    }
    with TestClient(create_app(service)) as client:
        li = people["clerk.li"]
        for step in ("accept", "review", "approve"):  # accepting claims the case for clerk.li
            assert client.post(f"/api/applications/{NO}/{step}", json={}, headers=li).is_success
        load_id = client.post(
            f"/api/applications/{NO}/load-result", json={"terminal_id": TERMINAL}, headers=li
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
        people["client"] = client
        yield people


def _codes_texted(service) -> int:
    with service.db.reading() as s:
        return s.scalar(
            select(func.count())
            .select_from(NotificationRow)
            .where(NotificationRow.kind == "pickup_code")
        )


def _rotations(service) -> list[str]:
    with service.db.reading() as s:
        rows = s.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.note.startswith("pickup code rotated"))
            .order_by(WorkflowHistory.id)
        )
        return [r.actor for r in rows]


def _a_day_passes(service, rotations: int) -> None:
    """The oldest `rotations` rotations happened more than 24 hours ago."""
    with service.db.transaction() as s:
        ids = s.scalars(
            select(WorkflowHistory.id)
            .where(WorkflowHistory.note.startswith("pickup code rotated"))
            .order_by(WorkflowHistory.id)
            .limit(rotations)
        ).all()
        s.execute(
            update(WorkflowHistory)
            .where(WorkflowHistory.id.in_(ids))
            .values(at=m.utcnow() - timedelta(hours=25))
        )


def test_only_the_holder_or_a_supervisor_rotates_the_code_of_a_claimed_case(service, staff):
    # Found in review: any clerk, not holding the case, rotated its code (an SMS each time).
    client = staff["client"]
    assert _codes_texted(service) == 1
    refused = client.post(ROTATE, json={}, headers=staff["clerk.wang"])
    assert refused.status_code == 409 and "claimed by clerk.li" in refused.json()["detail"]
    assert _codes_texted(service) == 1 and _rotations(service) == []

    mine = client.post(ROTATE, json={}, headers=staff["clerk.li"])
    assert mine.status_code == 200 and mine.json()["code_rotation"] == 2
    assert client.post(ROTATE, json={}, headers=staff["sup.ma"]).status_code == 200
    assert _rotations(service) == ["clerk.li", "sup.ma"]
    assert _codes_texted(service) == 3

    # Released, the case is anyone's again: a clerk at the counter may send the citizen a code.
    release = f"/api/applications/{NO}/release"
    assert client.post(release, json={}, headers=staff["clerk.li"]).status_code == 200
    assert client.post(ROTATE, json={}, headers=staff["clerk.wang"]).status_code == 200
    assert _rotations(service) == ["clerk.li", "sup.ma", "clerk.wang"]


def test_a_case_s_code_is_rotated_at_most_three_times_a_day(service, staff):
    # Found in review: 20 rotations in a row, 20 SMS to the citizen; the provider's cap per
    # number and day then blocks the notices that matter.
    client, li = staff["client"], staff["clerk.li"]
    for rotation in (2, 3, 4):
        r = client.post(ROTATE, json={}, headers=li)
        assert r.status_code == 200 and r.json()["code_rotation"] == rotation
    fourth = client.post(ROTATE, json={}, headers=li)
    assert fourth.status_code == 429
    assert "rotated 3 times in the last 24 hours" in fourth.json()["detail"]
    assert 23 * 3600 < int(fourth.headers["retry-after"]) <= 24 * 3600
    # The limit is the case's, whoever asks.
    assert client.post(ROTATE, json={}, headers=staff["sup.ma"]).status_code == 429
    assert _codes_texted(service) == 4 and len(_rotations(service)) == 3

    _a_day_passes(service, rotations=1)
    again = client.post(ROTATE, json={}, headers=li)
    assert again.status_code == 200 and again.json()["code_rotation"] == 5
    assert client.post(ROTATE, json={}, headers=li).status_code == 429
    assert _codes_texted(service) == 5
