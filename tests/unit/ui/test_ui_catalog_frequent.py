"""The catalog screen opens on the frequent items: a short list to read, every item a tap or a
search away."""

from __future__ import annotations

from datetime import timedelta

from ui_unit_kiosk import offline_kiosk

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import BUILTIN_PATH, read_document
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


def test_an_item_a_bundle_dropped_while_the_list_was_shown_is_said_unavailable(tmp_path):
    # The bundle is applied on the link's thread; the list on screen still shows the item.
    # A tap on it raised StopIteration on the UI thread, and the kiosk stopped mid-session.
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        drv.tap(s["home"].choices["submit"])
        drv.wait_screen("card")
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("catalog")
        shown = s["catalog"].item_buttons["HJ-0101"]
        doc = read_document(BUILTIN_PATH)
        doc["version"] = "site-2026.12-2"
        doc["item"] = [i for i in doc["item"] if i["code"] != "HJ-0101"]
        bundle = m.ApplyConfigBundle(
            terminal_id=k.node.terminal_id,
            operation_id="site-2026.12-2",
            bundle_version="site-2026.12-2",
            catalog=doc,
            expires_at=m.utcnow() + timedelta(hours=1),
        )
        ack = k.node.dispatcher.dispatch(bundle, k.node.dispatcher.last_seq() + 1)
        assert ack.outcome == m.AckOutcome.DONE

        drv.tap(shown)

        drv.wait_screen("item")
        assert s["item"].error.text == k.t("item.unavailable")
        back = next(b for b in s["item"].nav.children if b.text == k.t("nav.back"))
        drv.tap(back)
        drv.wait_screen("catalog")
        assert "HJ-0101" not in s["catalog"].item_buttons
        assert k.submission is not None  # the citizen's session goes on: card and face kept
