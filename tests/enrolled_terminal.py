"""A terminal data dir enrolled through the real HTTPS endpoint, for tests that build a terminal
from its settings; the broker it names is not running."""

from __future__ import annotations

from pathlib import Path

from allhours.broker import free_port
from backend.enrollment import enrollment_server
from backend.service import BackendService
from provisioning.authority import SiteAuthority
from provisioning.enroll_client import enroll


def enrolled(tmp_path: Path, terminal_id: str = "T0001") -> Path:
    authority = SiteAuthority.create(tmp_path / "site-ca")
    service = BackendService(f"sqlite:///{tmp_path / 'b.sqlite'}", tmp_path / "b", broker_port=None)
    server = enrollment_server(
        service,
        authority,
        broker_host="127.0.0.1",
        broker_port=free_port(),
        host="127.0.0.1",
        port=free_port(),
    ).start()
    try:
        enroll(server.url, str(authority.issue_token(terminal_id)), tmp_path / terminal_id)
    finally:
        server.stop()
        service.stop()
    return tmp_path / terminal_id
