"""Message factories for backend integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from allhours.broker import PrivateMosquitto, free_port
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples


def submission(no: str) -> m.ApplicationSubmitted:
    """The canonical submission under a new application number and message id."""
    base = examples()["event.application_submitted"]
    update = {"message_id": m.new_message_id(), "application_no": no, "operation_id": no}
    return base.model_copy(update=update)


TERMINAL = "T0001"
KEY = bytes(range(32))


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition"):
    """Poll until `predicate()` is truthy; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


REPO = Path(__file__).resolve().parents[3]


class WorkerProcess:
    """One `python -m backend --worker-id NAME` child process with its own log file."""

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

    def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, cwd=REPO, env=env, stdout=log, stderr=log)
        wait_for(self._subscribed, timeout, f"worker {self.name} to subscribe ({self.log_path})")

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
