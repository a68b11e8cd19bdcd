"""Configuration bundle routes on the real API: who may push, what is refused, what is kept."""

from __future__ import annotations

import copy
import tomllib

import pytest
from backend_unit_factories import KEY, TERMINAL
from sqlalchemy import func, select

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


def test_only_operators_and_admins_push_and_every_push_names_its_author(client, tokens, service):
    body = {"terminals": [TERMINAL], "catalog": _doc(), "note": "fees of 2027"}
    assert client.post("/api/fleet/bundles", json=body).status_code == 401
    for role in ("clerk", "supervisor"):
        r = client.post("/api/fleet/bundles", json=body, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "fleet.configure"), role
    assert _rows(service) == 0
    r = client.post("/api/fleet/bundles", json=body, headers=tokens["operator"])
    assert r.status_code == 202 and r.json() == {"version": "dc-2026.12-1", "terminals": [TERMINAL]}
    everyone = {"terminals": "all", "catalog": _doc("dc-2026.12-2")}
    r = client.post("/api/fleet/bundles", json=everyone, headers=tokens["admin"])
    assert r.json()["terminals"] == [TERMINAL, "T0002"]
    shown = client.get("/api/fleet/bundles", headers=tokens["supervisor"]).json()
    assert [(x["terminal_id"], x["version"], x["status"], x["issued_by"]) for x in shown][-1] == (
        TERMINAL,
        "dc-2026.12-1",
        "queued",
        "operator.one",
    )
    assert shown[-1]["note"] == "fees of 2027"
    assert client.get("/api/fleet/bundles", headers=tokens["clerk"]).status_code == 403


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        (lambda b: b["catalog"]["item"][0].update(promised_days=99), 422, "promised 99 days"),
        (lambda b: b["catalog"].update(version="builtin"), 422, "reserved"),
        (lambda b: b.update(terminals=["T0009"]), 422, "unknown terminal(s): T0009"),
        (lambda b: b.update(terminals=["T 1"]), 422, "pattern"),
        (lambda b: b.update(extra=1), 422, "extra"),
        (lambda b: b.update(note="x" * 501), 422, "500"),
        (lambda b: b["catalog"].update(padding="x" * 300_000), 413, "at most"),
    ],
)
def test_a_bad_push_is_refused_clearly_and_records_nothing(
    client, tokens, service, change, status, words
):
    body = {"terminals": [TERMINAL], "catalog": _doc()}
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
    body = {"terminals": [TERMINAL], "catalog": _doc() | {"padding": "x" * 300_000}}
    assert client.post("/api/fleet/bundles", json=body).status_code == 401
    assert _rows(service) == 0
