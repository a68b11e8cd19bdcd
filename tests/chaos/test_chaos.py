"""A bounded chaos round in `make test`: whole stories (submission, staff through the API, SMS,
loading, pickup by code) at three terminals on two brokers while both brokers, both backend
workers and terminals are killed with SIGKILL and restarted; nothing is lost, no SMS goes out
twice and no compartment opens twice (allhours/chaos.py; `make chaos` runs a longer round)."""

from __future__ import annotations

import pytest

from allhours.chaos import run_chaos

pytestmark = pytest.mark.broker


def test_whole_stories_survive_sigkill_of_brokers_workers_and_terminals(tmp_path):
    report = run_chaos(tmp_path / "chaos", stories=12, kills=8, seed=14)

    assert report.problems == []
    assert report.applications == report.picked_up == 12
    assert report.pickup_openings == 12  # one lock pulse per pickup, at the board emulators
    assert report.sms >= 12 * 3  # submitted, pickup code and picked up, at least, for each
    # Each broker and each worker once, and the terminals (between runs there is none to
    # kill: on a fast machine a terminal's last run may be over before its turn).
    servers = {"broker-east", "broker-west", "worker-1", "worker-2"}
    assert servers <= set(report.kills) and sum(report.kills.values()) >= 6
