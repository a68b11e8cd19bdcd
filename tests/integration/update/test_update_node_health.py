"""A running terminal node writes the health report updates and bundles are judged by."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from enrolled_terminal import enrolled_at

from allhours.bootstrap import training_terminal
from cloud_bridge.contract.messages import utcnow
from terminal.node import SOFTWARE_VERSION
from terminal.update_health import judge, read_report, wait_healthy

pytestmark = pytest.mark.broker


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


def _node(data_dir, broker, port, clock):
    enrolled_at(broker.authority, data_dir, broker_port=port)
    return training_terminal(data_dir, clock=clock).node


def test_a_linked_node_reports_healthy_and_its_report_goes_stale_when_it_stops(tmp_path, broker):
    since = time.time()
    node = _node(tmp_path / "t", broker, broker.port, Clock()).start()
    try:
        verdict = wait_healthy(
            tmp_path / "t", since=since, timeout_s=60, software_version=SOFTWARE_VERSION
        )
        assert verdict.healthy, verdict.detail
        assert node.link.connected.wait(60)
        assert node.health.write()["problems"] == {}
    finally:
        node.stop()
    stopped = read_report(tmp_path / "t")
    assert "s old" in judge(stopped, since=0, now=stopped["at"] + 60).detail


def test_a_node_that_cannot_reach_its_broker_says_so_after_ninety_seconds(tmp_path, broker):
    clock = Clock()
    # Port 9 (discard): the link never connects, as with a cut network.
    node = _node(tmp_path / "t", broker, 9, clock).start()
    try:
        assert node.health.write()["ok"]  # a starting kiosk is given time to connect
        clock.now += timedelta(seconds=120)
        report = node.health.write()
        assert not report["ok"]
        assert report["problems"] == {"link": "not connected to the broker for 120 s"}
        verdict = judge(report, since=0, software_version=SOFTWARE_VERSION)
        assert not verdict.healthy and "link: not connected" in verdict.detail
    finally:
        node.stop()
