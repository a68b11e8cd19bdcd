"""Clerks in a real browser: sign in, read the scans, approve; a role refused; two clerks race."""

from __future__ import annotations

from console_server import NO, PASSWORD
from playwright.sync_api import expect

from cloud_bridge.link import wait_until

NEW_PASSWORD = "Blue-Lantern-77"


def sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_a_clerk_signs_in_reads_the_scans_and_approves(console, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, console.url, "clerk.li")
    expect(page.get_by_test_id("forced")).to_be_visible()
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=repeat_password]", NEW_PASSWORD)
    page.click("main button[type=submit]")

    queue = page.get_by_test_id("queue")
    expect(queue).to_contain_text(NO)
    page.get_by_test_id("filter-state").select_option("approved")  # htmx swaps the rows
    expect(queue).not_to_contain_text(NO)
    page.get_by_test_id("filter-state").select_option("submitted")
    expect(queue).to_contain_text(NO)
    page.click(f"text={NO}")
    expect(page.get_by_test_id("id-number")).to_have_text("1101**********002X")

    page.get_by_test_id("open-household-register").click()
    expect(page.get_by_test_id("page-of")).to_have_text("第 1 页，共 2 页")
    page.get_by_test_id("next").click()
    expect(page.get_by_test_id("page-of")).to_have_text("第 2 页，共 2 页")
    scan = page.get_by_test_id("page")
    expect(scan).to_have_attribute("src", f"/console/applications/{NO}/materials/1/pages/2.png")
    # The console's CSP forbids eval, so poll the image from here rather than wait_for_function.
    width = wait_until(lambda: scan.evaluate("img => img.complete && img.naturalWidth"), 10, 0.1)
    assert width == 1100
    page.screenshot(path=str(tmp_path / "viewer.png"))

    page.go_back()  # to page 1 of the viewer (htmx pushed page 2), then to the case
    page.goto(f"{console.url}/console/applications/{NO}")
    for step, state in (("accept", "已受理"), ("review", "审核中"), ("approve", "已办结")):
        page.get_by_test_id(f"act-{step}").click()
        expect(page.get_by_test_id("state")).to_have_text(state)
    page.get_by_test_id("act-load_result").click()
    expect(page.get_by_test_id("done")).to_have_text("已通知终端准备柜格。")
    expect(page.get_by_test_id("history")).to_contain_text("clerk.li")


def test_a_person_without_the_clerk_role_is_refused(console, browser):
    page = browser.new_page()
    sign_in(page, console.url, "op.zhao")  # an operator lands on the fleet, not the queue
    expect(page).to_have_url(f"{console.url}/console/fleet")
    page.goto(f"{console.url}/console/queue")
    expect(page.get_by_test_id("forbidden")).to_be_visible()
    page.goto(f"{console.url}/console/applications/{NO}")
    expect(page.get_by_test_id("forbidden")).to_have_text("无权操作")
    assert page.get_by_test_id("actions").count() == 0
    with console.service.db.transaction() as session:
        from backend.models import Application

        assert session.get(Application, NO).status == "submitted"


def test_two_clerks_race_on_one_application_and_the_loser_is_told_why(console, browser):
    wang = browser.new_context().new_page()
    zhou = browser.new_context().new_page()
    for page, who in ((wang, "clerk.wang"), (zhou, "clerk.zhou")):
        sign_in(page, console.url, who)
        page.goto(f"{console.url}/console/applications/{NO}")
        expect(page.get_by_test_id("act-accept")).to_be_visible()

    wang.get_by_test_id("act-accept").click()
    expect(wang.get_by_test_id("state")).to_have_text("已受理")
    zhou.get_by_test_id("act-accept").click()

    expect(zhou.get_by_test_id("error")).to_contain_text("clerk.wang 已于")
    expect(zhou.get_by_test_id("error")).to_contain_text("已受理")
    expect(zhou.get_by_test_id("state")).to_have_text("已受理")  # the page now shows the truth
    expect(zhou.get_by_test_id("act-review")).to_be_visible()
