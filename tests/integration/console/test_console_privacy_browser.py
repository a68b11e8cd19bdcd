"""What a shared office PC's browser keeps of a case after the supervisor signs out.

Found in Chromium: the API's full view of a case (name, ID number, phone), opened under the
console's session cookie, had no Cache-Control; it stayed in the disk cache and the Back button
showed it again after sign-out. htmx kept page snapshots in sessionStorage. Now every answer is
no-store, sign-out answers Clear-Site-Data, and htmx stores no snapshot."""

from __future__ import annotations

import re

from console_server import NO, PASSWORD
from playwright.sync_api import expect

FULL_ID = "11010519491231002X"
STORAGE = "() => ({local: {...localStorage}, session: {...sessionStorage}})"
# Is `url` in the browser's HTTP cache? only-if-cached answers from the cache, stale or not,
# and fails (here: 0) rather than go to the network.
CACHED = """async url => {
  try { return (await fetch(url, {cache: "only-if-cached", mode: "same-origin"})).status; }
  catch (e) { return 0; }
}"""


def test_after_sign_out_the_browser_shows_and_keeps_no_full_view(console, browser):
    base, full_view = console.url, f"/api/applications/{NO}?unmasked=true"
    page = browser.new_context().new_page()
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", "sup.ma")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/queue")  # loaded: htmx has read the page
    expect(page.get_by_test_id("queue")).to_contain_text(NO)

    # htmx pushes a filtered queue and a scan's next page into the history...
    page.get_by_test_id("filter-state").select_option("submitted")
    expect(page).to_have_url(re.compile(r"state=submitted"))
    page.goto(f"{base}/console/applications/{NO}")
    page.get_by_test_id("open-household-register").click()
    page.wait_for_url(re.compile(r"/materials/\d+$"))
    page.get_by_test_id("next").click()
    expect(page.get_by_test_id("page-of")).to_have_text("第 2 页，共 2 页")
    # ...and Back asks the server for the whole page again: no snapshot to restore from.
    page.go_back()
    expect(page.get_by_test_id("page-of")).to_have_text("第 1 页，共 2 页")
    expect(page.get_by_test_id("nav-queue")).to_be_visible()  # a whole page, not the fragment
    assert "htmx-history-cache" not in page.evaluate(STORAGE)["session"]

    # The audited full view, as JSON, under the console's cookie: shown, but not stored.
    page.goto(f"{base}{full_view}")
    assert FULL_ID in page.content()
    page.goto(f"{base}/console/queue")
    assert page.evaluate(CACHED, full_view) == 0
    # A script the browser may keep (no personal data), and something in web storage.
    assert page.evaluate("async () => (await fetch('/console/static/statistics.js')).status") == 200
    assert page.evaluate(CACHED, "/console/static/statistics.js") == 200
    page.evaluate("() => localStorage.setItem('left-behind', 'x')")

    page.locator('form[action="/console/logout"] button').click()
    expect(page).to_have_url(f"{base}/console/login")
    # Clear-Site-Data: the origin's cache and storage are empty.
    assert page.evaluate(CACHED, "/console/static/statistics.js") == 0
    assert page.evaluate(CACHED, full_view) == 0
    storage = page.evaluate(STORAGE)
    assert storage["local"] == {}
    assert "htmx-history-cache" not in storage["session"]
    assert not any(NO in value for value in storage["session"].values())

    # Back, to the queue (asked again: the sign-in page), then to the full view: asked again
    # too, and refused.
    for _ in range(3):
        page.go_back()
        if full_view in page.url:
            break
    assert page.url == f"{base}{full_view}"
    assert FULL_ID not in page.content()
    assert "sign in first" in page.content()
