"""Two backend workers with their own client ids share the ingest through one shared group."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_integration_factories import KEY, TERMINAL, submission, wait_for
from sqlalchemy import func, select

from backend.enrollment import worker_identity
from backend.models import Application, ProcessedMessage
from backend.service import BackendService
from cloud_bridge.contract import topics

pytestmark = pytest.mark.broker


@pytest.fixture
def workers(tmp_path: Path, mosquitto):
    """Two started workers over one database, in the contract's shared group."""
    started = []
    for n in (1, 2):
        client_id = f"backend.worker-{n}"
        service = BackendService(
            f"sqlite:///{tmp_path / 'backend.db'}",
            tmp_path / "blobs",
            broker_host=mosquitto.host,
            broker_port=mosquitto.port,
            client_id=client_id,
            credentials=worker_identity(mosquitto.authority, client_id),
            shared_group=topics.SHARED_GROUP,
        )
        started.append(service)
        service.register_terminal(TERMINAL, KEY)
        service.start()
    try:
        for service in started:
            assert service.mqtt is not None and service.mqtt.wait_ready(10)
        yield started
    finally:
        for service in started:
            service.stop()


def _count(service, model) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_two_workers_split_the_ingest_and_store_every_message_once(workers, terminal):
    events = [submission(f"AH-T0001-20261203-{i:04d}") for i in range(40)]

    for event in events:
        terminal.send(event)

    items = terminal.receipt_items(len(events))
    assert sorted(i.message_id for i in items) == sorted(e.message_id for e in events)
    assert {i.outcome for i in items} == {"stored"}
    wait_for(lambda: _count(workers[0], Application) == len(events), what="every application")
    assert _count(workers[0], ProcessedMessage) == len(events)
    # The broker hands a shared group's messages to each member in turn: both worked.
    for service in workers:
        assert service.mqtt.ingest_health()["last_batch_s_ago"] is not None
