"""A bounded chaos round in `make test`: whole stories (submission, staff through the API, SMS,
loading, pickup by code) at three terminals on two brokers while both brokers, both backend
workers and terminals are killed with SIGKILL and restarted; nothing is lost, no SMS goes out
twice and no compartment opens twice (allhours/chaos.py; `make chaos` runs a longer round)."""

from __future__ import annotations

import pytest

from allhours.chaos import run_chaos

pytestmark = pytest.mark.broker


def test_whole_stories_survive_sigkill_of_brokers_workers_and_terminals(tmp_path):
    report = run_chaos(tmp_path / "chaos", stories=6, kills=6, seed=14)

    assert report.problems == []
    assert report.applications == report.picked_up == 6
    assert report.pickup_openings == 6  # one lock pulse per pickup, at the board emulators
    assert report.sms >= 6 * 3  # submitted, pickup code and picked up, at least, for each
    killed = {"broker-east", "broker-west", "worker-1", "worker-2"}
    assert killed <= set(report.kills) and sum(report.kills.values()) >= 5
