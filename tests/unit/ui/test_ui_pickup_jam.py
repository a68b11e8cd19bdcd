"""A compartment whose door stays shut at pickup: the citizen is told, and can only finish.

Typing the code again would reach a flow that is out of service; the kiosk shows the
out-of-service page instead of leaving the keypad open for a second try.
"""

from __future__ import annotations

from ui_unit_kiosk import offline_kiosk

from demo_support.tour import SAMPLE_CODE, _arm_pickup, type_pickup
from locker.compartment import State


def test_a_jammed_door_at_pickup_leads_to_the_out_of_service_page_and_home(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        _arm_pickup(k.node, key)
        for door in devices.board.doors:
            door.jam()
        drv.tap(s["home"].choices["pickup"])
        drv.wait_screen("pickup_code")
        type_pickup(drv, s["pickup_code"], SAMPLE_CODE)

        drv.wait_screen("pickup_open", timeout=30)  # the open is tried twice, 3 s each
        page = s["pickup_open"]
        assert page.message.text == k.t("pickup.refused.jammed")
        assert page.done_button.get_root_window() is None  # nothing to take out
        assert not any(c.state == State.EMPTY for c in k.node.locker.compartments() if c.load_id)
        drv.tap(page.nav.children[0])  # finish
        drv.wait_screen("home")
        assert k.pickup is None
