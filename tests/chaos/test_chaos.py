"""A bounded chaos round in `make test`: stories at a scripted terminal while the broker, both
backend workers and the terminal are each killed with SIGKILL and restarted; nothing is lost
(allhours/chaos.py; `make chaos` runs a longer round)."""

from __future__ import annotations

import pytest

from allhours.chaos import run_chaos

pytestmark = pytest.mark.broker


def test_stories_survive_sigkill_of_broker_workers_and_terminal(tmp_path):
    report = run_chaos(tmp_path / "chaos", stories=6, kills=4, seed=14)

    assert report.problems == []
    assert report.applications == 6
    assert dict(report.kills) == {"broker": 1, "terminal": 1, "worker-1": 1, "worker-2": 1}
