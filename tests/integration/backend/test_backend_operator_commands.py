"""Operators' commands from the API to a real terminal over mutual TLS, and their life across
an offline terminal and a backend restart."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from backend_integration_factories import KEY, TERMINAL, wait_for
from enrolled_terminal import enrolled_for
from fastapi.testclient import TestClient

from allhours.bootstrap import training_terminal
from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.operator_commands import OperatorCommands

pytestmark = pytest.mark.broker


def _node(tmp_path, mosquitto):
    data_dir = enrolled_for(mosquitto, tmp_path / "terminal", TERMINAL, pickup_code_key=KEY)
    return training_terminal(data_dir).node


def _answered(client, operator, command_id: str) -> dict:
    def row() -> dict:
        rows = client.get(f"/api/fleet/terminals/{TERMINAL}/commands", headers=operator).json()
        return next(r for r in rows if r["command_id"] == command_id)

    wait_for(
        lambda: row()["status"] in ("done", "failed", "expired"), 30, f"the answer to {command_id}"
    )
    return row()


def test_open_diagnose_resync_and_restart_reach_the_terminal_and_come_back(
    tmp_path, mosquitto, make_service
):
    service = make_service()
    node = _node(tmp_path, mosquitto)
    restarts = threading.Event()
    node.restart, node.restart_delay_s = restarts.set, 0.1
    node.start()
    try:
        assert node.link.connected.wait(30)
        with TestClient(create_app(service)) as client:
            operator = bearer(account_with_token(service.db, "op.li", ["operator"])[1])

            def send(**body) -> str:
                r = client.post(
                    f"/api/fleet/terminals/{TERMINAL}/commands", json=body, headers=operator
                )
                assert r.status_code == 202, r.text
                return r.json()["command_id"]

            opened = _answered(
                client,
                operator,
                send(command="open_compartment", compartment_id="A03", reason="door jammed"),
            )
            assert opened["status"] == "done" and opened["result"]["compartment_id"] == "A03"
            assert opened["result"]["door"] and opened["issued_by"] == "op.li"
            assert opened["note"] == "door jammed"
            journal = [r for r in node.journal.records() if r.compartment_id == "A03"]
            assert any(r.body.get("reason") == "operator: door jammed" for r in journal)

            wrong = _answered(
                client,
                operator,
                send(command="open_compartment", compartment_id="Z99", reason="test"),
            )
            assert wrong["status"] == "failed" and "Z99" in wrong["detail"]

            diag = _answered(client, operator, send(command="fetch_diagnostics", reason="check"))
            assert diag["status"] == "done"
            assert diag["result"]["config_version"] == "builtin"
            assert json.loads(diag["result"]["compartments"])
            assert diag["result"]["healthy"] in ("true", "false")

            resync = _answered(client, operator, send(command="resync_state", reason="stale"))
            assert resync["status"] == "done" and resync["result"]["pickups_requeued"] == "0"

            restart = _answered(client, operator, send(command="restart_kiosk", reason="frozen"))
            assert restart["status"] == "done" and restarts.wait(10)
    finally:
        node.stop()


def test_an_offline_terminal_gets_only_what_has_not_expired_across_a_backend_restart(
    tmp_path, mosquitto, make_service
):
    first = make_service()
    # The terminal has been online before (its broker session exists), then goes away.
    node = _node(tmp_path, mosquitto).start()
    assert node.link.connected.wait(30)
    node.stop()
    lasting = OperatorCommands(first.db, first).issue(
        TERMINAL, "fetch_diagnostics", "op.li", "morning check"
    )
    short = OperatorCommands(first.db, first, ttl=timedelta(seconds=1)).issue(
        TERMINAL, "resync_state", "op.li", "too late"
    )
    first.stop()
    time.sleep(1.5)  # the short one expires while backend and terminal are both away
    second = make_service()  # same database: re-sends what is open, expires the rest
    node = _node(tmp_path, mosquitto)
    node.start()
    try:
        with TestClient(create_app(second)) as client:
            operator = bearer(account_with_token(second.db, "op.wu", ["operator"])[1])
            done = _answered(client, operator, lasting.message_id)
            assert done["status"] == "done" and done["result"]["software_version"]
            gone = _answered(client, operator, short.message_id)
            assert gone["status"] == "expired"
    finally:
        node.stop()
