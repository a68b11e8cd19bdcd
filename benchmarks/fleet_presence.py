"""Fleet presence at load: what one backend worker holds, and how fast it sees a silent loss.

A real mutual-TLS Mosquitto, the backend in this process (SQLite), and `allhours fleet-sim` in
its own process: N terminals enrolled through the token flow, each heartbeating every third of
the default 30 s keep-alive and sending telemetry every 60 s. After the fleet is up and a steady
window has passed, 20 terminals go silent (their sockets kept open, nothing read or written).

Figures, each against a baseline from the same run:
- backend CPU per terminal at N, against the same at a fleet a tenth the size (the baseline);
- ingest lag at the end of the window (the worker holds the fleet if it stays near zero);
- offline detection time of the silenced terminals, against the 1.5 x keep-alive bound.

    .venv/bin/python benchmarks/fleet_presence.py [N]      # default 1000
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import site_backend, site_broker, wait
from sqlalchemy import func, select

from backend.enrollment import worker_identity
from backend.models import Terminal
from backend.presence import PresenceSettings

ROOT = Path(__file__).resolve().parent.parent
KEEPALIVE = 30
WINDOW_S = 60.0
SILENCED = 20


def _run(n: int, tmp: Path, broker, prefix: str, silence: int) -> dict[str, float]:
    # One worker alone, with no shared group: the first run's persistent session would stay in
    # the group and keep being handed its share of the second run's heartbeats.
    service = site_backend(
        broker,
        tmp,
        client_id=f"backend.{prefix.lower()}",
        presence=PresenceSettings(sweep_s=1.0),
        shared_group=None,
    )
    url = f"sqlite:///{tmp / 'b.sqlite'}"
    service.start()
    sim = None
    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        sim = subprocess.Popen(
            [sys.executable, "-m", "allhours.cli", "fleet-sim", "--terminals", str(n),
             "--ca-dir", str(broker.authority.dir), "--database-url", url,
             "--host", broker.host, "--port", str(broker.port), "--dir", str(tmp / "sim"),
             "--prefix", prefix, "--keepalive", str(KEEPALIVE), "--silence", str(silence),
             "--silence-after", str(WINDOW_S)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert sim.stdout is not None
        for line in sim.stdout:
            print("   sim:", line.strip())
            if "online after" in line:
                break

        def online() -> int:
            with service.db.transaction() as s:
                q = select(func.count()).select_from(Terminal)
                return s.scalar(q.where(Terminal.last_status == "online")) or 0

        wait(lambda: online() >= n, 600, 0.5)
        cpu0, wall0 = time.process_time(), time.monotonic()
        if silence:
            line = sim.stdout.readline()  # printed when the window is over and they go silent
        else:
            line = ""
            time.sleep(WINDOW_S)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        lag = service.mqtt.ingest_health()["lag_s"]
        out = {"cpu_per_terminal_s_per_s": cpu / wall / n, "lag_s": lag, "wall_s": wall}
        if silence:
            print("   sim:", line.strip())
            at = datetime.fromtimestamp(float(line.split(" at ")[1]), UTC)
            silenced = [f"{prefix}{i:05d}" for i in range(1, silence + 1)]

            def detected() -> list[float]:
                with service.db.transaction() as s:
                    rows = s.scalars(select(Terminal).where(Terminal.id.in_(silenced)))
                    return [
                        (t.offline_since - at).total_seconds()
                        for t in rows
                        if t.last_status == "offline" and t.offline_since
                    ]

            wait(lambda: len(detected()) == silence, 3 * KEEPALIVE, 0.5)
            times = detected()
            out |= {"detect_median_s": statistics.median(times), "detect_max_s": max(times)}
        return out
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        service.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    base_n = max(10, n // 10)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        broker = site_broker(tmp)
        try:
            # Both workers' certificates now, while the broker is idle: admitting one later,
            # under the load of a thousand connections, can time out at the broker's control.
            for prefix in ("B", "F"):
                worker_identity(broker.authority, f"backend.{prefix.lower()}")
            (tmp / "base").mkdir()
            (tmp / "full").mkdir()
            base = _run(base_n, tmp / "base", broker, "B", 0)
            full = _run(n, tmp / "full", broker, "F", min(SILENCED, n))
        finally:
            broker.stop()
    bound = 1.5 * KEEPALIVE
    print(f"terminals: {n} (baseline {base_n}), keep-alive {KEEPALIVE} s, telemetry 60 s")
    print(
        f"backend CPU per terminal: {full['cpu_per_terminal_s_per_s'] * 1000:.3f} ms/s "
        f"(baseline {base['cpu_per_terminal_s_per_s'] * 1000:.3f} ms/s, ratio "
        f"{full['cpu_per_terminal_s_per_s'] / base['cpu_per_terminal_s_per_s']:.2f})"
    )
    print(f"ingest lag after {full['wall_s']:.0f} s steady: {full['lag_s']:.2f} s")
    print(
        f"silent loss seen offline after {full['detect_median_s']:.1f} s median, "
        f"{full['detect_max_s']:.1f} s max (bound {bound:.0f} s, ratio "
        f"{full['detect_max_s'] / bound:.2f})"
    )


if __name__ == "__main__":
    main()
