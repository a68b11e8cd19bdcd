"""When the citizen walks away, finishes, or a step fails, nothing of them stays in any widget."""

from __future__ import annotations

from ui_unit_kiosk import leftovers, offline_kiosk, secrets, walk_to_review

from demo_support.tour import SAMPLE_CITIZEN


def test_after_the_idle_countdown_nothing_of_the_citizen_remains(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k = drv.kiosk
        walk_to_review(drv, devices)
        clock = k.idle.clock
        clock.now += k.idle.timeout_s + 1
        drv.wait_for(lambda: k.idle_dialog.parent is not None, what="the countdown")
        assert k.current == "review"
        assert "10" in k.idle_dialog.countdown.text or "9" in k.idle_dialog.countdown.text
        clock.now += k.idle.warn_s
        drv.wait_screen("home")
        drv.pump(3)
        assert k.submission is None and k.mrz_key is None
        assert leftovers(k, secrets()) == []
        assert k.node.outbox.backlog() == 0  # nothing was submitted


def test_touching_during_the_countdown_keeps_the_session(tmp_path):
    with offline_kiosk(tmp_path) as (drv, _devices, _key):
        k = drv.kiosk
        drv.tap(k.screens["home"].choices["pickup"])
        drv.wait_screen("pickup_code")
        drv.type(k.screens["pickup_code"].keypad, "12")
        k.idle.clock.now += k.idle.timeout_s + 1
        drv.wait_for(lambda: k.idle_dialog.parent is not None, what="the countdown")
        drv.tap(k.idle_dialog.more)
        k.idle.clock.now += k.idle.warn_s
        drv.pump(3)
        assert k.current == "pickup_code" and k.screens["pickup_code"].keypad.value == "12"


def test_finishing_wipes_the_receipt_and_everything_else(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        walk_to_review(drv, devices)
        drv.tap(s["review"].submit_button)
        drv.wait_screen("receipt")
        app_no = s["receipt"].receipt.application_no
        assert leftovers(k, {app_no}), "the receipt shows the number"
        drv.tap(s["receipt"].nav.children[0])
        drv.wait_screen("rating")
        drv.tap(s["rating"].nav.children[0])
        drv.wait_screen("home")
        drv.pump(3)
        assert leftovers(k, secrets(app_no, app_no.replace("-", ""))) == []


def test_a_failure_mid_session_apologises_and_wipes(tmp_path):
    class BrokenVerifier:
        def verify(self, photo, frames):
            raise RuntimeError("face model file is corrupt")

    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        k.node.parts.face_verifier = BrokenVerifier()
        drv.tap(s["home"].choices["submit"])
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("error")
        drv.pump(3)
        assert k.submission is None
        assert s["error"].message.text == k.t("error.fatal")
        assert leftovers(k, secrets()) == []
