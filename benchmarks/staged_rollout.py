"""Staged rollout of a configuration bundle: pilot group, then every other terminal.

The same set-up as bundle_rollout.py (a real mutual-TLS Mosquitto, the backend in process with
its rollout monitor, N simulated terminals that verify, check and ack each bundle signed). The
figure is the time from `Rollouts.start` (stages `pilot` of 10 terminals, then `all`) to the
rollout being done, against a direct push of the same bundle to the same N terminals in the same
run (the baseline): what waiting for the pilot's outcomes before the rest costs. First, the
cost of one tick of the rollout engine for a rollout to 5,000 terminals against one to 100.

    .venv/bin/python benchmarks/staged_rollout.py [N]        # default 200
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import wait
from bundle_rollout import DOC, rollout, simulated_fleet

from backend import terminal_groups
from backend.catalog_bundles import ConfigBundles
from backend.rollout_tables import Rollout
from backend.rollouts import software_payload
from backend.service import BackendService

PILOT = 10


def _state(service, rollout_id: int) -> str:
    with service.db.transaction() as s:
        row = s.get(Rollout, rollout_id)
        return row.state if row else ""


def staged(service, version: str) -> float:
    start = time.perf_counter()
    rid = service.rollouts.start(
        "bundle", ["pilot", "all"], "benchmark", document=dict(DOC, version=version)
    )
    wait(lambda: _state(service, rid) in ("done", "aborted"), timeout=600, interval=0.05)
    assert _state(service, rid) == "done", f"rollout {rid} ended {_state(service, rid)}"
    return time.perf_counter() - start


def tick_cost(tmpdir: Path, n: int) -> float:
    """Seconds per tick of a software rollout to `n` terminals (a pilot of 20 sent, the rest
    waiting), on SQLite without a broker: what every worker pays every 2 s while it runs."""
    service = BackendService(f"sqlite:///{tmpdir / f'tick{n}.db'}", tmpdir, broker_port=None)
    try:
        ids = [f"T{i:05d}" for i in range(n)]
        for tid in ids:
            service.register_terminal(tid, b"k" * 32)
        with service.db.transaction() as s:
            terminal_groups.create(s, "pilot", "", "benchmark")
            terminal_groups.add_members(s, "pilot", ids[:20], "benchmark")
        software = software_payload("2.0.0", "https://rel.example/a.tar.gz", "ab" * 32, 10)
        service.rollouts.start("software", ["pilot", "all"], "benchmark", software=software)
        start = time.perf_counter()
        for _ in range(10):
            service.rollouts.tick()
        return (time.perf_counter() - start) / 10
    finally:
        service.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        small, big = tick_cost(Path(tmp), 100), tick_cost(Path(tmp), 5000)
        print(f"baseline, tick of a rollout to 100 terminals:  {small * 1000:6.1f} ms")
        print(f"tick of a rollout to 5000 terminals:           {big * 1000:6.1f} ms")
        print(f"ratio: {big / small:.2f} x for 50 x the terminals (every worker, every 2 s)")
    with tempfile.TemporaryDirectory() as tmp, simulated_fleet(Path(tmp), n) as (service, ids):
        with service.db.transaction() as s:
            terminal_groups.create(s, "pilot", "benchmark pilot", "benchmark")
            terminal_groups.add_members(s, "pilot", ids[:PILOT], "benchmark")
        direct = rollout(service, ConfigBundles(service.db, service), ids, "bench-push")
        two = staged(service, "bench-staged")
        print(f"baseline, direct push to {n}:      {direct * 1000:8.0f} ms")
        print(f"staged, {PILOT} pilot then {n - PILOT}:      {two * 1000:8.0f} ms")
        print(f"ratio: {two / direct:.2f} x the direct push (stage gate every 2 s tick)")


if __name__ == "__main__":
    main()
