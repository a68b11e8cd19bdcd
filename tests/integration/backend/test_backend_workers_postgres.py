"""Two `python -m backend` workers on one PostgreSQL share a stream through the shared group;
either is killed with SIGKILL mid-stream and restarted: every message is stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from backend_integration_factories import KEY, TERMINAL, submission, wait_for
from sqlalchemy import create_engine, text

from allhours.broker import PrivateMosquitto, free_port
from backend.service import BackendService

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[3]
STREAM = 300


class Worker:
    """One `python -m backend --worker-id NAME` child process on the shared database."""

    def __init__(self, tmp_path: Path, broker: PrivateMosquitto, database_url: str, name: str):
        self.name = name
        self.http_port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        self.args = [
            sys.executable,
            "-m",
            "backend",
            *("--database-url", database_url, "--blob-dir", str(tmp_path / "blobs")),
            *("--broker-port", str(broker.port), "--http-port", str(self.http_port)),
            *("--enroll-port", str(free_port()), "--ca-dir", str(broker.authority.dir)),
            *("--worker-id", name),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, cwd=REPO, env=env, stdout=log, stderr=log)
        wait_for(self._subscribed, 30, f"worker {self.name} to subscribe ({self.log_path})")

    def _subscribed(self) -> bool:
        assert self.proc and self.proc.poll() is None, self.log_path.read_text()[-2000:]
        try:
            r = httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1)
        except httpx.TransportError:
            return False
        return r.json().get("mqtt") == "connected"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def cluster(tmp_path: Path, mosquitto: PrivateMosquitto, postgres_url: str):
    # The terminal was enrolled earlier: the database knows its key.
    registrar = BackendService(postgres_url, tmp_path / "blobs", broker_port=None)
    registrar.register_terminal(TERMINAL, KEY)
    registrar.stop()
    workers = [Worker(tmp_path, mosquitto, postgres_url, f"pg-{n}") for n in (1, 2)]
    engine = create_engine(postgres_url)

    def count(sql: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    try:
        for w in workers:
            w.start()
        yield workers, count
    finally:
        for w in workers:
            w.kill()
        engine.dispose()


@pytest.mark.parametrize("victim", [0, 1], ids=["first-worker-killed", "second-worker-killed"])
def test_two_workers_on_postgres_store_each_message_once_across_a_sigkill(
    cluster, terminal, victim
):
    workers, count = cluster
    events = [submission(f"AH-T0001-PG{victim}-{i:04d}") for i in range(STREAM)]
    stop = threading.Event()

    def stream() -> None:
        # Bursts make multi-message batches for both workers, so a kill lands mid-batch.
        for start in range(0, STREAM, 25):
            infos = [
                terminal.publish_async(e.topic(), e.encode()) for e in events[start : start + 25]
            ]
            infos[-1].wait_for_publish(10)
            if stop.wait(0.03):
                return

    publisher = threading.Thread(target=stream, name="test-terminal-stream")
    publisher.start()
    try:
        wait_for(lambda: count("SELECT count(*) FROM applications") >= 40, 60, "ingest")
        workers[victim].kill()
        at_kill = count("SELECT count(*) FROM applications")
        publisher.join(60)
        # The survivor carries on alone; what the dead worker held comes back with it.
        wait_for(
            lambda: count("SELECT count(*) FROM applications") > at_kill + 20,
            60,
            "the surviving worker to store alone",
        )
        workers[victim].start()
        wait_for(lambda: count("SELECT count(*) FROM applications") >= STREAM, 90, "all ingested")
    finally:
        stop.set()
        publisher.join(10)

    assert at_kill < STREAM, "the kill must land mid-stream for this test to mean anything"
    items = terminal.receipt_items(STREAM, timeout=60)
    assert {i.message_id for i in items} >= {e.message_id for e in events}
    assert {i.outcome for i in items} <= {"stored", "duplicate"}
    for w in workers:
        w.stop()
    assert count("SELECT count(*) FROM applications") == STREAM
    assert count("SELECT count(*) FROM processed_messages") == STREAM
    assert count("SELECT count(DISTINCT message_id) FROM processed_messages") == STREAM
    assert count("SELECT count(*) FROM workflow_history") == STREAM
    # The count of stored messages, added to by both workers at once, lost none of theirs.
    assert count("SELECT value FROM ingest_counters WHERE name = 'stored'") == STREAM
