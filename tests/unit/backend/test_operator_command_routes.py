"""Operators' command routes: operators only, every refusal clear, nothing recorded on refusal."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL
from sqlalchemy import func, select

from backend.models import CommandRow
from backend.service import BackendService

URL = f"/api/fleet/terminals/{TERMINAL}/commands"


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    yield svc
    svc.stop()


def _rows(service) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(CommandRow))


def test_only_operators_send_commands_and_each_is_kept_with_its_author(client, tokens, service):
    body = {"command": "open_compartment", "compartment_id": "A03", "reason": "door jammed"}
    assert client.post(URL, json=body).status_code == 401
    for role in ("clerk", "supervisor", "admin"):
        r = client.post(URL, json=body, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "terminals.command"), role
    assert _rows(service) == 0
    r = client.post(URL, json=body, headers=tokens["operator"])
    assert r.status_code == 202
    shown = client.get(URL, headers=tokens["supervisor"]).json()
    assert len(shown) == 1
    row = shown[0]
    assert (row["type"], row["status"], row["issued_by"], row["note"]) == (
        "command.open_compartment",
        "queued",
        "operator.one",
        "door jammed",
    )
    assert row["command_id"] == r.json()["command_id"]
    assert client.get(URL, headers=tokens["clerk"]).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"command": "format_disk", "reason": "x"}, 422, "open_compartment"),
        ({"command": "open_compartment", "reason": "x"}, 422, "needs a compartment_id"),
        (
            {"command": "restart_kiosk", "compartment_id": "A01", "reason": "x"},
            422,
            "takes no compartment_id",
        ),
        ({"command": "restart_kiosk"}, 422, "reason"),
        ({"command": "restart_kiosk", "reason": "x" * 201}, 422, "200"),
        ({"command": "resync_state", "reason": "x", "extra": 1}, 422, "extra"),
        ({"command": "open_compartment", "compartment_id": "A 1", "reason": "x"}, 422, "pattern"),
    ],
)
def test_a_bad_command_is_refused_clearly_and_nothing_is_sent(
    client, tokens, service, body, status, words
):
    r = client.post(URL, json=body, headers=tokens["operator"])
    assert r.status_code == status and words in r.text
    assert _rows(service) == 0


def test_a_command_to_an_unknown_terminal_is_404(client, tokens, service):
    r = client.post(
        "/api/fleet/terminals/T0999/commands",
        json={"command": "resync_state", "reason": "x"},
        headers=tokens["operator"],
    )
    assert r.status_code == 404 and "T0999" in r.text and _rows(service) == 0
