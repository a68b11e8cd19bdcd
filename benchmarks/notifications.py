"""SMS outbox throughput to the Alibaba Cloud emulator, and staff action to provider accept.

Usage: notifications.py [N]   (N messages for the throughput, N // 4 staff actions for latency)
Baseline in the same run: the emulator's own rate, SendSms calls straight through the adapter.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import application

from backend.db import Database
from backend.notifications.aliyun_emulator import AliyunSmsEmulator, emulated_aliyun
from backend.notifications.dispatcher import Dispatcher
from backend.notifications.outbox import enqueue
from backend.notifications.service import WorkerSettings
from backend.notifications.templates import DEFAULT_TABLE, Kind
from backend.service import BackendService
from backend.sms import SmsRequest

ACCEPTED = DEFAULT_TABLE.templates[Kind.ACCEPTED].template_code


def phone(n: int) -> str:
    return f"139{n:08d}"


def emulator_rate(emulator: AliyunSmsEmulator, n: int) -> float:
    provider = emulated_aliyun(emulator)
    try:
        start = time.perf_counter()
        for i in range(n):
            provider.send(SmsRequest(phone(i), ACCEPTED, {"no": f"AH-T0001-20261203-{i:04d}"}))
        return n / (time.perf_counter() - start)
    finally:
        provider.close()


def outbox_rate(emulator: AliyunSmsEmulator, tmp: Path, n: int) -> float:
    db = Database(f"sqlite:///{tmp / 'outbox.db'}")
    db.migrate()
    provider = emulated_aliyun(emulator)
    try:
        now = datetime.now(UTC)
        with db.transaction() as session:
            for i in range(n):
                values = {"no": f"AH-T0001-20261203-{i:04d}"}
                enqueue(session, Kind.ACCEPTED, phone(100_000 + i), values, now=now)
        start = time.perf_counter()
        sent = Dispatcher(db, provider).drain(datetime.now(UTC))
        elapsed = time.perf_counter() - start
        assert sent == n, f"only {sent} of {n} accepted"
        return n / elapsed
    finally:
        provider.close()
        db.dispose()


def action_to_accept(emulator: AliyunSmsEmulator, tmp: Path, m: int) -> list[float]:
    service = BackendService(
        f"sqlite:///{tmp / 'backend.db'}",
        tmp / "blobs",
        broker_port=None,
        sms_provider=emulated_aliyun(emulator),
        worker=WorkerSettings(poll_s=0.5),
    )
    service.register_terminal("T0001", bytes(32))
    service.start()
    try:
        apps = [application(i) for i in range(m)]
        for i, app in enumerate(apps):
            a = app.applicant.model_copy(update={"phone": phone(200_000 + i)})
            apps[i] = app.model_copy(update={"applicant": a})
        already = len(emulator.received)
        service.ingest.handle_batch([(a.topic(), a.encode()) for a in apps])
        # The "submitted" messages go out first, so each accept below has the sender idle.
        _wait(lambda: len(emulator.received) >= already + m, 60)
        latencies = []
        for app in apps:
            before = len(emulator.received)
            start = time.perf_counter()
            service.desk.step(app.application_no, "accept", "clerk.bench")
            _wait(lambda b=before: len(emulator.received) > b, 10)
            latencies.append(time.perf_counter() - start)
        return latencies
    finally:
        service.stop()


def _wait(predicate, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the message never reached the provider")
        time.sleep(0.0005)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    with tempfile.TemporaryDirectory() as d, AliyunSmsEmulator() as emulator:
        tmp = Path(d)
        base = emulator_rate(emulator, n)
        through = outbox_rate(emulator, tmp, n)
        lat = action_to_accept(emulator, tmp, max(10, n // 4))
    p95 = statistics.quantiles(lat, n=20)[18]
    print(f"emulator alone, {n} SendSms:       {base:8.1f} messages/s")
    ratio = through / base
    print(f"through the outbox, {n} messages:  {through:8.1f} messages/s (ratio {ratio:.2f})")
    print(
        f"staff action to provider accept, {len(lat)} accepts: "
        f"median {statistics.median(lat) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
