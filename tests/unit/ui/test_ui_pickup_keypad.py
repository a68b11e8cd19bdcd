"""The pickup keypad screen: the code, then the phone tail, and a keypad closed for hours."""

from __future__ import annotations

from ui_unit_kiosk import offline_kiosk

from demo_support.tour import SAMPLE_CODE, _arm_pickup, type_pickup
from locker.attempts import AttemptPolicy


def test_the_tail_is_asked_only_once_the_code_has_its_length(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, _devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        drv.tap(s["home"].choices["pickup"])
        drv.wait_screen("pickup_code")
        screen = s["pickup_code"]
        drv.type(screen.keypad, "1234")
        drv.tap(screen.next_button)
        assert screen.error.text == k.t("pickup.short", digits=6)
        assert screen.tail_keypad.get_root_window() is None
        drv.type(screen.keypad, "56")
        drv.tap(screen.next_button)
        assert screen.tail_keypad.get_root_window() is not None
        assert screen.hint.text == k.t("pickup.tail_hint")
        drv.type(screen.tail_keypad, "80")
        drv.tap(screen.open_button)
        assert screen.error.text == k.t("pickup.tail_short", digits=4)


def test_a_keypad_closed_for_hours_says_so_instead_of_counting_seconds(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, _devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        _arm_pickup(k.node, key)
        now = k.node.clock().timestamp()
        policy = AttemptPolicy()
        for _ in range(policy.terminal_budget):  # a day's wrong entries, spent by someone else
            k.node.locker.keypad.budgets.charge(policy, now, [])
        drv.tap(s["home"].choices["pickup"])
        drv.wait_screen("pickup_code")
        screen = s["pickup_code"]
        type_pickup(drv, screen, SAMPLE_CODE)
        drv.wait_for(lambda: screen.error.text, what="the refusal")
        assert screen.error.text == k.t("pickup.refused.keypad_closed")
        held = [c.state.value for c in k.node.locker.compartments() if c.load_id]
        assert held == ["holding_result"]  # the result stays inside
