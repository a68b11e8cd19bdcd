"""The kiosk of a terminal an operator took out of service: its page in both languages, the
pickup button only while pickups are safe, staff told at the terminal, a locked compartment's
citizen sent to the counter. Commands are handed to the node as its dispatcher does."""

from __future__ import annotations

from datetime import timedelta

from ui_unit_kiosk import STAFF_CODE, offline_kiosk

from cloud_bridge.contract import messages as m
from demo_support.tour import SAMPLE_CODE, _arm_pickup, type_pickup
from locker.compartment import State


def _apply(node, cls, **fields) -> None:
    apply = node.apply_out_of_service if cls is m.OutOfService else node.apply_back_in_service
    apply(
        cls(
            terminal_id=node.terminal_id,
            operation_id=f"OPS-{m.new_message_id()[:12]}",
            expires_at=m.utcnow() + timedelta(minutes=15),
            **fields,
        )
    )


def shown(widget) -> bool:
    return widget.get_root_window() is not None


def test_the_page_follows_the_hold_and_the_locker(tmp_path):
    with offline_kiosk(tmp_path, lang="zh") as (drv, _devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        page = s["out_of_service"]
        _apply(k.node, m.OutOfService, reason="maintenance", note="换打印机")
        drv.wait_screen("out_of_service")
        assert page.title.text == "本机暂停服务" and "设备维护" in page.why.text
        assert k.banner.opacity == 0  # offline, it would say submissions still work
        assert shown(page.pickup_button) and page.pickup_line.text == k.t(
            "out_of_service.pickup_open"
        )
        k.set_language("en")
        assert page.why.text == "Reason: maintenance" and "office hours" in page.where.text

        board = k.node.devices.lock
        real = board.diagnostics
        board.diagnostics = lambda: real() | {"connected": False}  # the lock board is gone
        drv.wait_for(lambda: not shown(page.pickup_button), what="pickup withdrawn")
        assert page.pickup_line.text == k.t("out_of_service.pickup_closed")
        board.diagnostics = real
        drv.wait_for(lambda: shown(page.pickup_button), what="pickup back")

        _apply(k.node, m.OutOfService, reason="security", hold="locked")
        drv.wait_for(lambda: not shown(page.pickup_button), what="locked: no pickup")
        assert page.what.text == k.t("out_of_service.locked")
        k.begin_pickup()
        assert k.current == "out_of_service" and k.pickup is None

        # Staff can still sign in, and see what is out of service.
        drv.tap(page.staff_button)
        drv.wait_screen("staff_login")
        drv.type(s["staff_login"].keypad, STAFF_CODE)
        drv.tap(s["staff_login"].enter_button)
        drv.wait_screen("staff")
        assert s["staff"].service.text == k.t(
            "staff.service_out",
            hold=k.t("service.hold.locked"),
            reason=k.t("service.reason.security"),
        )
        drv.tap(s["staff"].nav.children[0])  # leave: back to the page, not the home screen
        drv.wait_screen("out_of_service")

        _apply(k.node, m.BackInService, reason="repaired")
        drv.wait_screen("home")
        assert k.banner.text == k.t("banner.offline")  # still offline: said again at home
        assert k.t.misses == set()


def test_the_page_names_the_counters_hours_and_hotline_from_the_settings(tmp_path):
    hours = {"zh": "工作日 8:30–17:30", "en": "working days 8:30–17:30"}
    with offline_kiosk(tmp_path, lang="zh", office_hours=hours, hotline="0571-12345") as (
        drv,
        _devices,
        _key,
    ):
        k = drv.kiosk
        page = k.screens["out_of_service"]
        _apply(k.node, m.OutOfService, reason="maintenance")
        drv.wait_screen("out_of_service")
        assert "（工作日 8:30–17:30）" in page.where.text
        assert "服务热线：0571-12345" in page.where.text
        k.set_language("en")
        assert "(working days 8:30–17:30)" in page.where.text
        assert "Service hotline: 0571-12345." in page.where.text
        k.office_hours, k.hotline = {"zh": "工作日 9:00–12:00"}, None  # a bundle changed them
        drv.wait_for(lambda: "8:30" not in page.where.text, what="the new settings")
        # No English hours given: the counter without hours, never hours the site does not keep.
        assert page.where.text == k.t("out_of_service.where") + " " + k.t("out_of_service.sorry")
        k.set_language("zh")
        assert "（工作日 9:00–12:00）" in page.where.text and "热线：" not in page.where.text
        assert k.t.misses == set()


def test_a_locked_compartment_sends_its_citizen_to_the_counter(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, _devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        _arm_pickup(k.node, key)
        held = next(c.id for c in k.node.locker.compartments() if c.state == State.HOLDING_RESULT)
        _apply(k.node, m.OutOfService, compartment_id=held, reason="device_fault", hold="locked")
        assert k.current == "home"  # one compartment: the terminal serves on
        drv.tap(s["home"].choices["pickup"])
        drv.wait_screen("pickup_code")
        type_pickup(drv, s["pickup_code"], SAMPLE_CODE)
        drv.wait_for(
            lambda: s["pickup_code"].error.text == k.t("pickup.refused.withheld"), what="refusal"
        )
        assert "counter" in s["pickup_code"].error.text
        assert next(c for c in k.node.locker.compartments() if c.id == held).load_id
