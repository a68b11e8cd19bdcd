"""In Debian's Chromium: an alarm whose id holds a `#` (the wire contract allows it) is
acknowledged and cleared from its buttons. The browser cut the buttons' URL at the `#`, so such
an alarm stayed live for good."""

from __future__ import annotations

from console_server import PASSWORD
from playwright.sync_api import expect

from cloud_bridge.contract import messages as m

ALARM = "ALM-T0001#3"


def test_an_operator_acknowledges_and_clears_an_alarm_whose_id_holds_a_hash(console, browser):
    alarm = m.Alarm(
        terminal_id="T0001",
        operation_id=ALARM,
        kind="door_left_open",
        severity="warning",
        compartment_id="A03",
        detail="柜门 A03 未关",
        raised_at="2026-12-04T02:00:00Z",
    )
    assert console.service.ingest.handle_batch([(alarm.topic(), alarm.encode())]).stored == 1

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{console.url}/console/login")
    page.fill("input[name=username]", "op.zhao")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{console.url}/console/fleet")

    row = page.get_by_test_id(f"alarm-{ALARM}")
    row.locator("input[name=note]").first.fill("已通知网点")
    row.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("done")).to_have_text("告警已确认。")
    row = page.get_by_test_id(f"alarm-{ALARM}")
    expect(row.get_by_test_id("alarm-state")).to_contain_text("已确认 · op.zhao")

    row.get_by_test_id("clear-note").fill("柜门已关")
    row.get_by_test_id("clear").click()
    expect(page.get_by_test_id("done")).to_have_text("告警已解除。")
    expect(page.get_by_test_id(f"alarm-{ALARM}")).to_have_count(0)
