"""When the citizen walks away, finishes, or a step fails, nothing of them stays in any widget."""

from __future__ import annotations

from kivy.core.window import Window
from ui_unit_kiosk import offline_kiosk

from cloud_bridge.contract.messages import mask_id_number, mask_phone
from terminal.ui.kiosk import walk
from terminal.ui.screens.submission import mask_name
from terminal.ui.tour import SAMPLE_CITIZEN, SAMPLE_PHONE
from terminal.ui.widgets import Keypad, Preview

PASSPORT_NO = "E12345678"


def secrets(*extra: str) -> set[str]:
    doc = SAMPLE_CITIZEN
    return {
        doc.name,
        mask_name(doc.name),
        doc.number,
        mask_id_number(doc.number),
        doc.number[-4:],
        SAMPLE_PHONE,
        mask_phone(SAMPLE_PHONE),
        SAMPLE_PHONE[-4:],
        PASSPORT_NO,
        *extra,
    }


def leftovers(kiosk, needles: set[str]) -> list[str]:
    """Every trace of the citizen in any widget of any screen, shown or not, or in the window."""
    trees = [kiosk.root, kiosk.idle_dialog, *kiosk.screens.values(), *Window.children]
    found = []
    for tree in trees:
        for w in walk(tree):
            strings = [getattr(w, "text", None), getattr(w, "source", None)]
            core = getattr(w, "_label", None)
            strings.append(getattr(core, "text", None))
            if isinstance(w, Keypad):
                strings.append(w.value)
            for s in strings:
                if isinstance(s, str) and any(n in s for n in needles):
                    found.append(f"{type(w).__name__}: {s!r}")
            if isinstance(w, Preview) and w.texture is not None:
                found.append(f"{type(w).__name__} still holds a picture")
    return found


def walk_to_review(drv, devices) -> None:
    """Card, face, item, phone, both scans, deposit: everything a citizen shows the kiosk."""
    k, s = drv.kiosk, drv.kiosk.screens
    drv.tap(s["home"].choices["submit"])
    drv.wait_screen("card")
    drv.tap(s["card"].nav.children[0])
    drv.wait_screen("mrz")
    drv.type(s["mrz"].keypad, PASSPORT_NO)  # typed, then the citizen used the ID card after all
    drv.tap(s["mrz"].nav.children[1])
    devices.reader.place(SAMPLE_CITIZEN)
    drv.wait_screen("catalog")
    drv.tap(s["catalog"].item_buttons["HJ-0101"])
    drv.tap(s["item"].apply_button)
    drv.type(s["phone"].keypad, SAMPLE_PHONE)
    drv.tap(s["phone"].nav.children[0])
    drv.wait_screen("materials")
    for code in ("id-card-copy", "household-register"):
        drv.tap(s["materials"].row_buttons[code])
        drv.wait_for(lambda: s["scan"].preview.frames > 0, what="a page on screen")
        drv.tap(s["scan"].scan_button)
        drv.wait_screen("materials")
    drv.tap(s["materials"].nav.children[0])
    drv.wait_screen("deposit")
    dep = s["deposit"]
    drv.tap(dep.skip_button)
    drv.wait_screen("review")
    assert k.submission is not None
    assert leftovers(k, secrets()), "the review shows the citizen (else this test proves nothing)"
    assert s["face"].preview.texture is not None or s["face"].preview.frames == 0


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
