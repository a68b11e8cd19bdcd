"""A whole submission and a whole pickup by touch on the real widgets, over the real broker.

A private Mosquitto, the real backend and an emulated terminal (LocalSite); the citizen and the
clerk only tap the kiosk's buttons and keys. The backend must end up with the application, and
the pickup must really pulse the compartment's lock.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest

from allhours.site import LocalSite
from backend.auth.bootstrap import account_with_token, bearer
from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from locker.compartment import State
from terminal.ui.driver import KioskDriver
from terminal.ui.kiosk import Kiosk, walk

pytestmark = pytest.mark.broker

CITIZEN = IdentityDocument(
    document_type="cn_resident_id",
    name="李四",
    number="11010519800101123X",
    birth_date=date(1980, 1, 1),
)
PHONE = "13912345678"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def _staff(site: LocalSite) -> dict[str, str]:
    """A clerk who may also read the dev SMS outbox (the applicant's phone)."""
    db = site.backend.service.db
    _, token = account_with_token(db, "clerk.li", ["clerk", "admin"])
    return bearer(token)


def pending_loads(node) -> list:
    return [c for c in node.locker.compartments() if c.state == State.RESERVED and c.load_id]


def shown(widget) -> bool:
    return widget.get_root_window() is not None


def test_submission_and_pickup_by_touch_reach_the_backend_and_open_the_compartment(
    tmp_path: Path,
):
    # The face step runs the real live check: the emulated person in front of the camera reads
    # the prompts the face screen shows, and the card carries another photo of them.
    with (
        LocalSite(tmp_path, live_face=True) as site,
        httpx.Client(base_url=site.backend.base_url, headers=_staff(site)) as api,
    ):
        node, devices = site.node, site.devices
        kiosk = Kiosk(node, lang="en", strict_i18n=True, card_poll_s=0.02)
        drv = KioskDriver(kiosk)
        s = kiosk.screens
        prompts = ("blink_now", "turn_left", "turn_right")
        prompt_texts = {kiosk.t(f"face.guide.{c}") for c in prompts}
        try:
            drv.wait_for(lambda: kiosk.online and not kiosk.banner.text, what="online, no banner")
            # ---- the citizen submits
            drv.tap(s["home"].choices["submit"])
            drv.wait_screen("card")
            devices.reader.place(replace(CITIZEN, photo=devices.card_photo))
            shown_prompts: list[str] = []
            face = s["face"]
            drv.wait_for(
                lambda: (
                    kiosk.current == "catalog"
                    or (
                        face.guidance.text in prompt_texts
                        and shown_prompts.append(face.guidance.text)
                    )
                ),
                what="card read, live face checked",
                timeout=120,
            )
            assert shown_prompts, "the face screen never showed a blink/turn prompt"
            assert devices.live_person.captured > 10  # the check really looked at the camera
            drv.tap(s["catalog"].item_buttons["HJ-0101"])
            drv.wait_screen("item")
            drv.tap(s["item"].apply_button)
            drv.wait_screen("phone")
            drv.type(s["phone"].keypad, PHONE)
            drv.tap(s["phone"].nav.children[0])
            drv.wait_screen("materials")
            # The checklist asks the backend what it holds, then draws its rows again.
            drv.wait_for(lambda: not s["materials"].next_button.disabled, what="the on-file check")
            drv.tap(s["materials"].row_buttons["id-card-copy"])
            drv.wait_screen("scan")
            drv.tap(s["scan"].scan_button)  # the citizen presses "Scan" at once
            drv.wait_screen("materials")
            # The two-page register is left to auto-capture: nobody taps, both pages are taken.
            drv.tap(s["materials"].row_buttons["household-register"])
            drv.wait_screen("scan")
            drv.wait_screen("materials", timeout=90)
            assert kiosk.submission.scanned["household-register"].pages == 2
            drv.tap(s["materials"].nav.children[0])
            drv.wait_screen("deposit")
            dep = s["deposit"]
            drv.tap(dep.open_button)
            drv.wait_for(lambda: shown(dep.closed_button) or shown(dep.yes_button), what="open")
            if shown(dep.yes_button):
                drv.tap(dep.yes_button)
                drv.wait_for(lambda: shown(dep.closed_button), what="door confirmed")
            drv.tap(dep.closed_button)
            drv.wait_screen("review")
            review_text = " ".join(w.text for w in walk(s["review"]) if hasattr(w, "text"))
            assert "李*" in review_text and "1101**********123X" in review_text
            assert CITIZEN.number not in review_text and PHONE not in review_text
            drv.tap(s["review"].submit_button)
            drv.wait_screen("receipt")
            receipt = s["receipt"].receipt
            assert receipt is not None and receipt.sent_now
            app_no = receipt.application_no
            drv.tap(s["receipt"].nav.children[0])
            drv.wait_screen("rating")
            drv.tap(s["rating"].choices[0])
            drv.tap(s["rating"].nav.children[0])
            drv.wait_screen("home")

            def detail():
                r = api.get(f"/api/applications/{app_no}")
                return r.json() if r.status_code == 200 else None

            ingested = wait_until(
                lambda: (
                    (d := detail())
                    and len(d["materials"]) == 2
                    and all(m["verified"] for m in d["materials"])
                    and d
                ),
                30,
                0.1,
            )
            assert ingested, "the backend never got the application with both verified scans"
            assert ingested["item_code"] == "HJ-0101"

            # ---- staff approve; a clerk loads the result by touch in service mode
            for step in ("accept", "review", "approve"):
                r = api.post(f"/api/applications/{app_no}/{step}", json={})
                assert r.status_code == 200, r.text
            r = api.post(
                f"/api/applications/{app_no}/load-result",
                json={"terminal_id": site.terminal_id, "size": "S"},
            )
            assert r.status_code == 200, r.text
            assert wait_until(lambda: pending_loads(node), 20), "no load command"
            # The clerk's one-time code from the console; a wrong one first only says so.
            r = api.post("/api/staff/terminal-code", json={"terminal_id": site.terminal_id})
            assert r.status_code == 201, r.text
            code = r.json()["code"]
            drv.tap(s["home"].staff_button)
            drv.wait_screen("staff_login")
            login = s["staff_login"]
            drv.type(login.keypad, f"{(int(code) + 1) % 10**8:08d}")
            drv.tap(login.nav.children[0])
            drv.wait_for(
                lambda: login.error.text == kiosk.t("staff.wrong_code"), what="the wrong code"
            )
            drv.type(login.keypad, code)
            drv.tap(login.nav.children[0])
            drv.wait_screen("staff")
            staff = s["staff"]

            def load_button(prefix: str):
                return next(
                    (b for b in walk(staff.loads) if getattr(b, "text", "").startswith(prefix)),
                    None,
                )

            drv.tap(drv.wait_for(lambda: load_button("Open "), what="an open-for-load button"))
            drv.tap(drv.wait_for(lambda: load_button("Result in "), what="a loaded button"))
            drv.wait_for(lambda: not pending_loads(node), what="the load confirmed")
            loaded_by = wait_until(
                lambda: [
                    h["actor"]
                    for h in api.get(f"/api/applications/{app_no}").json()["history"]
                    if h["to"] == "result_loaded"
                ],
                20,
                0.1,
            )
            assert loaded_by == [f"clerk.li@terminal:{site.terminal_id}"]
            drv.tap(staff.nav.children[0])  # leave service mode
            drv.wait_screen("home")

            # The phone: what the emulated SMS provider delivered to the applicant's number.
            handset = site.backend.sms_emulator
            sms = wait_until(
                lambda: next(
                    (x for x in handset.inbox(PHONE) if "取件码" in x.text and CODE.search(x.text)),
                    None,
                ),
                30,
                0.1,
            )
            assert sms, "no pickup-code SMS"
            code = CODE.search(sms.text).group(1)
            assert wait_until(lambda: any(c.code_digest for c in node.locker.compartments()), 20), (
                "the code never reached the terminal"
            )

            # ---- the applicant picks up by touch
            pulses_before = len(devices.board.pulses)
            drv.tap(s["home"].choices["pickup"])
            drv.wait_screen("pickup_code")
            drv.type(s["pickup_code"].keypad, code)
            drv.tap(s["pickup_code"].next_button)
            drv.type(s["pickup_code"].tail_keypad, PHONE[-4:])  # the second factor
            drv.tap(s["pickup_code"].open_button)
            drv.wait_screen("pickup_open")
            opened = s["pickup_open"]
            if shown(opened.yes_button):
                drv.tap(opened.yes_button)
            drv.wait_for(lambda: shown(opened.done_button), what="the door open")
            assert len(devices.board.pulses) > pulses_before, "no compartment lock was pulsed"
            drv.tap(opened.done_button)
            drv.wait_screen("home")
            picked = wait_until(
                lambda: (d := detail()) and d["status"] == "picked_up" and d, 30, 0.1
            )
            assert picked, "the backend never heard of the pickup"
            assert kiosk.t.misses == set()
            # Every message of the story was signed and taken, in both directions.
            assert node.link.forged == 0 and site.backend.service.mqtt.signing.refused == 0
        finally:
            drv.close()
