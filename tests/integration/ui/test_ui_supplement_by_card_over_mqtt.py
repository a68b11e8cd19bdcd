"""Bring a missing material with the ID card, by touch, over the real broker and backend.

A private Mosquitto, the real backend and an emulated terminal (LocalSite). The citizen taps
"bring a missing material" on the home page, places their card, passes the live face check
(the emulated person in front of the camera reads the prompts), sees their applications that
owe something, picks one, scans the owed material and sends it: it lands on that application
and a clerk sees it arrive on the case page. A different person's card sees nothing; a closed
application is not offered; a staff supplement request naming a material is fulfilled at the
kiosk with the application number and phone tail, and the case goes back to review.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from allhours.site import LocalSite
from backend.auth.accounts import Accounts
from backend.models import Application, Material, MaterialSupplement, RequestedMaterial
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples
from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from privacy import mask_id_number
from terminal.ui.driver import KioskDriver
from terminal.ui.kiosk import Kiosk, walk

pytestmark = pytest.mark.broker

ZHANG = IdentityDocument(  # the applicant of the canonical submission
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    birth_date=date(1949, 12, 31),
    expiry_date=date(2036, 3, 1),
)
LI = IdentityDocument(
    document_type="cn_resident_id",
    name="李四",
    number="11010519800101123X",
    birth_date=date(1980, 1, 1),
    expiry_date=date(2035, 1, 1),
)
NO = "AH-T0001-20261120-0001"  # phone 13800138000, item HJ-0101
CLOSED = "AH-T0001-20261120-0002"  # the same applicant's, refused by staff
LIS = "AH-T0001-20261120-0003"  # another person's, owing too
PASSWORD = "Night-Shift-2026"


def submit(site: LocalSite, no: str, doc: IdentityDocument, owed: str = "household-register"):
    base = examples()["event.application_submitted"]
    event = base.model_copy(
        update={
            "message_id": m.new_message_id(),
            "operation_id": no,
            "application_no": no,
            "applicant": base.applicant.model_copy(
                update={"name": doc.name, "id_number": doc.number}
            ),
            "reused_materials": [],
            "tolerated_missing": [m.ToleratedMaterial(material_code=owed, working_days=5)],
        }
    )
    assert site.backend.service.ingest.handle_batch([(event.topic(), event.encode())]).stored


def kiosk_for(site: LocalSite, lang: str = "en") -> tuple[Kiosk, KioskDriver]:
    kiosk = Kiosk(site.node, lang=lang, strict_i18n=True, card_poll_s=0.02)
    drv = KioskDriver(kiosk)
    drv.wait_for(lambda: kiosk.online, timeout=30, what="online")
    return kiosk, drv


def through_card_and_face(drv: KioskDriver, site: LocalSite, doc: IdentityDocument) -> None:
    s = drv.kiosk.screens
    drv.tap(s["home"].choices["supplement"])
    drv.wait_screen("card")
    site.devices.reader.place(replace(doc, photo=site.devices.card_photo or b""))
    drv.wait_screen("supplement", timeout=120)  # the live check takes its prompts' time


def shown_anywhere(kiosk: Kiosk, needles: set[str]) -> list[str]:
    """Texts of any widget of any screen that still hold one of `needles`."""
    trees = [kiosk.root, *kiosk.screens.values()]
    texts = [getattr(w, "text", None) for tree in trees for w in walk(tree)]
    return [t for t in texts if isinstance(t, str) and any(n in t for n in needles)]


def case_page(site: LocalSite, no: str) -> str:
    """The case page as a signed-in clerk sees it."""
    Accounts(site.backend.service.db).add(
        "clerk.li", ["clerk"], password=PASSWORD, must_change_password=False
    )
    with httpx.Client(base_url=site.backend.base_url, timeout=10) as client:
        r = client.post("/api/session", json={"username": "clerk.li", "password": PASSWORD})
        assert r.status_code == 200, r.text
        page = client.get(f"/console/applications/{no}")
        assert page.status_code == 200
        return page.text


def test_card_face_list_scan_and_send_reaches_the_case_and_a_clerk_sees_it(tmp_path: Path):
    with LocalSite(tmp_path, live_face=True) as site:
        assert site.backend and site.node and site.devices
        db = site.backend.service.db
        submit(site, NO, ZHANG)
        submit(site, CLOSED, ZHANG, owed="lease")
        desk = site.backend.service.desk
        desk.step(CLOSED, "accept", "staff-1")
        desk.step(CLOSED, "reject", "staff-1", reason="not_eligible")
        submit(site, LIS, LI)
        kiosk, drv = kiosk_for(site)
        s = kiosk.screens
        try:
            through_card_and_face(drv, site, ZHANG)
            sup = s["supplement"]
            drv.wait_for(lambda: sup.case_buttons, timeout=30, what="the owing applications")
            # Only the applicant's own open case: not the refused one, not another person's.
            assert list(sup.case_buttons) == [NO]
            assert sup.hint.text == kiosk.t("supplement.choose")
            case = sup.case_buttons[NO]
            item = next(i for i in site.node.parts.catalog if i.code == "HJ-0101")
            assert item.name_en in case.text
            assert "2026-11-21" in case.text and ZHANG.number not in case.text
            assert kiosk.supplement is not None and kiosk.supplement.document is None
            drv.tap(case)
            row = drv.wait_for(lambda: sup.row_buttons.get("household-register"), what="row")
            assert list(sup.row_buttons) == ["household-register"]
            assert "2026-11-27" in row.text
            drv.tap(row)
            drv.wait_screen("scan")
            scan = s["scan"]
            drv.wait_for(lambda: scan.preview.frames > 0, what="a page on screen")
            drv.tap(scan.scan_button)
            drv.wait_screen("supplement", timeout=60)
            drv.tap(sup.send_button)
            drv.wait_for(
                lambda: sup.hint.text == kiosk.t("supplement.sent", number=NO), what="sent"
            )

            def arrived():
                with db.transaction() as session:
                    owed = session.scalar(
                        select(MaterialSupplement).where(MaterialSupplement.application_no == NO)
                    )
                    files = session.scalars(
                        select(Material).where(
                            Material.application_no == NO,
                            Material.material_code == "household-register",
                            Material.verified.is_(True),
                        )
                    ).all()
                    return owed.supplied_at is not None and len(files) == 1

            assert wait_until(arrived, 60, 0.2), "the scan never reached the application"
            page = case_page(site, NO)
            assert 'data-testid="arrived"' in page
            assert "supplement received: household-register (ID card and face)" in page
            assert 'data-testid="open-household-register"' in page
            drv.tap(sup.finish_button)
            drv.wait_screen("home")
            drv.pump(2)
            assert shown_anywhere(kiosk, {ZHANG.number, mask_id_number(ZHANG.number), NO}) == []
        finally:
            drv.close()


def test_another_persons_card_sees_nothing_in_either_language(tmp_path: Path):
    with LocalSite(tmp_path) as site:
        assert site.backend and site.node and site.devices
        submit(site, NO, ZHANG)
        kiosk, drv = kiosk_for(site, lang="zh")
        try:
            through_card_and_face(drv, site, LI)
            sup = kiosk.screens["supplement"]
            drv.wait_for(
                lambda: sup.error.text == kiosk.t("supplement.error.none_owing"),
                timeout=30,
                what="nothing for this card",
            )
            assert "没有" in sup.error.text and sup.case_buttons == {}
            kiosk.set_language("en")
            assert sup.error.text == kiosk.t("supplement.error.none_owing")
            assert "None of your applications" in sup.error.text
            assert site.node.owing.answered == 1
        finally:
            drv.close()


def test_a_staff_request_naming_a_material_is_fulfilled_with_number_and_tail(tmp_path: Path):
    with LocalSite(tmp_path) as site:
        assert site.backend and site.node and site.devices
        db = site.backend.service.db
        submit(site, NO, ZHANG)
        desk = site.backend.service.desk
        desk.step(NO, "accept", "staff-1")
        desk.step(
            NO, "request_supplement", "staff-1", reason="unclear_scan", materials=["id-card-copy"]
        )
        kiosk, drv = kiosk_for(site)
        s = kiosk.screens
        try:
            q = s["query"]
            drv.tap(s["home"].choices["query"])
            drv.wait_screen("query")
            drv.type(q.keypad, NO.replace("-", ""))
            drv.tap(q.next_button)
            drv.type(q.tail_keypad, "8000")
            drv.tap(q.search_button)
            drv.wait_for(lambda: q.bring_button.get_root_window(), timeout=30, what="bring")
            assert kiosk.t("reason.supplement.unclear_scan") in q.details.text
            drv.tap(q.bring_button)
            drv.wait_screen("supplement")
            sup = s["supplement"]
            row = drv.wait_for(lambda: sup.row_buttons.get("id-card-copy"), what="asked row")
            # What staff asked for and why, next to what was tolerated missing at submission.
            assert sorted(sup.row_buttons) == ["household-register", "id-card-copy"]
            assert kiosk.t("reason.supplement.unclear_scan") in row.text
            drv.tap(row)
            drv.wait_screen("scan")
            drv.wait_for(lambda: s["scan"].preview.frames > 0, what="a page on screen")
            drv.tap(s["scan"].scan_button)
            drv.wait_screen("supplement", timeout=60)
            drv.tap(sup.send_button)
            drv.wait_for(
                lambda: sup.hint.text == kiosk.t("supplement.sent", number=NO), what="sent"
            )

            def back_to_review():
                with db.transaction() as session:
                    asked = session.scalar(
                        select(RequestedMaterial).where(RequestedMaterial.application_no == NO)
                    )
                    app = session.get(Application, NO)
                    return asked.supplied_at is not None and app.status == "under_review"

            assert wait_until(back_to_review, 60, 0.2), "the requested scan never arrived"
        finally:
            drv.close()
