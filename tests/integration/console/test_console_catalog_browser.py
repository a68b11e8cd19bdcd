"""The catalog editor end to end in Debian's Chromium: an admin edits an item's fee and promised
days, publishes, and an enrolled terminal on a real mutual-TLS Mosquitto runs it (the kiosk's
item page shows the new fee); a clerk is refused; an invalid edit is refused naming the field; a
layout that would orphan a loaded compartment is refused by the terminal and the operator reads
why; settings outside the allow-list are refused before anything is sent."""

from __future__ import annotations

import time

import httpx
import kivy_offscreen  # noqa: F401 - before anything imports kivy
import pytest
from console_server import KEY, PASSWORD, ConsoleServer
from enrolled_terminal import enrolled_for
from playwright.sync_api import expect

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.enrollment import worker_identity
from backend.service import BackendService
from cloud_bridge.contract.catalog import find_item
from locker.layout import Size

pytestmark = pytest.mark.broker

TERMINAL = "T0001"


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def wait_until(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def fleet(tmp_path, broker):
    service = BackendService(
        f"sqlite:///{tmp_path / 'backend.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.under-test",
        credentials=worker_identity(broker.authority, "backend.under-test"),
    )
    service.register_terminal(TERMINAL, KEY)
    accounts = Accounts(service.db)
    for name, roles in (("admin.sun", ["admin"]), ("clerk.wang", ["clerk"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    accounts.add("op.zhao", ["operator"], password=PASSWORD, must_change_password=False)
    service.start()
    assert service.mqtt is not None and service.mqtt.wait_ready(10)
    server = ConsoleServer(tmp_path, service).start()
    node = training_terminal(
        enrolled_for(broker, tmp_path / "terminal", TERMINAL, pickup_code_key=KEY),
        devices=EmulatedDevices(),
    ).node
    node.start()
    try:
        assert node.link.connected.wait(30)
        yield server, node
    finally:
        node.stop()
        server.stop()


def _kiosk_fee_line(node, code: str) -> str:
    """The fee line the kiosk's item page shows a citizen for `code`."""
    from kivy.uix.label import Label

    from terminal.ui.driver import KioskDriver
    from terminal.ui.kiosk import Kiosk, walk

    drv = KioskDriver(Kiosk(node, lang="zh", card_poll_s=0.05))
    try:
        drv.kiosk.go("item", code=code)
        drv.pump(3)
        texts = [w.text for w in walk(drv.kiosk.screens["item"]) if isinstance(w, Label)]
        return next(t for t in texts if t.startswith("收费："))
    finally:
        drv.close()


def test_an_admin_edits_publishes_and_the_terminal_runs_it_while_a_clerk_is_refused(fleet, browser):
    server, node = fleet
    base = server.url
    assert _kiosk_fee_line(node, "SB-0203") == "收费：免费"

    clerk = browser.new_page()
    sign_in(clerk, base, "clerk.wang")
    expect(clerk.get_by_test_id("nav-catalog")).to_have_count(0)
    response = clerk.goto(f"{base}/console/catalog")
    assert response is not None and response.status == 403
    response = clerk.goto(f"{base}/console/catalog/items/SB-0203")
    assert response is not None and response.status == 403

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, base, "admin.sun")
    page.goto(f"{base}/console/catalog")
    page.get_by_test_id("item-SB-0203").get_by_test_id("edit").click()
    expect(page.get_by_test_id("item-title")).to_contain_text("SB-0203")

    # Promised beyond the legal limit: refused, the field named, nothing kept.
    page.get_by_test_id("promised_days").fill("9")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("error")).to_contain_text("承诺办结时限（工作日）")
    expect(page.get_by_test_id("error")).to_contain_text("beyond the legal 3")
    expect(page.get_by_test_id("promised_days")).to_have_attribute("aria-invalid", "true")

    # A step due after the promise: refused, the step days marked.
    page.get_by_test_id("promised_days").fill("2")
    page.get_by_test_id("step_review").fill("3")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("error")).to_contain_text("环节时限")
    expect(page.get_by_test_id("error")).to_contain_text("step_days.review 3 is beyond")
    expect(page.get_by_test_id("step_review")).to_have_attribute("aria-invalid", "true")

    page.get_by_test_id("fee-paid").check()
    page.get_by_test_id("fee_yuan").fill("20")
    page.get_by_test_id("fee_basis").fill("证明工本费")
    page.get_by_test_id("step_accept").fill("1")
    page.get_by_test_id("step_review").fill("")
    page.get_by_test_id("step_decide").fill("2")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("done")).to_have_text("已保存到草稿。")
    row = page.get_by_test_id("item-SB-0203")
    expect(row.get_by_test_id("fee")).to_contain_text("¥20.00")
    expect(row.get_by_test_id("days")).to_contain_text("3 / 2 个工作日")
    expect(row.get_by_test_id("step-days")).to_have_text("受理 1 · 决定 2")
    expect(page.get_by_test_id("history")).to_contain_text("fee_fen: 0 → 2000")
    expect(page.get_by_test_id("history")).to_contain_text('"decide": 2')

    page.get_by_test_id("publish-note").fill("参保证明收取工本费")
    page.get_by_test_id("publish-target").fill(TERMINAL)
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("done")).to_contain_text(f"已发布并推送到 {TERMINAL}")
    expect(page.get_by_test_id("version-1")).to_contain_text("catalog-1")

    # The terminal verifies the signed bundle, applies it and says it runs catalog-1.
    wait_until(lambda: node.config.active_version() == "catalog-1", what="the terminal's switch")
    assert _kiosk_fee_line(node, "SB-0203") == "收费：20.00 元 (证明工本费)"
    assert node.parts.catalog_version == "catalog-1"  # sent with each submission from now on
    assert find_item("SB-0203", node.config.catalog().items).step_days == (
        ("accept", 1),
        ("decide", 2),
    )
    page.goto(f"{base}/console/fleet/bundles")

    def running() -> str:
        page.reload()
        cell = page.get_by_test_id("bundles").get_by_test_id("running").first
        return cell.inner_text()

    wait_until(lambda: running() == "catalog-1", what="the ack in the console")


def test_a_layout_that_orphans_a_deposit_is_refused_by_the_terminal_and_the_operator_reads_why(
    fleet, browser
):
    server, node = fleet
    _staff, token = account_with_token(server.service.db, "api.zhao", ["operator"])
    slot = node.locker.reserve_for_deposit("AH-T0001-20261204-0009", Size.M)
    node.locker.confirm_deposit(slot.spec.id)
    layout = [
        {"id": c.spec.id, "size": c.spec.size.value, "board": c.spec.board,
         "channel": c.spec.channel, "door": "same" if c.spec.door else "none"}
        for c in node.locker.compartments()
        if c.spec.id != slot.spec.id
    ]  # fmt: skip
    with httpx.Client(base_url=server.url, headers=bearer(token), timeout=30) as api:
        # Settings outside the allow-list never leave the backend.
        r = api.post(
            "/api/fleet/bundles",
            json={"terminals": [TERMINAL], "version": "s-1",
                  "settings": {"link": {"broker_via": "203.0.113.7:8883"}}},
        )  # fmt: skip
        assert r.status_code == 422
        assert "settings: link.broker_via may not change remotely" in r.json()["detail"]
        r = api.post(
            "/api/fleet/bundles",
            json={"terminals": [TERMINAL], "version": "layout-2", "layout": layout},
        )
        assert r.status_code == 202, r.text

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, server.url, "op.zhao")
    page.goto(f"{server.url}/console/fleet/bundles")
    why = (
        f"bundle layout-2 refused: layout: {slot.spec.id} is holding_deposit"
        f" (AH-T0001-20261204-0009) and the new layout has no {slot.spec.id}"
    )

    def answer() -> str:
        page.reload()
        return page.get_by_test_id("bundles").get_by_test_id("answer").first.inner_text()

    wait_until(lambda: answer() == why, what="the terminal's refusal in the console")
    assert node.config.active_version() == "builtin"
    assert slot.spec.id in {c.spec.id for c in node.locker.compartments()}
