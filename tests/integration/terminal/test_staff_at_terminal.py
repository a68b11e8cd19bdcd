"""Staff at the terminal over the real broker: a console code signs a clerk in, and the originals
they collect are recorded in their name and leave the console's list of what waits where.

A private Mosquitto, the real backend over HTTP and an enrolled emulated terminal (LocalSite).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from allhours.site import LocalSite
from allhours.story import Citizen, citizen_submits
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import DepositCollection, TerminalSignIn
from cloud_bridge.link import wait_until
from terminal.flows.staff import SignInRefused

pytestmark = pytest.mark.broker

ZHANG = Citizen(name="张三", id_number="11010519491231002X", phone="13800138000")
PASSWORD = "Night-Shift-2026"


def console_session(base_url: str, username: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base_url, timeout=10)
    r = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client, r.json()["csrf_token"]


def test_a_console_code_signs_a_clerk_in_and_collected_originals_are_recorded_in_their_name(
    tmp_path: Path,
):
    with LocalSite(tmp_path) as site:
        assert site.backend and site.node and site.devices
        node, service, base = site.node, site.backend.service, site.backend.base_url
        Accounts(service.db).add(
            "clerk.wang",
            ["clerk"],
            password=PASSWORD,
            display_name="王芳",
            must_change_password=False,
        )
        _, ops_token = account_with_token(service.db, "ops.zhao", ["operator"])
        receipt = citizen_submits(node, site.devices, ZHANG, "HJ-0101", lambda _s: None)
        app_no = receipt.application_no
        clerk, csrf = console_session(base, "clerk.wang")
        with contextlib.closing(clerk), httpx.Client(base_url=base, timeout=10) as anonymous:
            # The console lists the originals, by terminal and compartment, once they arrived.
            def waiting() -> str:
                page = clerk.get("/console/terminal-staff")
                assert page.status_code == 200
                return page.text if app_no in page.text else ""

            page = wait_until(waiting, 30, 0.2)
            assert page and 'data-testid="originals-waiting"' in page
            [slot] = [c for c in node.locker.compartments() if c.application_no == app_no]
            assert f"<td>{site.terminal_id}</td><td>{slot.id}</td>" in page

            # Who may have a code: signed in, with terminal.service, a well-formed terminal.
            assert anonymous.post("/api/staff/terminal-code", json={}).status_code == 401
            assert anonymous.get("/console/terminal-staff").status_code in (303, 401)
            with httpx.Client(base_url=base, timeout=10, headers=bearer(ops_token)) as ops:
                assert ops.post("/api/staff/terminal-code", json={}).status_code == 403
            api = {"X-CSRF-Token": csrf}
            bad = clerk.post("/api/staff/terminal-code", json={"terminal_id": "../x"}, headers=api)
            assert bad.status_code == 422
            extra = clerk.post(
                "/api/staff/terminal-code", json={"terminal_id": None, "role": "admin"}, headers=api
            )
            assert extra.status_code == 422
            missing = clerk.post(
                "/api/staff/terminal-code", json={"terminal_id": "T9999"}, headers=api
            )
            assert missing.status_code == 404
            no_csrf = clerk.post("/console/terminal-staff/code", data={"terminal_id": ""})
            assert no_csrf.status_code == 403

            # The console page shows the code once; the kiosk asks the backend over MQTT.
            shown = clerk.post(
                "/console/terminal-staff/code",
                data={"terminal_id": site.terminal_id, "csrf_token": csrf},
            )
            assert shown.status_code == 200, shown.text
            value = shown.text.split('data-testid="terminal-code-value">', 1)[1].split("<", 1)[0]
            code = value.replace(" ", "")
            assert len(code) == 8 and code.isdigit()
            with pytest.raises(SignInRefused) as refused:
                node.staff_sign_in.sign_in(f"{(int(code) + 1) % 10**8:08d}")
            assert refused.value.reason == "refused"
            member = node.staff_sign_in.sign_in(code)
            assert (member.username, member.display_name) == ("clerk.wang", "王芳")
            with pytest.raises(SignInRefused):
                node.staff_sign_in.sign_in(code)  # used once already

            node.staff(member).collect_deposit(slot.id)

            def collected():
                with service.db.transaction() as s:
                    row = s.get(DepositCollection, app_no)
                    return row and (row.collected_by, row.compartment_id)

            assert wait_until(collected, 30, 0.2) == (
                f"clerk.wang@terminal:{site.terminal_id}",
                slot.id,
            )
            page = clerk.get("/console/terminal-staff").text
            assert 'data-testid="originals-none"' in page
            assert f"clerk.wang@terminal:{site.terminal_id}" in page
            with service.db.transaction() as s:
                outcomes = list(s.scalars(select(TerminalSignIn.outcome)))
            assert outcomes == ["wrong", "accepted", "wrong"]
