"""An operator takes a terminal out of service from the API and puts it back, over the real
broker and backend: the signed command reaches the terminal, the kiosk shows its page, a loaded
result can still be picked up by touch, the fleet view shows it, a restart keeps it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from allhours.bootstrap import build_terminal
from allhours.settings import load_terminal_config
from allhours.site import LocalSite
from allhours.wiring import EmulatedDevices
from backend.auth.bootstrap import account_with_token, bearer
from cloud_bridge.link import wait_until
from demo_support.tour import SAMPLE_CODE, _arm_pickup, type_pickup
from locker.compartment import State
from terminal.ui.driver import KioskDriver
from terminal.ui.kiosk import Kiosk

pytestmark = pytest.mark.broker

FINISHED = ("done", "failed", "rejected", "expired")


def _send(api: httpx.Client, terminal_id: str, **body: str) -> dict:
    url = f"/api/fleet/terminals/{terminal_id}/commands"
    r = api.post(url, json=body)
    assert r.status_code == 202, r.text
    command_id = r.json()["command_id"]

    def answered() -> dict | None:
        rows = api.get(url).json()
        row = next((x for x in rows if x["command_id"] == command_id), None)
        return row if row and row["status"] in FINISHED else None

    row = wait_until(answered, 30, 0.1)
    assert row, f"no answer to {body}"
    return row


def _service(api: httpx.Client, terminal_id: str) -> dict:
    rows = api.get("/api/terminals").json()
    row = next(t for t in rows if t["terminal_id"] == terminal_id)
    return (row.get("telemetry") or {}).get("service") or {}


def shown(widget) -> bool:
    return widget.get_root_window() is not None


def test_out_of_service_from_the_api_to_the_kiosk_and_back(tmp_path: Path):
    with LocalSite(tmp_path, telemetry_interval_s=2) as site:
        _, token = account_with_token(site.backend.service.db, "op.li", ["operator"])
        api = httpx.Client(base_url=site.backend.base_url, headers=bearer(token), timeout=30)
        tid = site.terminal_id
        node = site.node
        _arm_pickup(node, site.identity.bundle.pickup_code_key)
        kiosk = Kiosk(node, lang="zh", strict_i18n=True, card_poll_s=0.02)
        drv = KioskDriver(kiosk)
        s = kiosk.screens
        try:
            drv.wait_for(lambda: kiosk.online, 30, "online")
            drv.wait_screen("home")
            out = _send(
                api,
                tid,
                command="out_of_service",
                service_reason="site_closed",
                reason="大堂装修",
            )
            assert out["status"] == "done" and out["result"]["scope"] == "terminal", out
            drv.wait_screen("out_of_service")
            page = s["out_of_service"]
            assert page.what.text == kiosk.t("out_of_service.closed")
            assert kiosk.t("service.reason.site_closed") in page.why.text
            assert shown(page.pickup_button) and shown(page.staff_button)
            assert wait_until(lambda: _service(api, tid).get("terminal"), 30, 0.2)
            assert _service(api, tid)["terminal"]["reason"] == "site_closed"

            # No new submission: the kiosk stays on its page, the node refuses the flow.
            kiosk.begin_submission()
            assert kiosk.current == "out_of_service" and kiosk.submission is None

            # The result already loaded goes out by touch.
            drv.tap(page.pickup_button)
            drv.wait_screen("pickup_code")
            type_pickup(drv, s["pickup_code"], SAMPLE_CODE)
            drv.wait_screen("pickup_open", timeout=20)
            opened = s["pickup_open"]
            if shown(opened.yes_button):
                drv.tap(opened.yes_button)
            drv.wait_for(lambda: shown(opened.done_button), 20, "the door open")
            drv.tap(opened.done_button)
            drv.wait_screen("out_of_service")  # the session ends on the page, not the home
            assert all(c.state == State.EMPTY for c in node.locker.compartments())

            # One compartment, locked; an unknown one is refused by the terminal.
            one = _send(
                api,
                tid,
                command="out_of_service",
                compartment_id="A02",
                hold="locked",
                service_reason="device_fault",
                reason="门磁故障",
            )
            assert one["status"] == "done" and node.locker.held() == {"A02": True}
            bad = _send(
                api,
                tid,
                command="out_of_service",
                compartment_id="Z99",
                service_reason="cleaning",
                reason="x",
            )
            assert bad["status"] in ("failed", "rejected") and "Z99" in bad["detail"]
            assert wait_until(lambda: "A02" in _service(api, tid).get("compartments", {}), 30, 0.2)
        finally:
            drv.close()

        # The kiosk restarts: it comes back out of service, with A02 still held.
        node.stop()
        settings = load_terminal_config(tmp_path / "terminal.toml", site.clock())
        site.node = node = build_terminal(settings, emulated=EmulatedDevices()).node
        node.start()
        kiosk = Kiosk(node, lang="en", strict_i18n=True, card_poll_s=0.02)
        drv = KioskDriver(kiosk)
        try:
            drv.wait_screen("out_of_service")
            assert node.locker.held() == {"A02": True}
            drv.wait_for(lambda: kiosk.online, 30, "online again")
            back = _send(
                api, tid, command="back_in_service", service_reason="checked", reason="reopened"
            )
            assert back["status"] == "done", back
            drv.wait_screen("home")
            back_one = _send(
                api,
                tid,
                command="back_in_service",
                compartment_id="A02",
                service_reason="repaired",
                reason="sensor replaced",
            )
            assert back_one["status"] == "done" and node.locker.held() == {}
            assert wait_until(
                lambda: _service(api, tid) == {"terminal": None, "compartments": {}}, 30, 0.2
            )
            assert kiosk.t.misses == set()
        finally:
            drv.close()
            api.close()
