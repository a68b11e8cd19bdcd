"""Presence for real: a terminal link, a mutual-TLS Mosquitto and the backend, with the network
between terminal and broker cut silently by a proxy (packets dropped, nothing closed).

The backend must show the terminal offline within 1.5 x its keep-alive, raise one offline alarm
after the grace period, and clear it when the terminal is back; a terminal whose application
stops heartbeating while its MQTT connection stays up is taken offline the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tcp_proxy import SilentCutProxy
from terminal_integration_parts import KEY, TERMINAL, build_node

from allhours.broker import PrivateMosquitto
from backend.alarms import AlarmSettings
from backend.enrollment import worker_identity
from backend.models import AlarmRow, Terminal
from backend.presence import PresenceSettings
from backend.service import BackendService
from cloud_bridge.link import wait_until

pytestmark = pytest.mark.broker

KEEPALIVE = 6  # heartbeats every 2 s; offline after 9 s of silence
SWEEP_S = 0.2
GRACE = timedelta(seconds=3)


@pytest.fixture
def backend(broker: PrivateMosquitto, tmp_path: Path) -> Iterator[BackendService]:
    service = BackendService(
        f"sqlite:///{tmp_path / 'backend.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.fleet",
        credentials=worker_identity(broker.authority, "backend.fleet"),
        presence=PresenceSettings(offline_grace=GRACE, sweep_s=SWEEP_S),
        alarms=AlarmSettings(on_duty_phone="13800000000"),
    )
    service.register_terminal(TERMINAL, KEY)
    service.start()
    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        yield service
    finally:
        service.stop()


@pytest.fixture
def proxy(broker: PrivateMosquitto) -> Iterator[SilentCutProxy]:
    p = SilentCutProxy(broker.host, broker.port).start()
    try:
        yield p
    finally:
        p.stop()


def _terminal(service: BackendService) -> Terminal:
    with service.db.transaction() as s:
        t = s.get(Terminal, TERMINAL)
        assert t is not None
        s.expunge(t)
        return t


def _offline_alarms(service: BackendService) -> list[AlarmRow]:
    with service.db.transaction() as s:
        rows = list(s.scalars(select(AlarmRow).where(AlarmRow.kind == "offline")))
        for r in rows:
            s.expunge(r)
        return rows


def _start_node(broker, tmp_path, **link):
    node, _board = build_node(broker, tmp_path / "terminal", keepalive_s=KEEPALIVE, **link)
    node.start()
    assert node.link.wait_connected(10), "terminal did not connect"
    return node


def test_a_silently_cut_terminal_is_offline_within_1_5_keepalive_alarmed_then_cleared(
    broker, backend, proxy, tmp_path
):
    node = _start_node(broker, tmp_path, broker_via=f"{broker.host}:{proxy.port}")
    try:
        assert wait_until(lambda: _terminal(backend).last_status == "online", 15)
        time.sleep(2.5)  # at least one heartbeat through the proxy
        cut_at = datetime.now(UTC)
        proxy.drop()

        assert wait_until(lambda: _terminal(backend).last_status == "offline", 30)
        t = _terminal(backend)
        detected = (t.offline_since - cut_at).total_seconds()
        print(f"offline {detected:.2f} s after the cut ({t.presence_reason})")
        # The bound is the keep-alive rule itself; the sweep period and a second of slack
        # for a loaded machine are the only allowance.
        assert detected <= 1.5 * KEEPALIVE + SWEEP_S + 1.0, detected
        assert t.presence_reason in ("heartbeats_missing", "connection_lost")
        assert proxy.dropped_bytes > 0
        assert _offline_alarms(backend) == []  # not before the grace period

        assert wait_until(lambda: _offline_alarms(backend), 20)
        [alarm] = _offline_alarms(backend)
        assert alarm.state == "open"

        proxy.restore()
        assert wait_until(lambda: [a.state for a in _offline_alarms(backend)] == ["cleared"], 60), (
            "the terminal's return did not clear its offline alarm"
        )
        assert _terminal(backend).last_status == "online"
        [alarm] = _offline_alarms(backend)
        assert alarm.cleared_by == f"terminal:{TERMINAL}"
    finally:
        node.stop()


def test_a_terminal_that_stops_heartbeating_with_its_connection_up_goes_offline(
    broker, backend, tmp_path
):
    # The application's heartbeat thread never fires again while paho keeps the MQTT
    # connection alive with its pings: only the backend's heartbeat rule can see it.
    node = _start_node(broker, tmp_path, heartbeat_s=3600.0)
    try:
        assert wait_until(lambda: _terminal(backend).last_status == "online", 15)
        started = time.monotonic()
        assert wait_until(lambda: _terminal(backend).last_status == "offline", 30)
        assert time.monotonic() - started <= 1.5 * KEEPALIVE + SWEEP_S + 1.0
        assert _terminal(backend).presence_reason == "heartbeats_missing"
        assert node.link.connected.is_set()  # the broker still holds the connection

        node.link.publish_heartbeat()  # the application recovers
        assert wait_until(lambda: _terminal(backend).last_status == "online", 15)
        assert node.link.connections == 1
    finally:
        node.stop()


def test_a_simulated_fleet_over_mtls_silent_dropped_flapping_and_out_of_paper(broker, tmp_path):
    from allhours.fleet_sim import FleetSim, SimSettings, enroll_fleet

    ids = [f"S{i:04d}" for i in range(12)]
    service = BackendService(
        f"sqlite:///{tmp_path / 'fleet.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.sim",
        credentials=worker_identity(broker.authority, "backend.sim"),
        presence=PresenceSettings(offline_grace=GRACE, sweep_s=SWEEP_S),
    )
    for tid in ids:
        service.register_terminal(tid, KEY)
    service.start()
    sim = FleetSim(
        enroll_fleet(broker.authority, ids, tmp_path / "sim"),
        SimSettings(host=broker.host, port=broker.port, keepalive=4, telemetry_s=1.0,
                    paper_pages=45),
    )  # fmt: skip

    def state(tid: str) -> str | None:
        with service.db.transaction() as s:
            return s.get(Terminal, tid).last_status

    def alarms(kind: str) -> dict[str, AlarmRow]:
        with service.db.transaction() as s:
            rows = list(s.scalars(select(AlarmRow).where(AlarmRow.kind == kind)))
            for r in rows:
                s.expunge(r)
            return {r.terminal_id: r for r in rows}

    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        sim.start()
        assert wait_until(lambda: all(state(t) == "online" for t in ids), 30)

        cut = time.monotonic()
        sim.silence("S0000")
        sim.drop("S0001")
        sim.flap("S0002", 4.0)
        assert wait_until(lambda: state("S0001") == "offline", 10)  # the will, at once
        assert wait_until(lambda: state("S0000") == "offline", 20)
        assert time.monotonic() - cut <= 1.5 * 4 + SWEEP_S + 2.0
        with service.db.transaction() as s:
            assert s.get(Terminal, "S0001").presence_reason == "connection_lost"

        # Paper runs out on every running terminal: one low_paper alarm each, folded.
        assert wait_until(lambda: len(alarms("low_paper")) >= 9, 40)
        assert wait_until(lambda: "S0002" in alarms("offline"), 30)
        # The flapping terminal comes and goes: one alarm, reopened, not one per absence.
        assert wait_until(lambda: alarms("offline")["S0002"].occurrences >= 2, 40)
        assert set(alarms("offline")) >= {"S0000", "S0001", "S0002"}
        assert all(state(t) == "online" for t in ids[3:])
    finally:
        sim.stop()
        service.stop()
