"""Staged rollouts in Debian's Chromium: an operator makes a pilot group, starts a software
rollout, and reads on its page why it stopped before the rest of the fleet when the pilot's
terminal rolled the version back; a supervisor reads it without forms."""

from __future__ import annotations

from console_server import KEY, PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from backend.commands import as_message
from backend.models import CommandRow
from cloud_bridge.contract import messages as m


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _pilot_rolls_back(service) -> None:
    """The pilot terminal's answers, as they arrive from the broker: accepted, then rolled back."""
    (cmd,) = [c for c in _sent(service) if c.terminal_id == "T0001"]
    ack = m.CommandAck(
        terminal_id="T0001",
        command_id=cmd.message_id,
        command_type="command.update_software",
        operation_id=cmd.operation_id,
        outcome="done",
        detail="accepted: fetching 0.4.0",
        result={"software_version": "0.3.1"},
    )
    outcome = m.SoftwareUpdated(
        terminal_id="T0001",
        operation_id=cmd.operation_id,
        version="0.4.0",
        ok=False,
        running="0.3.1",
        rolled_back=True,
        detail="0.4.0 unhealthy (screens: font for Chinese not found); rolled back to 0.3.1",
    )
    result = service.ingest.handle_batch([(x.topic(), x.encode()) for x in (ack, outcome)])
    assert not result.rejected
    service.rollouts.tick()


def _sent(service) -> list[m.UpdateSoftware]:
    with service.db.transaction() as s:
        rows = s.scalars(select(CommandRow).where(CommandRow.type == "command.update_software"))
        return [as_message(r) for r in rows]  # type: ignore[misc]


def test_an_operator_starts_a_staged_rollout_that_stops_at_the_pilot(console, browser):
    console.service.register_terminal("T0002", KEY)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, console.url, "op.zhao")
    page.goto(f"{console.url}/console/fleet")
    page.get_by_test_id("fleet-rollouts-link").click()
    expect(page.get_by_test_id("no-rollouts")).to_be_visible()

    page.get_by_test_id("group-name").fill("pilot")
    page.get_by_test_id("group-add").fill("T0001")
    page.get_by_test_id("group-save").click()
    expect(page.get_by_test_id("done")).to_contain_text("分组已保存")
    expect(page.get_by_test_id("group-pilot")).to_contain_text("T0001")

    page.get_by_test_id("start-version").fill("0.4.0")
    page.get_by_test_id("start-url").fill("https://releases.site.example/allhours-0.4.0.tar.gz")
    page.get_by_test_id("start-sha").fill("ab" * 32)
    page.get_by_test_id("start-size").fill("48213504")
    page.get_by_test_id("start-stages").fill("pilot all")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("state")).to_contain_text("进行中")
    expect(page.get_by_test_id("target-T0001")).to_contain_text("已发送")
    expect(page.get_by_test_id("target-T0002")).to_contain_text("等待前一批")
    assert [c.terminal_id for c in _sent(console.service)] == ["T0001"]

    _pilot_rolls_back(console.service)
    page.reload()
    expect(page.get_by_test_id("state")).to_contain_text("已中止")
    expect(page.get_by_test_id("detail")).to_contain_text("abort threshold reached: 1 of 1")
    expect(page.get_by_test_id("target-T0001")).to_contain_text("rolled back to 0.3.1")
    expect(page.get_by_test_id("target-T0002")).to_contain_text("未发送")
    expect(page.get_by_test_id("steer-form")).to_have_count(0)  # nothing left to steer
    expect(page.get_by_test_id("trail")).to_contain_text("op.zhao · 发起")
    assert [c.terminal_id for c in _sent(console.service)] == ["T0001"]

    supervisor = browser.new_page()
    sign_in(supervisor, console.url, "sup.ma")
    supervisor.goto(f"{console.url}/console/fleet/rollouts")
    expect(supervisor.get_by_test_id("rollouts")).to_contain_text("已中止")
    expect(supervisor.get_by_test_id("start-form")).to_have_count(0)
    expect(supervisor.get_by_test_id("group-form")).to_have_count(0)
