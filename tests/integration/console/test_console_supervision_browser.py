"""Supervision in a real browser: claiming and assignment, a supervisor sees the escalation,
and the dashboard draws its charts with the vendored ECharts."""

from __future__ import annotations

from datetime import timedelta

from console_cases import promise_by
from console_server import NO, PASSWORD
from playwright.sync_api import expect

from backend.console.deadlines import Colour, bounds
from backend.models import utcnow
from backend.workdays import CN_OFFICIAL
from cloud_bridge.contract.messages import SERVICE_TZ
from cloud_bridge.link import wait_until

CHARTS = ("per_day", "per_hour", "per_terminal", "per_item", "processing", "ratings")


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def make_red(console) -> None:
    """Put the case's promised day far enough back to be red today (Beijing)."""
    today = utcnow().astimezone(SERVICE_TZ).date()
    second = bounds(CN_OFFICIAL, today)[Colour.RED][1]
    promise_by(console.service, NO, second - timedelta(days=1))


def test_a_clerk_claims_another_is_refused_and_a_supervisor_reassigns(console, browser):
    wang = browser.new_context().new_page()
    zhou = browser.new_context().new_page()
    ma = browser.new_context().new_page()
    for page, who in ((wang, "clerk.wang"), (zhou, "clerk.zhou"), (ma, "sup.ma")):
        sign_in(page, console.url, who)
        page.goto(f"{console.url}/console/applications/{NO}")

    wang.get_by_test_id("claim-button").click()
    expect(wang.get_by_test_id("holder")).to_contain_text("clerk.wang")
    zhou.get_by_test_id("act-accept").click()  # zhou's page was opened before the claim
    expect(zhou.get_by_test_id("error")).to_contain_text("clerk.wang 办理")
    expect(zhou.get_by_test_id("state")).to_have_text("已提交")
    zhou.goto(f"{console.url}/console/queue")
    expect(zhou.get_by_test_id("queue")).to_contain_text("clerk.wang")
    zhou.get_by_test_id("filter-holder").select_option("unclaimed")
    expect(zhou.get_by_test_id("queue")).not_to_contain_text(NO)

    ma.reload()
    ma.get_by_test_id("assign-to").select_option("clerk.zhou")
    ma.get_by_test_id("assign").click()
    expect(ma.get_by_test_id("holder")).to_contain_text("clerk.zhou")
    expect(ma.get_by_test_id("holder")).to_contain_text("sup.ma")

    zhou.goto(f"{console.url}/console/applications/{NO}")
    zhou.get_by_test_id("act-accept").click()
    expect(zhou.get_by_test_id("state")).to_have_text("已受理")
    assert zhou.get_by_test_id("assign").count() == 0  # a clerk cannot assign


def test_a_supervisor_sees_the_escalation_nobody_acted_on(console, browser):
    make_red(console)
    clerk = browser.new_context().new_page()
    sign_in(clerk, console.url, "clerk.wang")
    clerk.goto(f"{console.url}/console/applications/{NO}")
    clerk.get_by_test_id("claim-button").click()
    expect(clerk.get_by_test_id("case-colour")).to_have_text("红色预警")

    now = utcnow()
    console.service.escalations.run(now)  # the job's pass: the clerk is told
    clerk.reload()
    expect(clerk.get_by_test_id("unread")).to_have_text("1")
    clerk.get_by_test_id("nav-notices").click()
    expect(clerk.get_by_test_id("notices")).to_contain_text(NO)

    console.service.escalations.run(now + timedelta(hours=4, minutes=1))  # nothing was done
    ma = browser.new_context().new_page()
    sign_in(ma, console.url, "sup.ma")
    expect(ma.get_by_test_id("unread")).to_have_text("1")
    ma.get_by_test_id("nav-escalations").click()
    row = ma.get_by_test_id("escalation-supervisor")
    expect(row).to_contain_text(NO)
    expect(row).to_contain_text("clerk.wang")
    expect(row).to_contain_text("红色预警")
    row.get_by_role("link", name=NO).click()
    expect(ma.get_by_test_id("case-colour")).to_have_text("红色预警")
    assert clerk.get_by_test_id("nav-escalations").count() == 0


def test_the_dashboard_draws_its_charts(console, browser, tmp_path):
    wang = browser.new_context().new_page()
    sign_in(wang, console.url, "clerk.wang")
    wang.goto(f"{console.url}/console/applications/{NO}")
    for step in ("accept", "review", "approve"):
        wang.get_by_test_id(f"act-{step}").click()
    expect(wang.get_by_test_id("state")).to_have_text("已办结")

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, console.url, "sup.ma")
    page.get_by_test_id("nav-statistics").click()
    page.get_by_test_id("stats-days").select_option("365")
    page.click("main form button[type=submit]")
    expect(page.get_by_test_id("table-per_terminal")).to_contain_text("T0001")

    def drawn(name: str):
        chart = page.get_by_test_id(f"chart-{name}")
        # The ECharts instance has its series, and its canvas has pixels that are not blank.
        return chart.evaluate(
            """el => {
                const c = window.echarts && echarts.getInstanceByDom(el);
                const canvas = el.querySelector('canvas');
                if (!c || !canvas || !canvas.width) return null;
                const g = canvas.getContext('2d');
                const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
                return {series: c.getOption().series.length, inked: inked};
            }"""
        )

    for name in CHARTS:
        result = wait_until(lambda n=name: drawn(n), 20, 0.2)
        assert result["series"] >= 1 and result["inked"] > 500, (name, result)
    per_terminal = page.get_by_test_id("chart-per_terminal").evaluate(
        "el => echarts.getInstanceByDom(el).getOption().series[0].data"
    )
    assert per_terminal == [1]
    processing = page.get_by_test_id("chart-processing").evaluate(
        "el => echarts.getInstanceByDom(el).getOption().series.map(s => s.data.length)"
    )
    assert processing == [1, 1]  # median and p90 for the one item decided
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
