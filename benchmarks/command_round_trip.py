"""Command round trip under load: from an operator's command to the terminal's answer on record.

A real mutual-TLS Mosquitto, one backend worker in this process on PostgreSQL (a private
throwaway cluster, allhours/postgres.py; on SQLite at 1,000 terminals an operator's command
waited out the 10 s busy timeout behind ingest and the presence sweep), and `allhours
fleet-sim` in its own process: N terminals enrolled through the token flow, heartbeating every
third of the default 30 s keep-alive, telemetry every 60 s, answering commands as the real
terminal does (verify, ack `received`, then `done`). Once the fleet is steady, operators send
COMMANDS diagnostics commands to terminals spread over the fleet, RATE a second, through the
real issuing path (OperatorCommands: stored queued, signed, published); each one's lifecycle
times are read from the commands table:

- queued -> sent: the broker's PUBACK recorded;
- queued -> delivered: the terminal's signed `received` ingested;
- queued -> done: the answer ingested, what the operator sees on the terminal page.

The baseline is the same round trip, same commands and rate, at a fleet a tenth the size, in
the same run. Also printed: the backend worker's CPU per terminal while the fleet is steady
(what one worker holds at the default telemetry rate) and its ingest lag.

    .venv/bin/python benchmarks/command_round_trip.py [N]      # default 1000
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import site_broker, wait
from sqlalchemy import func, select

from allhours.postgres import PrivatePostgres
from backend.commands import FINAL
from backend.enrollment import worker_identity
from backend.models import CommandRow, Terminal
from backend.operator_commands import OperatorCommands
from backend.service import BackendService

ROOT = Path(__file__).resolve().parent.parent
KEEPALIVE = 30
STEADY_S = 30.0
COMMANDS = 200
RATE = 20.0  # commands a second


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(n: int, tmp: Path, broker, pg: PrivatePostgres, prefix: str) -> dict[str, float]:
    url = pg.create_database(f"commands_{prefix.lower()}")
    client_id = f"backend.{prefix.lower()}"
    # One worker alone, with no shared group: the first run's persistent session would stay in
    # the group and keep being handed its share of the second run's heartbeats.
    service = BackendService(
        url,
        tmp / "blobs",
        broker.host,
        broker.port,
        client_id=client_id,
        credentials=worker_identity(broker.authority, client_id),
        shared_group=None,
    )
    service.start()
    sim = None
    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        started = time.monotonic()
        sim = subprocess.Popen(
            [sys.executable, "-m", "allhours.cli", "fleet-sim", "--terminals", str(n),
             "--ca-dir", str(broker.authority.dir), "--database-url", url,
             "--host", broker.host, "--port", str(broker.port), "--dir", str(tmp / "sim"),
             "--prefix", prefix, "--keepalive", str(KEEPALIVE)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert sim.stdout is not None
        for line in sim.stdout:
            print("   sim:", line.strip(), flush=True)
            if "online after" in line:
                break

        def online() -> int:
            with service.db.transaction() as s:
                q = select(func.count()).select_from(Terminal)
                return s.scalar(q.where(Terminal.last_status == "online")) or 0

        wait(lambda: online() >= n, 900, 0.5)
        up_s = time.monotonic() - started
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(STEADY_S)
        steady_cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0) / n
        lag = float(service.mqtt.ingest_health()["lag_s"])

        ops = OperatorCommands(service.db, service)
        ids = [f"{prefix}{1 + (i * 7919) % n:05d}" for i in range(COMMANDS)]
        sent: list[str] = []
        lags: list[float] = []
        cpu1, wall1 = time.process_time(), time.monotonic()
        t0 = time.monotonic()
        for i, tid in enumerate(ids):
            pause = t0 + i / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent.append(ops.issue(tid, "fetch_diagnostics", "bench", "round trip").message_id)
            lags.append(float(service.mqtt.ingest_health()["lag_s"]))

        def answered() -> int:
            lags.append(float(service.mqtt.ingest_health()["lag_s"]))
            with service.db.transaction() as s:
                q = select(func.count()).select_from(CommandRow)
                return s.scalar(q.where(CommandRow.status.in_(FINAL))) or 0

        wait(lambda: answered() >= COMMANDS, 300, 0.2)
        burst_cpu = (time.process_time() - cpu1) / (time.monotonic() - wall1)
        with service.db.transaction() as s:
            rows = list(s.scalars(select(CommandRow).where(CommandRow.command_id.in_(sent))))
        done = [r for r in rows if r.status == "done"]

        def ms(stage: str) -> list[float]:
            return [
                (getattr(r, f"{stage}_at") - r.created_at).total_seconds() * 1000
                for r in done
                if getattr(r, f"{stage}_at") is not None
            ]

        out = {
            "up_s": up_s,
            "cpu_per_terminal_s_per_s": steady_cpu,
            "lag_s": lag,
            "done": len(done),
            "sent_ms": statistics.median(ms("sent")),
            "delivered_ms": statistics.median(ms("delivered")),
            "done_ms": statistics.median(ms("finished")),
            "done_p90_ms": _pct(ms("finished"), 0.9),
            # Ingest lag while the commands ran: the share of the round trip spent waiting in
            # the worker's queue behind heartbeats and telemetry.
            "burst_lag_max_s": max(lags),
            "burst_lag_median_s": statistics.median(lags),
            "burst_cpu": burst_cpu,
        }
        return out
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=120)
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
        pg = PrivatePostgres(tmp / "pg").start()
        try:
            # Both workers' certificates while the broker is idle (fleet_presence says why).
            for prefix in ("B", "F"):
                worker_identity(broker.authority, f"backend.{prefix.lower()}")
            (tmp / "base").mkdir()
            (tmp / "full").mkdir()
            base = _run(base_n, tmp / "base", broker, pg, "B")
            full = _run(n, tmp / "full", broker, pg, "F")
        finally:
            broker.stop()
            pg.stop()
            pg.cleanup()
    print(
        f"terminals: {n} (baseline {base_n}), keep-alive {KEEPALIVE} s, telemetry 60 s, "
        f"{COMMANDS} commands at {RATE:.0f}/s"
    )
    print(f"fleet up (enrolled, connected, online at the backend): {full['up_s']:.0f} s")
    print(f"answered: {full['done']}/{COMMANDS} done (baseline {base['done']}/{COMMANDS})")
    for stage, label in (("sent", "sent (PUBACK)"), ("delivered", "delivered"), ("done", "done")):
        print(
            f"queued -> {label}: {full[f'{stage}_ms']:.0f} ms median "
            f"(baseline {base[f'{stage}_ms']:.0f} ms, ratio "
            f"{full[f'{stage}_ms'] / base[f'{stage}_ms']:.2f})"
        )
    print(
        f"queued -> done p90: {full['done_p90_ms']:.0f} ms "
        f"(baseline {base['done_p90_ms']:.0f} ms, ratio "
        f"{full['done_p90_ms'] / base['done_p90_ms']:.2f})"
    )
    print(
        f"backend CPU per terminal, steady: {full['cpu_per_terminal_s_per_s'] * 1000:.3f} ms/s "
        f"(baseline {base['cpu_per_terminal_s_per_s'] * 1000:.3f} ms/s), "
        f"ingest lag {full['lag_s']:.2f} s"
    )
    print(
        f"while the commands ran: ingest lag median {full['burst_lag_median_s']:.2f} s, max "
        f"{full['burst_lag_max_s']:.2f} s (baseline {base['burst_lag_max_s']:.2f} s); "
        f"worker CPU {full['burst_cpu']:.2f} s/s (baseline {base['burst_cpu']:.2f} s/s)"
    )


if __name__ == "__main__":
    main()
