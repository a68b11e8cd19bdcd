"""`python -m backend` killed with SIGKILL mid-stream: after a restart, no loss, no duplicates."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from backend_integration_factories import KEY, TERMINAL, WorkerProcess, submission, wait_for

from allhours.broker import PrivateMosquitto
from backend.service import BackendService

pytestmark = pytest.mark.broker

STREAM = 300


class BackendProcess(WorkerProcess):
    """`python -m backend` as a child process on its own SQLite file."""

    def __init__(self, tmp_path: Path, broker: PrivateMosquitto):
        self.db_path = tmp_path / "backend.db"
        super().__init__(tmp_path, broker, f"sqlite:///{self.db_path}", "crash-test")
        # The terminal was enrolled earlier: the backend's database knows its key.
        registrar = BackendService(
            f"sqlite:///{self.db_path}", tmp_path / "blobs", broker_port=None
        )
        registrar.register_terminal(TERMINAL, KEY)
        registrar.stop()

    def count(self, table: str) -> int:
        # A plain WAL reader: never blocks the backend's writer.
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def backend_process(tmp_path, mosquitto):
    process = BackendProcess(tmp_path, mosquitto)
    try:
        yield process
    finally:
        process.kill()


def test_sigkill_during_a_stream_of_submissions_loses_none_and_duplicates_none(
    backend_process, terminal
):
    backend_process.start()
    events = [submission(f"AH-T0001-20261205-{i:04d}") for i in range(STREAM)]
    stop = threading.Event()

    def stream() -> None:
        # Bursts make multi-message batches, so the kill can land between commit and ack.
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
        wait_for(lambda: backend_process.count("applications") >= 40, 30, "ingest to start")
        backend_process.kill()
        at_kill = backend_process.count("applications")
        publisher.join(60)
        backend_process.start()
        wait_for(lambda: backend_process.count("applications") >= STREAM, 60, "all 300 ingested")
    finally:
        stop.set()
        publisher.join(10)

    assert at_kill < STREAM, "the kill must land mid-stream for this test to mean anything"
    items = terminal.receipts_covering({e.message_id for e in events}, timeout=30)
    assert {i.outcome for i in items} <= {"stored", "duplicate"}
    backend_process.stop()
    assert backend_process.count("applications") == STREAM
    assert backend_process.count("processed_messages") == STREAM
    assert backend_process.count("materials") == STREAM
    assert backend_process.count("rejected_messages") == 0
