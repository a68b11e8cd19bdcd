"""One site on one machine: a private Mosquitto, the backend with its API, an emulated terminal.

Everything speaks mutual TLS under the site's own CA, and the terminal enrolls the way a real
one does: an operator's one-time token, a key made on the terminal, a certificate over HTTPS.
`allhours demo` and the end-to-end tests both stand on it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cloud_bridge.contract.messages import utcnow
from provisioning.authority import SiteAuthority
from provisioning.bundle import TerminalIdentity
from provisioning.enroll_client import enroll
from terminal.node import TerminalNode

from .backend_host import BackendHost
from .bootstrap import build_terminal
from .broker import PrivateMosquitto, free_port
from .settings import load_terminal_config
from .wiring import EmulatedDevices


class SiteError(RuntimeError):
    """A part of the local site did not come up."""


class LocalSite:
    """Starts the parts in order and stops them in reverse, whatever failed in between."""

    def __init__(
        self,
        workdir: Path,
        terminal_id: str = "T0001",
        *,
        clock: Callable[[], datetime] = utcnow,
        telemetry_interval_s: float = 30.0,
        live_face: bool = False,
    ):
        """live_face: the terminal runs the real face check on an emulated live person."""
        self.workdir = Path(workdir)
        self.terminal_id = terminal_id
        self.clock = clock
        self.telemetry_interval_s = telemetry_interval_s
        self.live_face = live_face
        self.authority = SiteAuthority.open_or_create(self.workdir / "site-ca")
        self.broker = PrivateMosquitto(self.workdir / "broker", self.authority)
        self.backend: BackendHost | None = None
        self.node: TerminalNode | None = None
        self.devices: EmulatedDevices | None = None
        self.identity: TerminalIdentity | None = None

    def start(self) -> LocalSite:
        try:
            self.broker.start()
            self.backend = BackendHost(
                authority=self.authority,
                database_url=f"sqlite:///{self.workdir / 'backend.sqlite'}",
                blob_dir=self.workdir / "backend-blobs",
                broker_host=self.broker.host,
                broker_port=self.broker.port,
                http_port=free_port(),
            ).start()
            # The operator issues a token; the technician enrolls the terminal with it.
            token = self.authority.issue_token(self.terminal_id, created_by="site set-up")
            data_dir = self.workdir / self.terminal_id
            identity = enroll(self.backend.enroll_url, str(token), data_dir)
            self.identity = identity
            # The terminal is built as a training kiosk is: a settings file, the bootstrap.
            settings = self.workdir / "terminal.toml"
            settings.write_text(
                f'data_dir = "{data_dir}"\nemulate = true\n'
                f"[link]\ntelemetry_interval_s = {self.telemetry_interval_s}\n",
                encoding="utf-8",
            )
            self.devices = EmulatedDevices.with_live_face() if self.live_face else EmulatedDevices()
            terminal = build_terminal(
                load_terminal_config(settings, self.clock()),
                clock=self.clock,
                emulated=self.devices,
            )
            self.node = terminal.node
            self.node.start()
            if not self.node.link.wait_connected(10):
                raise SiteError("the terminal could not reach the broker")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None
        if self.backend is not None:
            self.backend.stop()
            self.backend = None
        self.broker.stop()
        self.broker.remove_data()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
