"""Forged log lines: text from outside in a record stays inside that record's one line.

A stranger's request path (no sign-in), a terminal's MQTT topic and an event's free text reach
log records of the real backend (backend/limits.py, backend/ingest.py with the codec's reason,
backend/handlers.py). Logged as the worker logs (backend.__main__.configure_logging), each record
is one line and the forged text shows escaped inside it; no line of the attacker's begins.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from backend_unit_factories import KEY, TERMINAL
from fastapi.testclient import TestClient

from backend.__main__ import configure_logging
from backend.api import create_app
from backend.limits import MAX_BODY_BYTES
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

# A record as an operator would take it for one (its date is not today's, whenever this runs).
FORGED = "1999-12-31 23:59:59,999 INFO backend.auth: admin signed in from 10.0.0.1"
LINE_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def worker_log() -> Iterator[tuple[io.StringIO, list[logging.LogRecord]]]:
    """The worker's logging on a bare root logger (pytest's capture handlers set aside).

    Yields what the worker wrote and the records it was given.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    out = io.StringIO()
    configure_logging("INFO", out)
    records = _Records()
    root.addHandler(records)
    try:
        yield out, records.records
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def one_line_per_record(out: io.StringIO, records: list[logging.LogRecord]) -> list[str]:
    """The lines written, after checking that each record began exactly one of them.

    A traceback's lines (a record with exc_info) begin no record; a forged line would.
    """
    lines = out.getvalue().splitlines()
    begun = [line for line in lines if LINE_START.match(line)]
    assert records and len(begun) == len(records)
    assert not [line for line in lines if line.startswith(FORGED[:10])]
    return lines


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    yield svc
    svc.stop()


def test_a_strangers_request_path_cannot_add_a_line_to_the_log(service):
    with TestClient(create_app(service)) as client, worker_log() as (out, records):
        r = client.post(f"/api/x%0a{FORGED}", content=b"x" * (MAX_BODY_BYTES + 1))

    assert r.status_code == 413
    refused = [x for x in one_line_per_record(out, records) if "refused a body" in x]
    assert len(refused) == 1
    assert refused[0].endswith(f"WARNING backend.limits: refused a body of {MAX_BODY_BYTES + 1}+ "
                               f"bytes on /api/x\\n{FORGED}")  # fmt: skip


@pytest.mark.parametrize(
    ("char", "escaped"),
    [("\n", "\\n"), ("\r", "\\r"), ("\x85", "\\x85"), ("\u2028", "\\u2028"), ("\x1b", "\\x1b")],
)
def test_a_terminals_topic_and_free_text_cannot_add_a_line_to_the_log(service, char, escaped):
    rated = examples()["event.service_rated"]
    topic = f"allhours/v1/terminals/{TERMINAL}/events/x{char}{FORGED}"
    update = examples()["event.software_update"].model_copy(
        update={"message_id": m.new_message_id(), "detail": f"boom{char}{FORGED}"}
    )
    with worker_log() as (out, records):
        service.ingest.handle_batch([(topic, rated.encode())])
        service.ingest.handle_batch([(update.topic(), update.encode())])

    lines = one_line_per_record(out, records)
    rejected = [x for x in lines if " rejected " in x]
    updated = [x for x in lines if "software update outcome" in x]
    assert len(rejected) == 1 and len(updated) == 1
    shown = f"allhours/v1/terminals/{TERMINAL}/events/x{escaped}{FORGED}"
    # The topic as ingest logs it, then the codec's reason, which names it again.
    size = len(rated.encode())
    assert f"WARNING backend.ingest: rejected {size}-byte message on {shown}: " in rejected[0]
    assert rejected[0].endswith(f"does not belong on {shown}")
    assert updated[0].endswith(f"from {TERMINAL} for no rollout: boom{escaped}{FORGED}")
