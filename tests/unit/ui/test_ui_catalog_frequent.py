"""The catalog screen opens on the frequent items: a short list to read, every item a tap or a
search away."""

from __future__ import annotations

from ui_unit_kiosk import offline_kiosk

from demo_support.tour import SAMPLE_CITIZEN

FREQUENT = {"HJ-0101", "SF-0101", "CR-0101", "SB-0203", "GJ-0101", "GS-0307"}


def test_the_catalog_opens_on_the_frequent_items_and_finds_every_other(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        s = drv.kiosk.screens
        drv.tap(s["home"].choices["submit"])
        drv.wait_screen("card")
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("catalog")
        catalog = s["catalog"]
        assert set(catalog.item_buttons) == FREQUENT
        everything = len(drv.kiosk.node.parts.catalog)
        assert everything > 30

        all_button = next(b for b in catalog.categories.children if b.text == "全部事项")
        drv.tap(all_button)
        assert len(catalog.item_buttons) == everything

        frequent_button = next(b for b in catalog.categories.children if b.text == "常办事项")
        drv.tap(frequent_button)
        assert set(catalog.item_buttons) == FREQUENT

        # A search looks through every item, not only the list on screen: 异地就医备案.
        drv.tap(next(b for b in catalog.nav.children if b.text == "搜索"))
        drv.type(catalog.keypad, "YDJY")
        assert set(catalog.item_buttons) == {"YB-0102"}

        drv.kiosk.end_session("cancel")
        drv.wait_screen("home")
        assert set(catalog.item_buttons) == FREQUENT  # the next citizen starts on the short list
