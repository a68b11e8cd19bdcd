"""Terminal data dirs with an enrollment, for tests that build a terminal through the bootstrap:
`enrolled` through the real HTTPS endpoint, `enrolled_at` a test site's authority directly."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from allhours.broker import PrivateMosquitto, free_port
from backend.enrollment import enrollment_server
from backend.service import BackendService
from demo_support.enrollment import enroll_at_site
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


enrolled_at = enroll_at_site  # the authority spends a token on a key made here


@functools.cache
def _offline_site() -> SiteAuthority:
    root = Path(tempfile.mkdtemp(prefix="allhours-test-site-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return SiteAuthority.create(root / "site-ca")


def enrolled_offline(data_dir: Path, terminal_id: str = "T0001", **keys: bytes) -> Path:
    """`data_dir` enrolled at a site made once per test run, whose broker never runs;
    `keys`: pickup_code_key, applicant_key (default: fresh ones)."""
    return enrolled_at(_offline_site(), data_dir, terminal_id, **keys)


def enrolled_for(
    broker: PrivateMosquitto, data_dir: Path, terminal_id: str = "T0001", **keys: bytes
) -> Path:
    """`data_dir` enrolled at the site of a running test broker, its bundle naming that broker."""
    return enrolled_at(
        broker.authority,
        data_dir,
        terminal_id,
        broker_host=broker.host,
        broker_port=broker.port,
        **keys,
    )
