"""Presence history for real: a terminal over mutual-TLS Mosquitto whose network is cut silently
by a proxy, then restored, then stopped cleanly; the backend writes each transition once (the
broker's late will of the cut connection adds none) and the operator reads them, newest first,
on the terminal's page in Debian's Chromium. A simulated terminal flapping over the same broker
writes many more transitions than are kept, and the monitor's prune (one worker, by its lease)
brings its history back to the bound, newest kept."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tcp_proxy import SilentCutProxy
from terminal_integration_parts import KEY, TERMINAL, build_node

from allhours.broker import PrivateMosquitto
from backend.auth.accounts import Accounts
from backend.enrollment import worker_identity
from backend.models import PresenceTransition, Terminal, TerminalConnection
from backend.notifications.models import JobLease
from backend.presence import PresenceSettings, presence_history
from backend.service import BackendService
from cloud_bridge.link import wait_until

sys.path.insert(0, str(Path(__file__).parents[1] / "console"))
from console_server import PASSWORD, ConsoleServer

pytestmark = pytest.mark.broker

KEEPALIVE = 6
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def console(broker: PrivateMosquitto, tmp_path: Path) -> Iterator[ConsoleServer]:
    service = BackendService(
        f"sqlite:///{tmp_path / 'backend.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.presence",
        credentials=worker_identity(broker.authority, "backend.presence"),
        presence=PresenceSettings(offline_grace=timedelta(seconds=3), sweep_s=0.2),
    )
    service.register_terminal(TERMINAL, KEY)
    Accounts(service.db).add("op.zhao", ["operator"], password=PASSWORD, must_change_password=False)
    server = ConsoleServer(tmp_path, service).start()
    service.start()
    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy(broker: PrivateMosquitto) -> Iterator[SilentCutProxy]:
    p = SilentCutProxy(broker.host, broker.port).start()
    try:
        yield p
    finally:
        p.stop()


def _history(service: BackendService) -> list[tuple[str, str, int | None]]:
    """Oldest first."""
    with service.db.transaction() as s:
        rows = presence_history(s, TERMINAL)
    return [(r["state"], r["reason"], r["connection"]) for r in reversed(rows)]


def _terminal(service: BackendService) -> Terminal:
    with service.db.transaction() as s:
        t = s.get(Terminal, TERMINAL)
        s.expunge(t)
        return t


def test_a_cut_restored_and_stopped_terminal_leaves_its_transitions_on_its_page(
    broker, console, proxy, tmp_path
):
    service = console.service
    node, _board = build_node(
        broker,
        tmp_path / "terminal",
        keepalive_s=KEEPALIVE,
        broker_via=f"{broker.host}:{proxy.port}",
    )
    node.start()
    stopped = False
    try:
        assert node.link.wait_connected(10)
        assert wait_until(lambda: _terminal(service).last_status == "online", 15)
        first = _terminal(service).presence_connection
        assert first is not None
        time.sleep(2.5)  # a heartbeat through the proxy
        proxy.drop()
        assert wait_until(lambda: _terminal(service).last_status == "offline", 30)
        proxy.restore()
        assert wait_until(
            lambda: (lambda t: t.last_status == "online" and t.presence_connection > first)(
                _terminal(service)
            ),
            60,
        ), "the terminal did not come back on a new connection"
        # The cut connection's will, published by the broker once it gives up on it, is the
        # same offline again (or refused if it comes after the new connection): no new row.
        time.sleep(1.5 * KEEPALIVE + 1)
        node.stop()
        stopped = True
        assert wait_until(lambda: _terminal(service).presence_reason == "stopped", 15)
    finally:
        if not stopped:
            node.stop()

    history = _history(service)
    print(history)
    # Heartbeats arriving late on a loaded machine may add degraded/online pairs; the
    # transitions that must be there, in order, are these. The cut is seen by the backend's
    # heartbeat rule or by the broker's will, whichever comes first (both at 1.5 x keep-alive).
    cut = {"heartbeats_missing", "connection_lost"}
    expected = [
        ("online", {""}, first),
        ("offline", cut, first),
        ("online", None, None),  # the new connection
        ("offline", {"stopped"}, None),
    ]
    rest = iter(history)
    for state, reasons, connection in expected:
        assert any(
            h[0] == state
            and (reasons is None or h[1] in reasons)
            and (connection is None or h[2] == connection)
            for h in rest
        ), (state, reasons, connection, history)
    assert history[-1][0:2] == ("offline", "stopped") and history[-1][2] > first
    offline_rows = [h for h in history if h[0] == "offline"]
    assert len(offline_rows) == 2, history  # the will of the cut connection wrote nothing
    assert all(a != b for a, b in itertools.pairwise(history)), history

    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{console.url}/console/login")
            page.fill("input[name=username]", "op.zhao")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{console.url}/console/fleet")
            page.goto(f"{console.url}/console/fleet/terminals/{TERMINAL}")
            table = page.get_by_test_id("presence-history")
            expect(table.locator("tbody tr")).to_have_count(len(history))
            newest = table.locator("tbody tr").first
            expect(newest).to_contain_text("离线")
            expect(newest).to_contain_text("正常停止")
            [cut_reason] = {h[1] for h in history if h[0] == "offline"} - {"stopped"}
            worded = {
                "heartbeats_missing": "心跳中断（网络静默断开）",
                "connection_lost": "连接中断（遗嘱消息）",
            }
            expect(table).to_contain_text(worded[cut_reason])
            expect(table).to_contain_text("在线")
            expect(page.get_by_test_id("offline-totals")).to_contain_text(
                "最近 24 小时离线：0 小时"
            )
        finally:
            chromium.close()


def test_a_flapping_simulated_terminal_keeps_a_bounded_history(broker, tmp_path):
    from allhours.fleet_sim import FleetSim, SimSettings, enroll_fleet

    keep = 6
    service = BackendService(
        f"sqlite:///{tmp_path / 'flap.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.flap",
        credentials=worker_identity(broker.authority, "backend.flap"),
        presence=PresenceSettings(
            sweep_s=0.2, history_keep=keep, history_prune_every=timedelta(seconds=1)
        ),
    )
    ids = ["S0000", "S0001"]
    for tid in ids:
        service.register_terminal(tid, KEY)
    service.start()
    sim = FleetSim(
        enroll_fleet(broker.authority, ids, tmp_path / "sim"),
        SimSettings(host=broker.host, port=broker.port, keepalive=4, telemetry_s=30.0),
    )

    def rows(tid: str) -> list[PresenceTransition]:
        with service.db.transaction() as s:
            found = list(
                s.scalars(
                    select(PresenceTransition)
                    .where(PresenceTransition.terminal_id == tid)
                    .order_by(PresenceTransition.id)
                )
            )
            for r in found:
                s.expunge(r)
            return found

    def connection(tid: str) -> int:
        with service.db.transaction() as s:
            return s.get(TerminalConnection, tid).connection

    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        sim.start()
        assert wait_until(lambda: all(rows(t) for t in ids), 30)
        first = connection("S0000")
        sim.flap("S0000", 0.5)
        # Twelve reconnects: at least 24 transitions written, four times what is kept.
        assert wait_until(lambda: connection("S0000") >= first + 12, 60)
        sim.flap("S0000", 0)
        assert wait_until(lambda: len(rows("S0000")) == keep, 30), len(rows("S0000"))
        kept = rows("S0000")
        last = connection("S0000")
        assert max(r.connection for r in kept) == last  # the newest are the ones kept
        assert min(r.connection for r in kept) >= last - keep
        assert [(r.state, r.reason) for r in rows("S0001")] == [("online", "")]
        with service.db.transaction() as s:
            lease = s.get(JobLease, "presence-history")
            assert lease is not None and lease.holder == "backend.flap"
    finally:
        sim.stop()
        service.stop()
