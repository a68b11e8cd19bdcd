"""A passport's MRZ read by the document camera, with the keypad as the fallback."""

from __future__ import annotations

from ui_unit_kiosk import offline_kiosk

from devices.camera.emulated import GeneratedPageSource
from devices.camera.passport_scene import passport_sample
from devices.identity.emrtd.mrz import MrzKey


def _to_mrz_screen(drv) -> None:
    s = drv.kiosk.screens
    drv.tap(s["home"].choices["submit"])
    drv.wait_screen("card")
    drv.tap(
        next(b for b in s["card"].walk() if getattr(b, "text", "") == drv.kiosk.t("card.passport"))
    )
    drv.wait_screen("mrz")


def test_the_camera_reads_the_photo_page_and_the_chip_is_then_opened_with_that_key(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        _to_mrz_screen(drv)
        mrz = drv.kiosk.screens["mrz"]
        drv.tap(mrz.camera_button)

        drv.wait_screen("card", timeout=60)
        printed = passport_sample(devices.passport_seed).mrz.split("\n")[1]
        want = MrzKey(printed[0:9], printed[13:19], printed[21:27])
        assert drv.kiosk.mrz_key == want
        assert mrz.values["mrz.number"] == want.document_number


def test_a_page_the_camera_cannot_read_leaves_the_keypad_with_a_clear_word(tmp_path):
    with offline_kiosk(tmp_path, lang="zh") as (drv, devices, _key):
        devices.document_camera = lambda title, pages: GeneratedPageSource("Form", 1)
        drv.kiosk.node.parts.document_camera = devices.document_camera
        _to_mrz_screen(drv)
        mrz = drv.kiosk.screens["mrz"]
        drv.tap(mrz.camera_button)

        drv.wait_for(
            lambda: mrz.error.text == drv.kiosk.t("mrz.camera.failed"), 60, "the fallback word"
        )
        assert drv.kiosk.current == "mrz" and drv.kiosk.mrz_key is None
        assert not mrz.camera_button.disabled
