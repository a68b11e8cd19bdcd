"""The backend with its console served on a loopback port (uvicorn on a thread), and its cases."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from backend.api import create_app
from backend.service import BackendService

# The unit tests' case factory (a real submission with a scanned PDF), shared rather than copied.
sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "console"))
from console_cases import KEY, PASSWORD, scanned_pdf, submit

__all__ = ["KEY", "NO", "PASSWORD", "ConsoleServer", "scanned_pdf", "submit"]

NO = "AH-T0001-20261203-0007"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConsoleServer:
    """A BackendService (no broker, unless given one) served by uvicorn on a loopback port."""

    def __init__(self, tmp_path: Path, service: BackendService | None = None):
        self.service = service or BackendService(
            f"sqlite:///{tmp_path / 'console.db'}", tmp_path / "blobs", broker_port=None
        )
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(self.service),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="console-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ConsoleServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.service.stop()
