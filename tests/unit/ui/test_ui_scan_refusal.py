"""A page the pipeline refuses is explained on the scan screen in the citizen's language."""

from __future__ import annotations

from ui_unit_kiosk import offline_kiosk, walk_to_materials

from devices.camera.emulated import EmptyDeskSource
from terminal.materials.quality import REASONS
from terminal.ui.i18n import Translator


def test_an_empty_tray_is_explained_with_the_pipelines_reason_in_both_languages(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        k.node.parts.document_camera = lambda title, pages: EmptyDeskSource()
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["id-card-copy"])
        drv.wait_screen("scan")
        drv.tap(s["scan"].scan_button)
        no_page = REASONS["no_page"].key
        drv.wait_for(
            lambda: s["scan"].status.text == f"Page 1: {Translator('en')(no_page)}",
            what="the reason on screen",
            timeout=30,
        )
        assert not s["scan"].scan_button.disabled  # the citizen can place the page and retry
        assert k.current == "scan" and "id-card-copy" not in k.submission.scanned
        drv.tap(k.lang_button)
        drv.wait_for(
            lambda: s["scan"].status.text == f"第 1 页：{Translator('zh')(no_page)}",
            what="the reason in Chinese",
        )
