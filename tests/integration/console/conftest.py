"""Fixtures: the console on a real HTTP port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_server import KEY, NO, PASSWORD, ConsoleServer, scanned_pdf, submit

from backend.auth.accounts import Accounts

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleServer]:
    server = ConsoleServer(tmp_path)
    server.service.register_terminal("T0001", KEY)
    submit(server.service, NO, pdf=scanned_pdf())
    accounts = Accounts(server.service.db)
    accounts.add("clerk.li", ["clerk"], password=PASSWORD)  # must change it at first sign-in
    accounts.add("clerk.wang", ["clerk"], password=PASSWORD, must_change_password=False)
    accounts.add("clerk.zhou", ["clerk"], password=PASSWORD, must_change_password=False)
    accounts.add("op.zhao", ["operator"], password=PASSWORD, must_change_password=False)
    accounts.add("sup.ma", ["supervisor"], password=PASSWORD, must_change_password=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()
