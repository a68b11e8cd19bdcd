"""The kiosk's fetch of a release archive over real HTTPS: what it trusts and what it refuses.

Real TLS servers with certificates of a real site CA (and of another one); the terminal's own
certificate from the same site. The outcome goes into the terminal's real outbox.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import ssl
import threading
from functools import partial
from pathlib import Path

import pytest
from signed_updates import Backend

from allhours.cli import main
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.signing import BackendKeys, SignedDownstream
from cloud_bridge.local_db import LocalDatabase
from cloud_bridge.outbox import Outbox
from provisioning.authority import TERMINAL, SiteAuthority
from provisioning.tls import ClientTls
from terminal.software_update import OUTCOME, REQUEST, SoftwareUpdates

DATA = b"release bytes " * 1000


class Server:
    def __init__(self, authority: SiteAuthority, root: Path, tls_dir: Path, client_ca: bool):
        files = ClientTls.in_dir(tls_dir)
        if not files.cert_file.exists():
            authority.issue_server("releases", tls_dir, ("127.0.0.1",))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=authority.ca_pem.decode())
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site(tmp_path):
    authority = SiteAuthority.create(tmp_path / "ca")
    identity = authority.issue_identity("T0001", TERMINAL, tmp_path / "identity")
    served = tmp_path / "served"
    served.mkdir()
    (served / "allhours-2.0.0.tar.gz").write_bytes(DATA)
    # The release server's certificate as an operator makes it (docs/deploy-terminal.md).
    ca = ["--ca-dir", str(authority.dir)]
    cli = ["provision", "server-cert", "releases", *ca, "--dir", str(tmp_path / "tls")]
    assert main([*cli, "--name", "127.0.0.1", "--name", "releases.site.example"]) == 0
    server = Server(authority, served, tmp_path / "tls", client_ca=True)
    db = LocalDatabase(tmp_path / "terminal.sqlite")
    outbox = Outbox(db, tmp_path / "blobs", "T0001")
    updates = SoftwareUpdates(tmp_path / "update", outbox, "T0001", "1.0.0", tls=lambda: identity)
    yield updates, server, outbox, tmp_path
    server.close()
    db.close()


def _command(url: str, sha: str | None = None, size: int | None = None) -> m.UpdateSoftware:
    return m.UpdateSoftware(
        terminal_id="T0001",
        operation_id="rollout-3",
        expires_at=m.utcnow(),
        version="2.0.0",
        archive_url=url,
        sha256=sha or hashlib.sha256(DATA).hexdigest(),
        size_bytes=len(DATA) if size is None else size,
    )


def _update(updates: SoftwareUpdates, command: m.UpdateSoftware):
    """`command` handed over as the link does: with the backend's signature on it."""
    return updates.on_update(command, Backend().sign(command))


def _reported(outbox: Outbox) -> list[m.SoftwareUpdated]:
    queued = [m.decode(outbox.payload(e)) for e in outbox.due(100, 0)]
    return [x for x in queued if isinstance(x, m.SoftwareUpdated)]


def test_a_checked_archive_becomes_the_updaters_request(site):
    updates, server, outbox, tmp = site
    backend = Backend()
    command = _command(server.url("allhours-2.0.0.tar.gz"))
    result = updates.on_update(command, backend.sign(command, seq=17))
    assert result.detail == "accepted: fetching 2.0.0"
    assert result.result == {"software_version": "1.0.0"}
    updates.wait_fetched(30)
    request = json.loads((tmp / "update" / REQUEST).read_text())
    assert Path(request["archive"]).read_bytes() == DATA
    # The command as the backend signed it, for root to check itself, and nothing else.
    assert set(request) == {"archive", "command"}
    signed = SignedDownstream.from_json(request["command"])
    signed.verify(BackendKeys([backend.public_hex]))
    assert signed.seq == 17 and m.decode_from(signed.topic, signed.payload) == command
    assert _reported(outbox) == []
    # A second update while this one waits for the updater is refused.
    with pytest.raises(Exception, match="already under way"):
        _update(updates, _command(server.url("allhours-2.0.0.tar.gz")))


@pytest.mark.parametrize(
    ("sha", "size", "words"),
    [
        ("00" * 32, None, "SHA-256 does not match the signed one"),
        (None, len(DATA) - 1, "longer than the signed"),
        (None, len(DATA) + 1, f"{len(DATA)} bytes, signed {len(DATA) + 1}"),
    ],
)
def test_an_archive_unlike_the_signed_one_is_refused_and_reported(site, sha, size, words):
    updates, server, outbox, tmp = site
    _update(updates, _command(server.url("allhours-2.0.0.tar.gz"), sha, size))
    updates.wait_fetched(30)
    assert not (tmp / "update" / REQUEST).exists()
    assert list((tmp / "update").iterdir()) == []  # the partial file is gone
    (event,) = _reported(outbox)
    assert (event.operation_id, event.ok, event.running) == ("rollout-3", False, "1.0.0")
    assert words in event.detail and event.detail.startswith("refused: ")


def test_a_server_without_a_site_certificate_is_not_trusted(site, tmp_path):
    updates, _server, outbox, _tmp = site
    stranger = Server(
        SiteAuthority.create(tmp_path / "other-ca"), tmp_path / "served", tmp_path / "t2", False
    )
    try:
        _update(updates, _command(stranger.url("allhours-2.0.0.tar.gz")))
        updates.wait_fetched(30)
    finally:
        stranger.close()
    (event,) = _reported(outbox)
    assert not event.ok and "CERTIFICATE_VERIFY_FAILED" in event.detail


def test_the_updaters_outcome_is_reported_once_with_its_operation_id(site):
    updates, _server, outbox, tmp = site
    (tmp / "update").mkdir(exist_ok=True)
    archive = tmp / "update" / "allhours-3.0.0.tar.gz"
    archive.write_bytes(b"x")
    (tmp / "update" / OUTCOME).write_text(
        json.dumps(
            {
                "ok": False,
                "running": "1.0.0",
                "attempted": "3.0.0",
                "detail": "3.0.0 unhealthy (screens: font); rolled back to 1.0.0",
                "rolled_back": True,
                "operation_id": "rollout-4",
                "archive": str(archive),
            }
        )
    )
    assert updates.report_outcome() is True
    assert updates.report_outcome() is False
    (event,) = _reported(outbox)
    assert (event.operation_id, event.version, event.rolled_back) == ("rollout-4", "3.0.0", True)
    assert not archive.exists()


def test_the_running_version_is_acked_without_a_fetch(site):
    updates, server, outbox, tmp = site
    cmd = _command(server.url("x")).model_copy(update={"version": "1.0.0"})
    assert _update(updates, cmd).detail == "already running 1.0.0"
    assert not (tmp / "update").exists() and _reported(outbox) == []
