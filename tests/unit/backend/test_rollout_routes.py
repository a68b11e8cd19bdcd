"""Group and rollout routes on the real API: who may do what, what is refused, what is kept."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL
from sqlalchemy import func, select

from backend.models import CommandRow
from backend.rollout_tables import Rollout, RolloutEvent
from backend.service import BackendService

SHA = "cd" * 32
SOFTWARE = {
    "version": "0.2.0",
    "archive_url": "https://rel.example/allhours-0.2.0.tar.gz",
    "sha256": SHA,
    "size_bytes": 4096,
}


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.register_terminal("T0002", KEY)
    yield svc
    svc.stop()


def _count(service, model) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _pilot(client, token) -> None:
    assert (
        client.post("/api/fleet/groups", json={"name": "pilot"}, headers=token).status_code == 201
    )
    r = client.post(
        "/api/fleet/groups/pilot/members", json={"terminals": [TERMINAL]}, headers=token
    )
    assert r.json() == {"added": [TERMINAL]}


def test_only_operators_and_admins_change_groups_and_each_change_names_its_author(
    client, tokens, service
):
    body = {"name": "pilot", "description": "two lobbies"}
    assert client.post("/api/fleet/groups", json=body).status_code == 401
    for role in ("clerk", "supervisor"):
        r = client.post("/api/fleet/groups", json=body, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "fleet.configure"), role
    assert client.post("/api/fleet/groups", json=body, headers=tokens["admin"]).status_code == 201
    r = client.post(
        "/api/fleet/groups/pilot/members",
        json={"terminals": [TERMINAL, "T0002"]},
        headers=tokens["operator"],
    )
    assert r.json() == {"added": [TERMINAL, "T0002"]}
    r = client.post(
        "/api/fleet/groups/pilot/members/remove",
        json={"terminals": ["T0002"]},
        headers=tokens["supervisor"],
    )
    assert r.status_code == 403
    shown = client.get("/api/fleet/groups", headers=tokens["supervisor"]).json()
    assert [(g["name"], g["members"], g["created_by"]) for g in shown] == [
        ("pilot", 2, "admin.one")
    ]
    assert client.get("/api/fleet/groups", headers=tokens["clerk"]).status_code == 403
    with service.db.transaction() as s:
        trail = [(e.action, e.actor) for e in s.scalars(select(RolloutEvent))]
    assert trail == [("group_created", "admin.one"), ("members_added", "operator.one")]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/fleet/groups", {"name": "Pilot Site"}, 422, "pattern"),
        ("/api/fleet/groups", {"name": "all"}, 422, "every terminal already"),
        ("/api/fleet/groups", {"name": "pilot", "extra": 1}, 422, "extra"),
        ("/api/fleet/groups/pilot/members", {"terminals": ["T0009"]}, 422, "unknown terminal"),
        ("/api/fleet/groups/pilot/members", {"terminals": []}, 422, "at least 1"),
        ("/api/fleet/groups/east/members", {"terminals": [TERMINAL]}, 404, "no group east"),
    ],
)
def test_a_bad_group_change_is_refused_clearly(client, tokens, path, body, status, words):
    client.post("/api/fleet/groups", json={"name": "pilot"}, headers=tokens["operator"])
    r = client.post(path, json=body, headers=tokens["operator"])
    assert r.status_code == status, r.text
    assert words in r.text


def test_only_operators_and_admins_start_and_steer_rollouts(client, tokens, service):
    _pilot(client, tokens["operator"])
    body = {"kind": "software", "stages": ["pilot", "all"], "software": SOFTWARE}
    assert client.post("/api/fleet/rollouts", json=body).status_code == 401
    for role in ("clerk", "supervisor"):
        r = client.post("/api/fleet/rollouts", json=body, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "fleet.configure"), role
    assert _count(service, Rollout) == 0 and _count(service, CommandRow) == 0

    r = client.post("/api/fleet/rollouts", json=body, headers=tokens["operator"])
    assert r.status_code == 202, r.text
    shown = r.json()
    assert (shown["state"], shown["stage"], shown["created_by"]) == ("running", 1, "operator.one")
    assert [(s["group"], s["terminals"], s["states"]) for s in shown["stages"]] == [
        ("pilot", 1, {"sent": 1}),
        ("all", 1, {"waiting": 1}),
    ]
    assert _count(service, CommandRow) == 1  # the pilot's only
    rid = shown["id"]

    pause = {"action": "pause", "reason": "site 3 closed"}
    url = f"/api/fleet/rollouts/{rid}/actions"
    assert client.post(url, json=pause, headers=tokens["supervisor"]).status_code == 403
    r = client.post(url, json=pause, headers=tokens["admin"])
    assert r.status_code == 200 and r.json()["state"] == "paused"
    r = client.post(url, json=pause, headers=tokens["operator"])
    assert r.status_code == 409 and "is paused; cannot be paused" in r.text
    r = client.post(url, json={"action": "abort", "reason": ""}, headers=tokens["operator"])
    assert r.status_code == 422
    r = client.post(url, json={"action": "abort", "reason": "x"}, headers=tokens["operator"])
    assert r.json()["state"] == "aborted"
    shown = client.get(f"/api/fleet/rollouts/{rid}", headers=tokens["supervisor"]).json()
    assert [(e["action"], e["actor"]) for e in shown["events"]] == [
        ("started", "operator.one"),
        ("stage_started", "backend"),
        ("paused", "admin.one"),
        ("aborted", "operator.one"),
    ]
    assert client.get("/api/fleet/rollouts", headers=tokens["clerk"]).status_code == 403
    assert client.get("/api/fleet/rollouts/99", headers=tokens["operator"]).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        (lambda b: b["software"].update(archive_url="http://rel.example/a.tar.gz"), 422, "https"),
        (lambda b: b["software"].update(sha256="00"), 422, "pattern"),
        (lambda b: b["software"].update(size_bytes=2 * 1024**3), 422, "size_bytes"),
        (lambda b: b["software"].update(version="../../etc"), 422, "pattern"),
        (lambda b: b.update(stages=["east"]), 422, "no group east"),
        (lambda b: b.update(stages=[]), 422, "at least 1"),
        (lambda b: b.update(catalog_version=1), 422, "no bundle parts"),
        (lambda b: b.update(kind="bundle", software=None), 422, "carries a catalog"),
        (lambda b: b.update(kind="bundle", software=None, settings={"kiosk": {}}), 422, "version"),
        (
            lambda b: b.update(
                kind="bundle", software=None, version="s-1", settings={"kiosk": {"pin": 1}}
            ),
            422,
            "settings: kiosk.pin may not change remotely",
        ),
        (lambda b: b.update(abort_fraction=0), 422, "greater than 0"),
        (lambda b: b.update(wait_minutes=0), 422, "greater than or equal to 1"),
        (lambda b: b.update(note="x" * 300_000), 413, "at most"),
    ],
)
def test_a_bad_rollout_is_refused_clearly_and_sends_nothing(
    client, tokens, service, change, status, words
):
    _pilot(client, tokens["operator"])
    body = {"kind": "software", "stages": ["pilot"], "software": dict(SOFTWARE)}
    change(body)
    r = client.post("/api/fleet/rollouts", json=body, headers=tokens["operator"])
    assert r.status_code == status, r.text
    assert words in r.text
    assert _count(service, Rollout) == 0 and _count(service, CommandRow) == 0


def test_a_bundle_rollout_may_carry_settings_alone_under_its_own_version(client, tokens, service):
    _pilot(client, tokens["operator"])
    body = {
        "kind": "bundle",
        "stages": ["pilot"],
        "version": "night-lang-1",
        "settings": {"kiosk": {"lang": "en"}},
    }
    r = client.post("/api/fleet/rollouts", json=body, headers=tokens["operator"])
    assert r.status_code == 202, r.text
    assert (r.json()["kind"], r.json()["version"]) == ("bundle", "night-lang-1")
    with service.db.transaction() as s:
        (row,) = s.scalars(select(CommandRow))
        assert row.payload["settings"] == {"kiosk": {"lang": "en"}}
        assert row.payload["catalog"] is None


def test_a_stranger_is_refused_before_its_size_and_a_rollout_number_past_the_table_is_422(
    client, tokens
):
    big = {"kind": "software", "stages": ["pilot"], "software": SOFTWARE, "note": "x" * 300_000}
    assert client.post("/api/fleet/rollouts", json=big).status_code == 401
    op = tokens["operator"]
    for rid in (0, 2**31, 2**63):
        assert client.get(f"/api/fleet/rollouts/{rid}", headers=op).status_code == 422, rid
        r = client.post(
            f"/api/fleet/rollouts/{rid}/actions",
            json={"action": "abort", "reason": "x"},
            headers=op,
        )
        assert r.status_code == 422, rid
    assert client.get(f"/api/fleet/rollouts/{2**31 - 1}", headers=op).status_code == 404
