"""Configuration bundle routes on the real API: who may push, what is refused, what is kept."""

from __future__ import annotations

import copy
import tomllib

import pytest
from backend_unit_factories import KEY, TERMINAL
from sqlalchemy import func, select

from backend import catalog_editor as editor
from backend.models import CommandRow
from backend.service import BackendService
from cloud_bridge.contract.catalog import BUILTIN_PATH

DOC = tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


def _doc(version: str = "dc-2026.12-1") -> dict:
    doc = copy.deepcopy(DOC)
    doc["version"] = version
    return doc


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.register_terminal("T0002", KEY)
    yield svc
    svc.stop()


def _rows(service) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(CommandRow))


def _published(service, by: str = "admin.one") -> int:
    """A catalog version published in the editor (an admin's work): HJ-0101 disabled."""
    with service.db.transaction() as s:
        editor.set_disabled(s, by, "HJ-0101", True)
        return editor.publish(s, by, "HJ-0101 paused").number


def _history(service) -> list[tuple[str, str, str]]:
    with service.db.reading() as s:
        return [(e.action, e.actor, e.subject) for e in reversed(editor.edits(s))]


def test_only_operators_and_admins_push_and_every_push_names_its_author(client, tokens, service):
    number = _published(service)
    body = {"terminals": [TERMINAL], "catalog_version": number, "note": "fees of 2027"}
    assert client.post("/api/fleet/bundles", json=body).status_code == 401
    for role in ("clerk", "supervisor"):
        r = client.post("/api/fleet/bundles", json=body, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "fleet.configure"), role
    assert _rows(service) == 0
    r = client.post("/api/fleet/bundles", json=body, headers=tokens["operator"])
    assert r.status_code == 202 and r.json() == {"version": "catalog-1", "terminals": [TERMINAL]}
    everyone = {"terminals": "all", "catalog_version": number}
    r = client.post("/api/fleet/bundles", json=everyone, headers=tokens["admin"])
    assert r.json()["terminals"] == [TERMINAL, "T0002"]
    shown = client.get("/api/fleet/bundles", headers=tokens["supervisor"]).json()
    assert [(x["terminal_id"], x["version"], x["status"], x["issued_by"]) for x in shown][-1] == (
        TERMINAL,
        "catalog-1",
        "queued",
        "operator.one",
    )
    assert shown[-1]["note"] == "fees of 2027"
    assert client.get("/api/fleet/bundles", headers=tokens["clerk"]).status_code == 403
    with service.db.reading() as s:
        sent = s.scalars(select(CommandRow)).first().payload["catalog"]
        assert sent == editor.published(s, number).document  # the published one, as published
    # Each push is in the catalog's history with who sent it where.
    assert _history(service)[-2:] == [
        ("push", "operator.one", TERMINAL),
        ("push", "admin.one", "all"),
    ]


def test_an_operator_cannot_send_a_catalog_of_their_own_by_push_or_rollout(client, tokens, service):
    # Found in review: an operator (no catalog.edit) set HJ-0101's fee 0 -> 500000 fen on every
    # kiosk through a raw catalog document; the catalog's history and versions showed nothing.
    doc = _doc("op-fees-1")
    doc["item"][0]["fee_fen"] = 500000
    push = {"terminals": "all", "catalog": doc, "note": "routine"}
    r = client.post("/api/fleet/bundles", json=push, headers=tokens["operator"])
    assert (r.status_code, r.json().get("reason")) == (403, "catalog.edit")
    op = tokens["operator"]
    assert client.post("/api/fleet/groups", json={"name": "pilot"}, headers=op).status_code == 201
    added = {"terminals": [TERMINAL]}
    assert client.post("/api/fleet/groups/pilot/members", json=added, headers=op).is_success
    rollout = {"kind": "bundle", "stages": ["pilot"], "catalog": doc}
    r = client.post("/api/fleet/rollouts", json=rollout, headers=tokens["operator"])
    assert (r.status_code, r.json().get("reason")) == (403, "catalog.edit")
    # Not even an admin sends a catalog past the editor: publish it, then push its number.
    for path, body in (("/api/fleet/bundles", push), ("/api/fleet/rollouts", rollout)):
        r = client.post(path, json=body, headers=tokens["admin"])
        assert r.status_code == 422 and "published version" in r.json()["detail"], path
    assert _rows(service) == 0
    assert client.get("/api/fleet/rollouts", headers=tokens["operator"]).json() == []
    # A published version is fleet work: the operator rolls it out.
    number = _published(service)
    rollout = {"kind": "bundle", "stages": ["pilot"], "catalog_version": number}
    r = client.post("/api/fleet/rollouts", json=rollout, headers=tokens["operator"])
    assert r.status_code == 202 and r.json()["version"] == "catalog-1", r.text
    with service.db.reading() as s:
        (row,) = s.scalars(select(CommandRow))
        assert row.payload["catalog"]["version"] == "catalog-1"
    assert _history(service)[-1][:2] == ("push", "operator.one")


def test_layout_and_settings_alone_stay_fleet_work(client, tokens, service):
    body = {
        "terminals": [TERMINAL],
        "version": "night-lang-1",
        "settings": {"kiosk": {"lang": "en"}},
    }
    r = client.post("/api/fleet/bundles", json=body, headers=tokens["operator"])
    assert r.status_code == 202 and r.json()["version"] == "night-lang-1"
    with service.db.reading() as s:
        (row,) = s.scalars(select(CommandRow))
        assert row.payload["catalog"] is None


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        (lambda b: b.update(catalog_version=9), 422, "no published catalog version 9"),
        (lambda b: b.update(catalog_version=2), 422, "no published catalog version 2"),  # draft
        (lambda b: b.update(catalog_version=0), 422, "greater than or equal to 1"),
        (lambda b: b.update(catalog_version=2**31), 422, "less than or equal to"),
        (lambda b: b.update(terminals=["T0009"]), 422, "unknown terminal(s): T0009"),
        (lambda b: b.update(terminals=["T 1"]), 422, "pattern"),
        (lambda b: b.update(extra=1), 422, "extra"),
        (lambda b: b.update(note="x" * 501), 422, "500"),
        (lambda b: b.update(padding="x" * 300_000), 413, "at most"),
    ],
)
def test_a_bad_push_is_refused_clearly_and_records_nothing(
    client, tokens, service, change, status, words
):
    number = _published(service)
    with service.db.transaction() as s:  # version 2: a draft, not published
        editor.set_disabled(s, "admin.one", "HJ-0101", False)
    body = {"terminals": [TERMINAL], "catalog_version": number}
    change(body)
    r = client.post("/api/fleet/bundles", json=body, headers=tokens["operator"])
    assert r.status_code == status
    assert words in r.text
    assert _rows(service) == 0


def test_a_rollback_needs_a_reason_and_is_recorded(client, tokens, service):
    r = client.post(
        "/api/fleet/bundles/rollback", json={"terminals": [TERMINAL]}, headers=tokens["operator"]
    )
    assert r.status_code == 422 and _rows(service) == 0
    r = client.post(
        "/api/fleet/bundles/rollback",
        json={"terminals": [TERMINAL], "reason": "wrong fee"},
        headers=tokens["operator"],
    )
    assert r.status_code == 202
    shown = client.get("/api/fleet/bundles", headers=tokens["operator"]).json()
    assert shown[0]["kind"] == "rollback" and shown[0]["note"] == "wrong fee"


def test_a_stranger_is_refused_before_the_size_of_its_push(client, service):
    body = {"terminals": [TERMINAL], "catalog_version": 1, "padding": "x" * 300_000}
    assert client.post("/api/fleet/bundles", json=body).status_code == 401
    assert _rows(service) == 0
