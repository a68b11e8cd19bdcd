"""Materials on file offered on the checklist by the real backend, over the real broker.

A first application is made and accepted by staff; at the second one the kiosk asks the
backend what it holds, and the citizen taps "use the one we hold" instead of scanning.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from allhours.site import LocalSite
from backend.auth.bootstrap import account_with_token, bearer
from cloud_bridge.contract.catalog import add_months
from cloud_bridge.contract.messages import SERVICE_TZ
from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from terminal.materials.checklist import MaterialStatus
from terminal.ui.driver import KioskDriver
from terminal.ui.kiosk import Kiosk

pytestmark = pytest.mark.broker

CITIZEN = IdentityDocument(
    document_type="cn_resident_id",
    name="王五",
    number="110105197507070018",
    birth_date=date(1975, 7, 7),
    expiry_date=date(2035, 7, 7),
)
PHONE = "13700137000"


def _clerk(site: LocalSite) -> dict[str, str]:
    _, token = account_with_token(site.backend.service.db, "clerk.li", ["clerk"])
    return bearer(token)


def first_application(site: LocalSite, api: httpx.Client) -> str:
    """Both materials scanned, sent, verified and accepted by a clerk."""
    site.devices.reader.place(CITIZEN)
    flow = site.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone(PHONE)
    flow.scan_material("id-card-copy")
    flow.scan_material("household-register")
    flow.finish_materials()
    flow.skip_deposit()
    no = flow.submit().application_no

    def ingested():
        r = api.get(f"/api/applications/{no}")
        d = r.json() if r.status_code == 200 else None
        return d and len(d["materials"]) == 2 and all(m["verified"] for m in d["materials"])

    assert wait_until(ingested, 30, 0.1), "the first application never reached the backend"
    r = api.post(f"/api/applications/{no}/accept", json={})
    assert r.status_code == 200, r.text
    return no


def test_the_checklist_offers_what_the_backend_holds_and_the_receipt_counts_it(tmp_path: Path):
    with (
        LocalSite(tmp_path) as site,
        httpx.Client(base_url=site.backend.base_url, headers=_clerk(site)) as api,
    ):
        first = first_application(site, api)
        kiosk = Kiosk(site.node, lang="en", strict_i18n=True, card_poll_s=0.02)
        drv = KioskDriver(kiosk)
        s = kiosk.screens
        try:
            drv.wait_for(lambda: kiosk.online, what="online")
            drv.tap(s["home"].choices["submit"])
            drv.wait_screen("card")
            site.devices.reader.place(CITIZEN)
            drv.wait_screen("catalog")
            drv.tap(s["catalog"].item_buttons["HJ-0101"])
            drv.tap(s["item"].apply_button)
            drv.type(s["phone"].keypad, PHONE)
            drv.tap(s["phone"].nav.children[0])
            drv.wait_screen("materials")
            m = s["materials"]
            drv.wait_for(lambda: "reuse" in m.actions.get("id-card-copy", {}), what="an offer")
            assert m.checking.text == kiosk.t("materials.on_file_found", count=2)
            assert not m.next_button.disabled
            today = site.node.clock().astimezone(SERVICE_TZ).date()  # both sides count CST days
            assert m.actions["id-card-copy"]["reuse"].text == (
                "Use the one we hold (valid until 2035-07-07)"
            )
            six_months = add_months(today, 6)  # the register's reuse policy
            assert (
                f"valid until {six_months:%Y-%m-%d})"
                in m.actions["household-register"]["reuse"].text
            )
            offer = kiosk.submission.checklist.entry("id-card-copy").offer
            assert offer.captured_on == today  # given earlier today, in the service's calendar
            assert m.states["id-card-copy"].text == (
                f"We hold the copy you gave on {offer.captured_on:%Y-%m-%d} (1 page(s)), "
                "valid until 2035-07-07"
            )

            drv.tap(m.actions["id-card-copy"]["reuse"])
            drv.tap(m.actions["household-register"]["reuse"])
            flow = kiosk.submission
            assert [e.status for e in flow.checklist.entries.values()] == [
                MaterialStatus.REUSED,
                MaterialStatus.REUSED,
            ]
            assert "reuse" not in m.actions["id-card-copy"]
            assert m.states["id-card-copy"].text.startswith("✓ We hold the copy")
            drv.tap(m.next_button)
            drv.wait_screen("deposit")
            drv.tap(s["deposit"].skip_button)
            drv.wait_screen("review")
            drv.tap(s["review"].submit_button)
            drv.wait_screen("receipt")
            receipt = s["receipt"].receipt
            assert receipt.reused == 2 and receipt.materials == 0
            assert "2 material(s) used from what we already hold" in s["receipt"].lines.text
            second = receipt.application_no

            def reused_at_backend():
                r = api.get(f"/api/applications/{second}")
                d = r.json() if r.status_code == 200 else None
                ok = d and len(d["materials"]) == 2 and all(x["reused"] for x in d["materials"])
                return d if ok else None

            detail = wait_until(reused_at_backend, 30, 0.1)
            assert detail, "the backend never recorded the reused materials"
            assert first != second
        finally:
            drv.close()


def test_an_offline_kiosk_checks_nothing_and_offers_nothing(tmp_path: Path):
    with LocalSite(tmp_path) as site:
        site.node.link.stop()  # the network is down: the lookup cannot be sent
        kiosk = Kiosk(site.node, lang="en", strict_i18n=True, card_poll_s=0.02)
        drv = KioskDriver(kiosk)
        s = kiosk.screens
        try:
            drv.wait_for(lambda: not kiosk.online, what="offline")
            drv.tap(s["home"].choices["submit"])
            site.devices.reader.place(CITIZEN)
            drv.wait_screen("catalog")
            drv.tap(s["catalog"].item_buttons["HJ-0101"])
            drv.tap(s["item"].apply_button)
            drv.type(s["phone"].keypad, PHONE)
            drv.tap(s["phone"].nav.children[0])
            drv.wait_screen("materials")
            m = s["materials"]
            drv.wait_for(lambda: not m.next_button.disabled, what="the lookup given up")
            assert m.checking.text == "" and m.error.text == ""
            assert all("reuse" not in b for b in m.actions.values())
        finally:
            drv.close()
