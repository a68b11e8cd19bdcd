"""The fleet dashboard in Debian's Chromium: an operator sees every terminal at a glance (state,
devices, paper, compartments, alarms, backlog, version), opens a terminal's page with its
history, acknowledges and clears an alarm; a supervisor reads but has no buttons."""

from __future__ import annotations

from console_server import KEY, PASSWORD
from playwright.sync_api import expect

from backend.alarms import AlarmSettings
from cloud_bridge.contract import messages as m


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _feed(console) -> None:
    service = console.service
    service.register_terminal("T0002", KEY)
    service.alarms.settings = AlarmSettings()
    status = m.Status(
        terminal_id="T0001",
        message_id=m.new_message_id(),
        state="online",
        software_version="0.3.1",
        since="2026-12-04T01:00:00Z",
        connection=1,
        keepalive_s=30,
    )
    telemetry = m.Telemetry(
        terminal_id="T0001",
        message_id=m.new_message_id(),
        uptime_s=3600,
        outbox_backlog=4,
        compartments={"empty": 9, "reserved": 1, "holding_result": 2, "expired_codes": 1},
        devices={
            "printer": m.DeviceHealth(ok=True, detail="paper low", data={"paper": "low"}),
            "face_camera": m.DeviceHealth(ok=False, detail="gone: CameraError"),
            "lock": m.DeviceHealth(ok=True, detail="board 1"),
        },
    )
    gone = m.Status(
        terminal_id="T0002",
        message_id=m.new_message_id(),
        state="offline",
        software_version="0.3.0",
        since="2026-12-04T01:00:00Z",
        connection=3,
        reason="connection_lost",
    )
    alarms = [
        m.Alarm(
            terminal_id="T0001",
            message_id=m.new_message_id(),
            operation_id=op,
            kind="door_left_open",
            severity="warning",
            compartment_id="A03",
            detail="柜门 A03 未关",
            raised_at="2026-12-04T02:00:00Z",
        )
        for op in ("ALM-P1", "ALM-P2")
    ]
    messages = [status, telemetry, gone, *alarms]
    result = service.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])
    assert not result.rejected


def test_an_operator_sees_the_fleet_and_acknowledges_then_clears_an_alarm(console, browser):
    _feed(console)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, console.url, "op.zhao")
    expect(page).to_have_url(f"{console.url}/console/fleet")  # operators land on the fleet
    expect(page.get_by_test_id("fleet-summary")).to_contain_text("共 2 台")

    row = page.get_by_test_id("terminal-T0001")
    expect(row.get_by_test_id("state")).to_have_text("降级")  # the camera is gone
    expect(row.get_by_test_id("devices")).to_contain_text("face_camera: gone: CameraError")
    expect(row.get_by_test_id("paper")).to_have_text("paper low")
    expect(row.get_by_test_id("compartments")).to_have_text("9 / 3")
    # The door (raised twice, one alarm), and from the report: paper low, the camera gone.
    expect(row.get_by_test_id("alarm-count")).to_have_text("3")
    expect(row.get_by_test_id("backlog")).to_have_text("4")
    expect(row).to_contain_text("0.3.1")
    gone = page.get_by_test_id("terminal-T0002")
    expect(gone.get_by_test_id("state")).to_have_text("离线")
    expect(gone.get_by_test_id("reason")).to_have_text("connection_lost")

    alarm = page.get_by_test_id("alarm-ALM-P1")
    expect(alarm.get_by_test_id("alarm-occurrences")).to_have_text("2")
    alarm.locator("input[name=note]").first.fill("已通知网点补纸")
    alarm.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("done")).to_have_text("告警已确认。")
    expect(page.get_by_test_id("alarm-ALM-P1").get_by_test_id("alarm-state")).to_contain_text(
        "已确认 · op.zhao"
    )

    # A clear without a reason is refused with a clear word; the alarm stays.
    page.get_by_test_id("alarm-ALM-P1").get_by_test_id("clear").click()
    expect(page.get_by_test_id("error")).to_have_text("请填写解除原因。")
    expect(page.get_by_test_id("alarm-ALM-P1")).to_be_visible()

    page.get_by_test_id("terminal-T0001").get_by_role("link", name="T0001").click()
    expect(page.get_by_test_id("terminal-title")).to_have_text("T0001")
    alarm = page.get_by_test_id("alarm-ALM-P1")
    alarm.get_by_test_id("clear-note").fill("已换纸")
    alarm.get_by_test_id("clear").click()
    expect(page.get_by_test_id("done")).to_have_text("告警已解除。")
    expect(page.get_by_test_id("alarm-ALM-P1")).to_have_count(0)  # gone from the live list
    history = page.get_by_test_id("history-ALM-P1")
    expect(history).to_contain_text("已解除")
    expect(history).to_contain_text("acknowledged · op.zhao · 已通知网点补纸")
    expect(history).to_contain_text("cleared · op.zhao · 已换纸")
    expect(page.get_by_test_id("device-table")).to_contain_text("paper low")


def test_a_supervisor_reads_the_fleet_without_buttons_and_a_clerk_is_refused(console, browser):
    _feed(console)
    page = browser.new_page()
    sign_in(page, console.url, "sup.ma")
    page.goto(f"{console.url}/console/fleet")
    expect(page.get_by_test_id("alarm-ALM-P1")).to_be_visible()
    expect(page.get_by_test_id("acknowledge")).to_have_count(0)
    expect(page.get_by_test_id("clear")).to_have_count(0)

    clerk = browser.new_page()
    sign_in(clerk, console.url, "clerk.wang")
    expect(clerk.get_by_test_id("nav-fleet")).to_have_count(0)
    response = clerk.goto(f"{console.url}/console/fleet")
    assert response is not None and response.status == 403
