"""The materials checklist by touch: each material's ways in, "bring it later", what is missing."""

from __future__ import annotations

import threading

from ui_unit_kiosk import offline_kiosk

from cloud_bridge.contract import messages as m
from cloud_bridge.request_reply import RequestReply
from demo_support.tour import SAMPLE_CITIZEN, SAMPLE_PHONE
from terminal.materials.checklist import MaterialStatus
from terminal.ui.screens.receipt import printed_receipt

ITEM = "GS-0307"  # five materials: one optional, one without USB, one that may come later


def walk_to_checklist(drv, devices, item: str = ITEM, *, answered: bool = True) -> None:
    s = drv.kiosk.screens
    drv.tap(s["home"].choices["submit"])
    drv.wait_screen("card")
    devices.reader.place(SAMPLE_CITIZEN)
    drv.wait_screen("catalog")
    # The citizen scrolls the list to the item (it is further down than a screen shows).
    s["catalog"].item_scroll.scroll_to(s["catalog"].item_buttons[item], animate=False)
    drv.pump(2)
    drv.tap(s["catalog"].item_buttons[item])
    drv.tap(s["item"].apply_button)
    drv.type(s["phone"].keypad, SAMPLE_PHONE)
    drv.tap(s["phone"].nav.children[0])
    drv.wait_screen("materials")
    # The checklist asks for materials on file first (offline: none); "next" waits for it.
    if answered:
        drv.wait_for(lambda: not s["materials"].next_button.disabled, what="the on-file check")


def press(drv, code: str, action: str) -> None:
    """Scroll the checklist to the material's row, as the citizen would, and press a button."""
    m = drv.kiosk.screens["materials"]
    button = m.actions[code][action]
    m.scroll.scroll_to(button, padding=10, animate=False)
    drv.pump(2)
    drv.tap(button)


def scan(drv, code: str) -> None:
    s = drv.kiosk.screens
    press(drv, code, "scan")
    drv.wait_for(lambda: s["scan"].preview.frames > 0, what="a page on screen")
    drv.tap(s["scan"].scan_button)
    drv.wait_screen("materials")


def test_each_row_offers_only_the_ways_its_material_allows_and_offline_nothing_on_file(
    tmp_path,
):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        walk_to_checklist(drv, devices)
        m = drv.kiosk.screens["materials"]
        assert m.checking.text == ""  # offline: no lookup, no waiting, no error
        assert {code: set(b) for code, b in m.actions.items()} == {
            "id-card-copy": {"scan", "usb"},
            "application-form": {"scan", "usb"},
            "licence-original": {"scan"},
            "lease": {"scan", "usb", "later"},
            "authorization": {"scan", "usb"},
        }
        assert m.actions["lease"]["later"].text == "以后补交（5个工作日内）"
        assert m.states["authorization"].text == "还没有提交（这项可以不交）"
        assert not m.next_button.disabled


class SlowBackend:
    """The link to a backend that answers each materials-on-file question with "nothing on
    file" half a second later, as `RequestReply` receives a response from the broker."""

    def __init__(self) -> None:
        self.replies: RequestReply | None = None
        self.timers: list[threading.Timer] = []

    def request(self, message: m.Message, expiry_s: float) -> bool:
        assert isinstance(message, m.MaterialsOnFileQuery) and self.replies is not None
        answer = m.MaterialsOnFile(
            terminal_id=message.terminal_id,
            operation_id=message.operation_id,
            request_id=message.message_id,
            expires_at=message.expires_at,
        )
        timer = threading.Timer(0.5, self.replies.deliver, [answer])
        self.timers.append(timer)
        timer.start()
        return True


def test_rows_stay_put_when_nothing_is_on_file(tmp_path):
    """The rows were drawn again when the on-file lookup answered "nothing": a row tapped at
    that moment was gone by the time the tap arrived (the screenshot tour failed so)."""
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        s = drv.kiosk.screens
        lookup = drv.kiosk.node.parts.on_file
        backend = SlowBackend()
        lookup.replies = backend.replies = RequestReply(backend)
        try:
            walk_to_checklist(drv, devices, "HJ-0101", answered=False)
            assert s["materials"].next_button.disabled  # still asking
            row = s["materials"].row_buttons["id-card-copy"]
            drv.wait_for(lambda: not s["materials"].next_button.disabled, what="the answer")
            drv.pump(2)
            assert lookup.answered == 1
            assert s["materials"].row_buttons["id-card-copy"] is row
            assert row.get_root_window() is not None
        finally:
            for timer in backend.timers:
                timer.join()


def test_next_with_materials_missing_names_them(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        walk_to_checklist(drv, devices)
        m = drv.kiosk.screens["materials"]
        scan(drv, "id-card-copy")
        drv.tap(m.next_button)
        drv.pump()
        assert drv.kiosk.current == "materials"
        assert m.error.text == (
            "Still needed: Change application form, Business licence, both copies, "
            "Proof of premises. Please give these first."
        )
        drv.tap(drv.kiosk.lang_button)
        assert m.error.text.startswith("还缺少：变更登记申请书、营业执照正副本、经营场所证明")


def test_a_material_brought_later_is_on_the_receipt_with_its_days(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        walk_to_checklist(drv, devices)
        m = s["materials"]
        press(drv, "lease", "later")
        assert k.submission.checklist.entry("lease").status == MaterialStatus.TOLERATED
        assert m.states["lease"].text == "✓ 稍后补交，请在5个工作日内交来"
        assert set(m.actions["lease"]) == {"scan", "usb", "undo"}
        press(drv, "lease", "undo")  # changed their mind
        assert k.submission.checklist.entry("lease").status == MaterialStatus.MISSING
        assert m.states["lease"].text == "还没有提交"
        press(drv, "lease", "later")
        for code in ("id-card-copy", "application-form", "licence-original"):
            scan(drv, code)
        drv.tap(m.next_button)
        drv.wait_screen("deposit")
        drv.tap(s["deposit"].skip_button)
        drv.wait_screen("review")
        drv.tap(s["review"].submit_button)
        drv.wait_screen("receipt")
        receipt = s["receipt"].receipt
        assert [(o.code, o.working_days) for o in receipt.owed] == [("lease", 5)]
        owed = "请在5个工作日内补交：经营场所证明"
        assert owed in s["receipt"].lines.text.splitlines()
        assert owed in printed_receipt(receipt, k.t).lines


def test_scanning_again_replaces_a_later(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        walk_to_checklist(drv, devices)
        m = drv.kiosk.screens["materials"]
        press(drv, "lease", "later")
        scan(drv, "lease")
        flow = drv.kiosk.submission
        assert flow.checklist.entry("lease").status == MaterialStatus.SCANNED
        assert flow.checklist.tolerated() == []
        assert m.states["lease"].text == "✓ Scanned, 1 page(s)"
        assert set(m.actions["lease"]) == {"scan", "usb", "later"}
        assert m.actions["lease"]["scan"].text == "Scan again"
