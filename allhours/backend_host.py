"""Runs the backend and its REST API inside this process, for the demo and for tests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from backend.api import create_app
from backend.enrollment import enrollment_server, worker_identity
from backend.front import Front
from backend.notifications.aliyun_emulator import AliyunSmsEmulator, emulated_aliyun
from backend.service import BackendService
from provisioning.authority import SiteAuthority

from .broker import port_open


class BackendHost:
    """A BackendService, its enrollment endpoint and a uvicorn server, stopped by `stop()`."""

    def __init__(
        self,
        *,
        authority: SiteAuthority,
        database_url: str,
        blob_dir: Path,
        broker_host: str,
        broker_port: int,
        http_port: int,
        enroll_port: int = 0,
        http_host: str = "127.0.0.1",
        client_id: str = "backend.1",
    ):
        self.authority = authority
        # SMS go to Alibaba Cloud's API emulated on loopback; its inbox is the applicant's phone.
        self.sms_emulator = AliyunSmsEmulator().start()
        try:
            self.service = BackendService(
                database_url=database_url,
                blob_dir=blob_dir,
                broker_host=broker_host,
                broker_port=broker_port,
                client_id=client_id,
                credentials=worker_identity(authority, client_id),
                sms_provider=emulated_aliyun(self.sms_emulator),
            )
        except BaseException:
            self.sms_emulator.stop()
            raise
        self.enrollment = enrollment_server(
            self.service,
            authority,
            broker_host=broker_host,
            broker_port=broker_port,
            host=http_host,
            port=enroll_port,
        )
        self.http_host, self.http_port = http_host, http_port
        # Reached directly, on loopback.
        front = Front()
        self._server = front.http_server(
            create_app(self.service, front=front), http_host, http_port, log_level="warning"
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def enroll_url(self) -> str:
        return self.enrollment.url

    def start(self, timeout: float = 15.0) -> BackendHost:
        """Start ingest, then the HTTP server; returns once both are ready."""
        self.service.start()
        if self.service.mqtt and not self.service.mqtt.wait_ready(timeout):
            self.service.stop()
            raise RuntimeError("the backend could not subscribe at the broker")
        self.enrollment.start()
        self._thread = threading.Thread(target=self._server.run, name="backend-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not port_open(self.http_host, self.http_port):
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the backend API did not listen on {self.http_port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
        self.enrollment.stop()
        self.service.stop()
        self.sms_emulator.stop()
