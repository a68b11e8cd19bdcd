"""Two `python -m backend` workers on one PostgreSQL share a stream through the shared group;
either is killed with SIGKILL mid-stream and restarted: every message is stored exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from backend_integration_factories import KEY, TERMINAL, WorkerProcess, submission, wait_for
from sqlalchemy import create_engine, text

from allhours.broker import PrivateMosquitto
from backend.service import BackendService

pytestmark = pytest.mark.broker

STREAM = 300


@pytest.fixture
def cluster(tmp_path: Path, mosquitto: PrivateMosquitto, postgres_url: str):
    # The terminal was enrolled earlier: the database knows its key.
    registrar = BackendService(postgres_url, tmp_path / "blobs", broker_port=None)
    registrar.register_terminal(TERMINAL, KEY)
    registrar.stop()
    workers = [WorkerProcess(tmp_path, mosquitto, postgres_url, f"pg-{n}") for n in (1, 2)]
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
    events = [submission(f"AH-T0001-2026120{victim + 1}-{i:04d}") for i in range(STREAM)]
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
    items = terminal.receipts_covering({e.message_id for e in events}, timeout=60)
    assert {i.outcome for i in items} <= {"stored", "duplicate"}
    for w in workers:
        w.stop()
    assert count("SELECT count(*) FROM applications") == STREAM
    assert count("SELECT count(*) FROM processed_messages") == STREAM
    assert count("SELECT count(DISTINCT message_id) FROM processed_messages") == STREAM
    assert count("SELECT count(*) FROM workflow_history") == STREAM
    # The count of stored messages, added to by both workers at once, lost none of theirs.
    assert count("SELECT value FROM ingest_counters WHERE name = 'stored'") == STREAM
