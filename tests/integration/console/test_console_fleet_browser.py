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


def _commands_in_every_state(console) -> dict[str, str]:
    """Six operator commands to T0001, walked through the real lifecycle to six states."""
    from datetime import timedelta

    from backend import commands
    from backend.models import utcnow
    from backend.operator_commands import OperatorCommands

    service = console.service
    ops = OperatorCommands(service.db, service)
    ids: dict[str, m.Command] = {}
    for state, kind in (
        ("queued", "resync_state"),
        ("sent", "fetch_diagnostics"),
        ("delivered", "restart_kiosk"),
        ("done", "fetch_diagnostics"),
        ("failed", "open_compartment"),
    ):
        ids[state] = ops.issue(
            "T0001", kind, "op.zhao", f"检查 {state}", "Z99" if kind == "open_compartment" else None
        )
    short = OperatorCommands(service.db, service, ttl=timedelta(seconds=1))
    ids["expired"] = short.issue("T0001", "resync_state", "op.zhao", "来不及")
    at = utcnow()
    commands.mark_sent(service.db, [(c.message_id, at) for s, c in ids.items() if s != "queued"])

    def ack(c: m.Command, outcome: m.AckOutcome, detail: str = "") -> m.CommandAck:
        return m.CommandAck(
            terminal_id="T0001",
            command_id=c.message_id,
            command_type=c.type,  # type: ignore[attr-defined]
            operation_id=c.operation_id,
            outcome=outcome,
            detail=detail,
        )

    acks = [
        ack(ids["delivered"], m.AckOutcome.RECEIVED),
        ack(ids["done"], m.AckOutcome.RECEIVED),
        ack(ids["done"], m.AckOutcome.DONE),
        ack(ids["failed"], m.AckOutcome.RECEIVED),
        ack(ids["failed"], m.AckOutcome.REJECTED, "no compartment Z99"),
    ]
    result = service.ingest.handle_batch([(x.topic(), x.encode()) for x in acks])
    assert not result.rejected
    # The backend's own sweep finds the short one past its expiry, never received.
    commands.resend_open(service.db, service, now=utcnow() + timedelta(seconds=5))
    return {state: c.message_id for state, c in ids.items()}


def test_every_commands_state_and_times_show_on_the_terminal_page_and_the_fleet_list(
    console, browser
):
    _feed(console)
    ids = _commands_in_every_state(console)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, console.url, "op.zhao")
    page.goto(f"{console.url}/console/fleet/terminals/T0001")

    table = page.get_by_test_id("command-table")
    words = {
        "queued": "排队中，未送到消息代理",
        "sent": "已送到消息代理，等待终端接收",
        "delivered": "终端已接收，执行中",
        "done": "已完成",
        "failed": "失败",
        "expired": "已过期",
    }
    for state, word in words.items():
        row = table.get_by_test_id(f"command-{ids[state]}")
        expect(row.get_by_test_id("state")).to_have_text(word)
        expect(row.get_by_test_id("queued-at")).not_to_be_empty()
    # Each state has its time, and only the states reached have one.
    queued = table.get_by_test_id(f"command-{ids['queued']}")
    expect(queued.get_by_test_id("sent-at")).to_be_empty()
    delivered = table.get_by_test_id(f"command-{ids['delivered']}")
    expect(delivered.get_by_test_id("delivered-at")).not_to_be_empty()
    expect(delivered.get_by_test_id("finished-at")).to_be_empty()
    failed = table.get_by_test_id(f"command-{ids['failed']}")
    expect(failed.get_by_test_id("answer")).to_have_text("no compartment Z99")
    expect(failed.get_by_test_id("finished-at")).not_to_be_empty()
    expired = table.get_by_test_id(f"command-{ids['expired']}")
    expect(expired.get_by_test_id("answer")).to_contain_text("expired before the terminal")
    expect(expired.get_by_test_id("delivered-at")).to_be_empty()

    # The fleet's list, filtered by state, with the count of each state in the filter.
    page.goto(f"{console.url}/console/fleet")
    page.get_by_test_id("fleet-commands-link").click()
    expect(page.get_by_test_id("commands").locator("tbody tr")).to_have_count(6)
    page.get_by_test_id("command-state").select_option("failed")
    page.get_by_test_id("command-filter-apply").click()
    expect(page).to_have_url(f"{console.url}/console/fleet/commands?state=failed")
    rows = page.get_by_test_id("commands").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("T0001")
    expect(rows.first.get_by_test_id("answer")).to_have_text("no compartment Z99")
    expect(page.get_by_test_id("command-count")).to_have_text("该状态共 1 条")
    expect(page.get_by_test_id("command-state").locator("option[value=delivered]")).to_have_text(
        "终端已接收，执行中 (1)"
    )

    # An unknown state is refused with a clear word, not an empty list that looks right.
    response = page.goto(f"{console.url}/console/fleet/commands?state=pending")
    assert response is not None and response.status == 422
    expect(page.get_by_test_id("error")).to_have_text("未知的指令状态。")

    clerk = browser.new_page()
    sign_in(clerk, console.url, "clerk.wang")
    response = clerk.goto(f"{console.url}/console/fleet/commands")
    assert response is not None and response.status == 403
