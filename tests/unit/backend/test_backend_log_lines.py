"""Forged log lines: text from outside in a record stays inside that record's one line.

A stranger's request path (no sign-in), a terminal's MQTT topic and an event's free text reach
log records of the real backend (backend/limits.py, backend/ingest.py with the codec's reason,
backend/handlers.py). Logged as the worker logs (backend.__main__.configure_logging), each record
is one line and the forged text shows escaped inside it; no line of the attacker's begins.
So with uvicorn's own records (a `python -m backend` child: X-Forwarded-For reaches its access
line) and with an exception's text in a traceback, whose frames alone keep their lines.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from backend_unit_factories import KEY, TERMINAL
from fastapi.testclient import TestClient

from allhours.broker import free_port
from backend.__main__ import configure_logging
from backend.api import create_app
from backend.limits import MAX_BODY_BYTES
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples
from cloud_bridge.link import wait_until
from provisioning.authority import SiteAuthority

# A record as an operator would take it for one (its date is not today's, whenever this runs).
FORGED = "1999-12-31 23:59:59,999 INFO backend.auth: admin signed in from 10.0.0.1"
LINE_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
REPO = Path(__file__).resolve().parents[3]


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


def test_uvicorns_own_records_are_one_line_records_of_the_worker(tmp_path, site_ca: SiteAuthority):
    # A proxy on loopback in front (uvicorn trusts 127.0.0.1) passes on the X-Forwarded-For a
    # stranger sent; uvicorn's access line names its last (comma-free) address. h11 lets tabs
    # and bytes 0x80-0xff through in a header: NEL ends a line for str.splitlines(), CSI is an
    # escape a terminal acts on.
    forwarded = f"203.0.113.9\x85{FORGED.replace(',', '.')}\t\x9b2J"
    http_port = free_port()
    args = [
        *(sys.executable, "-m", "backend", "--ca-dir", str(site_ca.dir)),
        *("--database-url", f"sqlite:///{tmp_path / 'worker.db'}", "--blob-dir", str(tmp_path)),
        *("--broker-port", str(free_port()), "--enroll-port", str(free_port())),
        *("--http-port", str(http_port)),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        worker = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=err)
    try:
        url = f"http://127.0.0.1:{http_port}"

        def up() -> bool:
            assert worker.poll() is None, (tmp_path / "err").read_text()[-2000:]
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(up, 30), "the worker did not serve /healthz"
        r = httpx.get(f"{url}/healthz", headers={"X-Forwarded-For": forwarded.encode("latin-1")})
        assert r.status_code == 200
        with socket.create_connection(("127.0.0.1", http_port), timeout=5) as bad:
            bad.sendall(b"GET /\x1b HTTP/1.1\r\n\r\n")
            assert bad.recv(100).startswith(b"HTTP/1.1 400 ")
    finally:
        worker.terminate()
        worker.wait(15)

    # uvicorn's own handlers would have written its access lines to stdout.
    assert (tmp_path / "out").read_bytes() == b""
    lines = (tmp_path / "err").read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.startswith(FORGED[:10])]

    def records_ending(text: str) -> list[str]:
        return [x for x in lines if LINE_START.match(x) and x.endswith(text)]

    assert records_ending(f"INFO uvicorn.error: Uvicorn running on {url} (Press CTRL+C to quit)")
    assert records_ending("WARNING uvicorn.error: Invalid HTTP request received.")
    shown = f"203.0.113.9\\x85{FORGED.replace(',', '.')}\\t\\x9b2J"
    access = f'INFO uvicorn.access: {shown}:0 - "GET /healthz HTTP/1.1" 200'
    assert len(records_ending(access)) == 1


def test_an_exceptions_text_in_a_traceback_cannot_add_a_line_to_the_log():
    with worker_log() as (out, records):
        try:
            try:
                raise LookupError(f"no terminal x\r\n{FORGED}")
            except LookupError as cause:
                raise ValueError(f"bad path /api/x\n{FORGED}") from cause
        except ValueError:
            # As ingest logs a handler's failure (uvicorn, an exception out of the app, likewise).
            logging.getLogger("backend.ingest").exception("handler for %s failed", "x")

    lines = one_line_per_record(out, records)
    assert lines[0].endswith("ERROR backend.ingest: handler for x failed")
    # The frames as Python wrote them, over several lines; each exception's text on one.
    assert lines.count("Traceback (most recent call last):") == 2
    frames = [x for x in lines if x.startswith("  File ")]
    assert len(frames) == 2 and all(x.startswith(f'  File "{__file__}", line ') for x in frames)
    assert lines[1:].index(f"LookupError: no terminal x\\r\\n{FORGED}") < lines[1:].index(
        "The above exception was the direct cause of the following exception:"
    )
    assert lines[-1] == f"ValueError: bad path /api/x\\n{FORGED}"


def test_a_traceback_a_plain_formatter_wrote_first_is_still_escaped():
    # logging keeps the first formatter's traceback text on the record for the next one.
    with worker_log() as (out, records):
        plain = logging.StreamHandler(io.StringIO())
        logging.getLogger().handlers.insert(0, plain)
        try:
            raise ValueError(f"bad path /api/x\n{FORGED}")
        except ValueError:
            logging.getLogger("backend.api").exception("request failed")

    assert f"\n{FORGED}" in plain.stream.getvalue()
    lines = one_line_per_record(out, records)
    assert lines[-1] == f"ValueError: bad path /api/x\\n{FORGED}"
