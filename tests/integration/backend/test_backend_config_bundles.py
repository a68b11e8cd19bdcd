"""A catalog bundle from the console's API to a real terminal and back, over mutual TLS.

An admin published the catalog versions in the editor; the operator pushes them by number. The
backend (in process, real Mosquitto) sends them signed; the terminal node (emulated devices, a
locker with no large compartment) applies one or rolls it back; the operator reads the outcome
and the terminal's words in GET /api/fleet/bundles.
"""

from __future__ import annotations

import copy
import tomllib

import pytest
from backend_integration_factories import KEY, TERMINAL, wait_for
from enrolled_terminal import enrolled_for
from fastapi.testclient import TestClient

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from backend import catalog_editor as editor
from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import utcnow
from cloud_bridge.contract.catalog import BUILTIN_PATH, find_item
from locker.layout import CompartmentSpec, Size

pytestmark = pytest.mark.broker

SMALL_LOCKER = [CompartmentSpec(f"A{n:02d}", Size.S if n <= 4 else Size.M, n) for n in range(1, 8)]


def _doc() -> dict:
    return copy.deepcopy(tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8")))


def _published(service, number: int, doc: dict) -> int:
    """`doc` as catalog version `number`, published by an admin in the catalog editor."""
    doc["version"] = editor.version_label(number)
    with service.db.transaction() as s:
        s.add(
            editor.CatalogVersion(
                number=number,
                state=editor.PUBLISHED,
                document=doc,
                created_by="admin.wu",
                published_by="admin.wu",
                published_at=utcnow(),
            )
        )
    return number


def _item(doc: dict, code: str) -> dict:
    return next(i for i in doc["item"] if i["code"] == code)


def test_the_operator_sees_a_bundle_run_and_a_breaking_one_rolled_back_with_the_reason(
    tmp_path, mosquitto, make_service
):
    service = make_service()
    node = training_terminal(
        enrolled_for(mosquitto, tmp_path / "terminal", TERMINAL, pickup_code_key=KEY),
        devices=EmulatedDevices(layout=SMALL_LOCKER),
    ).node
    node.start()
    try:
        assert node.link.connected.wait(30)
        with TestClient(create_app(service)) as client:
            operator = bearer(account_with_token(service.db, "op.li", ["operator"])[1])

            def latest() -> dict:
                return client.get("/api/fleet/bundles", headers=operator).json()[0]

            good = _doc()
            _item(good, "SB-0203")["fee_fen"] = 500
            r = client.post(
                "/api/fleet/bundles",
                json={
                    "terminals": [TERMINAL],
                    "catalog_version": _published(service, 1, good),
                    "note": "new fee",
                },
                headers=operator,
            )
            assert r.status_code == 202
            wait_for(
                lambda: latest()["status"] not in ("queued", "sent", "delivered"),
                30,
                "the terminal's answer",
            )
            shown = latest()
            assert (shown["status"], shown["running"], shown["issued_by"]) == (
                "done",
                "catalog-1",
                "op.li",
            )
            assert find_item("SB-0203", node.parts.catalog).fee_fen == 500

            bad = _doc()
            _item(bad, "GS-0307")["pickup"]["result_size"] = "L"
            r = client.post(
                "/api/fleet/bundles",
                json={"terminals": [TERMINAL], "catalog_version": _published(service, 2, bad)},
                headers=operator,
            )
            assert r.status_code == 202
            wait_for(
                lambda: latest()["status"] not in ("queued", "sent", "delivered"),
                30,
                "the terminal's answer",
            )
            shown = latest()
            assert shown["version"] == "catalog-2" and shown["status"] == "failed"
            assert shown["detail"] == (
                "rolled back to catalog-1: catalog: GS-0307 needs a size L compartment,"
                " the largest is M"
            )
            assert shown["running"] == "catalog-1"
            assert node.config.active_version() == "catalog-1"
    finally:
        node.stop()
