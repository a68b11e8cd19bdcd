"""The terminal page's presence history (在线记录): the terminal's own transitions newest first,
worded from the catalogs in Chinese and English, with the time offline; readers only."""

from __future__ import annotations

import re

import pytest
from console_cases import KEY, PASSWORD, sign_in
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.service import BackendService
from cloud_bridge.contract import messages as m

PAGE = "/console/fleet/terminals/T0001"


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    for tid in ("T0001", "T0002"):
        svc.register_terminal(tid, KEY)
    accounts = Accounts(svc.db)
    for name, roles in (("op.zhao", ["operator"]), ("clerk.li", ["clerk"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def _status(service, terminal: str, state: str, connection: int, reason: str | None = None):
    msg = m.Status(
        terminal_id=terminal,
        message_id=m.new_message_id(),
        state=state,
        software_version="0.3.1",
        since="2026-12-04T01:00:00Z",
        connection=connection,
        keepalive_s=30,
        reason=reason,
    )
    assert not service.ingest.handle_batch([(msg.topic(), msg.encode())]).rejected


def _rows(html: str) -> list[str]:
    table = html.split('data-testid="presence-history"', 1)[1].split("</table>", 1)[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr data-testid=\"presence-\w+\">(.*?)</tr>", table, re.S)
    ]


def test_an_operator_reads_the_terminals_own_transitions_newest_first(client, service):
    _status(service, "T0001", "online", 7)
    _status(service, "T0001", "online", 7)  # a heartbeat: no row
    _status(service, "T0001", "offline", 7, "connection_lost")
    _status(service, "T0001", "online", 8)
    _status(service, "T0001", "offline", 8, "stopped")
    _status(service, "T0002", "online", 1)  # another terminal's: not on this page
    sign_in(client, "op.zhao")

    page = client.get(PAGE)
    assert page.status_code == 200
    rows = _rows(page.text)
    assert len(rows) == 4
    assert rows[0].endswith("离线 正常停止 8")
    assert rows[1].endswith("在线 8")
    assert rows[2].endswith("离线 连接中断（遗嘱消息） 7")
    assert rows[3].endswith("在线 7")
    assert "最近 24 小时离线：0 小时 0 分" in page.text

    english = client.get(PAGE, params={"lang": "en"})
    assert "Presence history" in english.text
    assert _rows(english.text)[0].endswith("offline stopped cleanly 8")
    assert "Offline in the last 7 days: 0 h 0 min" in english.text


def test_a_terminal_never_heard_from_says_so(client):
    sign_in(client, "op.zhao")
    page = client.get("/console/fleet/terminals/T0002", params={"lang": "zh"})
    assert page.status_code == 200 and "还没有在线记录。" in page.text


def test_strangers_clerks_and_unknown_terminals_are_refused(client, service):
    _status(service, "T0001", "online", 1)
    r = client.get(PAGE, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    sign_in(client, "clerk.li")
    r = client.get(PAGE)
    assert r.status_code == 403 and "presence-history" not in r.text
    client.post("/console/logout")
    client.cookies.clear()
    sign_in(client, "op.zhao")
    assert client.get("/console/fleet/terminals/T0999").status_code == 404
    assert client.get("/console/fleet/terminals/bad%20id").status_code == 404
