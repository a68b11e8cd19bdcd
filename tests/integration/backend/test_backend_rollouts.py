"""Staged software rollouts from the console's API to real terminals over mutual TLS.

The backend runs in process over a real Mosquitto; each terminal is a real node (enrolled,
signed commands, outbox) that fetches the archive from an HTTPS server whose certificate the
site CA issued and which asks for the terminal's certificate. The root-run updater is the real
one (terminal/update.py through `allhours update run-request`'s function) over real release
directories; a small supervisor plays systemd's part, running each release's kiosk program,
which writes the health report with the real reporter (as in tests/unit/update).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import ssl
import sys
import tarfile
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from backend_integration_factories import KEY, TERMINAL, wait_for
from enrolled_terminal import enrolled_for
from fastapi.testclient import TestClient
from sqlalchemy import select

from allhours.bootstrap import training_terminal
from allhours.cli import main
from allhours.commands.update import run_request
from backend.alarms import AlarmSettings
from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import CommandRow
from backend.notifications.models import NotificationRow
from terminal.software_update import REQUEST
from terminal.update import Releases, Updater
from terminal.update_trust import UpdateTrust

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[3]
PILOT, DISTRICT = TERMINAL, "T0002"

KIOSK = """\
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from terminal.update_health import HealthReporter
here = Path(__file__).resolve().parent.parent
checks = {{"database": lambda: None}}
if (here / "MODE").read_text().strip() == "bad":
    checks["screens"] = lambda: "font for Chinese not found"
HealthReporter(Path(sys.argv[1]), (here / "VERSION").read_text().strip(), checks,
               period_s=0.2).start()
while True:
    time.sleep(1)
"""


def release_archive(out_dir: Path, version: str, mode: str = "ok") -> Path:
    """A release tarball: bin/kiosk, VERSION, MODE at its top level."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (
            ("VERSION", version),
            ("MODE", mode),
            ("bin/kiosk", KIOSK.format(repo=str(REPO))),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    path = out_dir / f"allhours-{version}.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


class ReleaseServer:
    """HTTPS with the site CA's server certificate; only a client with a site certificate."""

    def __init__(self, authority, root: Path):
        files = authority.issue_server("releases", root.parent / "releases-tls", ("127.0.0.1",))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=authority.ca_pem.decode())
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Supervisor:
    """systemd's part for one terminal: its kiosk program from `current`, restarted on request."""

    def __init__(self, root: Path, health_dir: Path):
        self.root, self.health_dir = root, health_dir
        self.proc = None

    def restart(self) -> None:
        import subprocess

        self.stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(self.root / "current" / "bin" / "kiosk"), str(self.health_dir)]
        )

    def alive(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"kiosk exited with status {self.proc.returncode}"
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class Site:
    """One terminal: its node, its installed releases (1.0.0 running) and its root updater."""

    def __init__(self, tmp_path: Path, mosquitto, terminal_id: str, first: Path):
        base = tmp_path / terminal_id
        data_dir = enrolled_for(mosquitto, base / "terminal", terminal_id, pickup_code_key=KEY)
        self.node = training_terminal(data_dir).node
        self.update_dir = base / "update"
        self.releases = Releases(base / "opt")
        # Root's own trust in the backend's keys, taken over after enrollment as the
        # technician does (docs/deploy-terminal.md).
        self.trust = base / "update-trust.json"
        bundle = data_dir / "identity" / "bundle.json"
        assert main(["update", "--trust", str(self.trust), "trust", "--bundle", str(bundle)]) == 0
        health_dir = base / "kiosk"
        health_dir.mkdir()
        self.kiosk = Supervisor(self.releases.root, health_dir)
        self.releases.install_archive(
            first, hashlib.sha256(first.read_bytes()).hexdigest(), "1.0.0"
        )
        self.releases.point("current", "1.0.0")
        self.kiosk.restart()
        self.updater = Updater(
            self.releases,
            health_dir,
            self.kiosk.restart,
            health_timeout_s=60,
            alive=self.kiosk.alive,
        )
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._path_unit, daemon=True)

    def _path_unit(self) -> None:
        """allhours-update.path: a request appears, allhours-update.service runs it as root."""
        while not self._stop.wait(0.2):
            request = self.update_dir / REQUEST
            if request.exists():
                self.requests += 1
                run_request(request, self.releases, self.updater, self.trust)

    def start(self) -> Site:
        self.node.start()
        self._thread.start()
        assert self.node.link.connected.wait(30)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.node.stop()
        self.kiosk.stop()


@pytest.fixture
def fleet(tmp_path, mosquitto, make_service):
    served = tmp_path / "served"
    served.mkdir()
    first = release_archive(tmp_path, "1.0.0")
    service = make_service()
    service.register_terminal(DISTRICT, KEY)
    server = ReleaseServer(mosquitto.authority, served)
    sites = {t: Site(tmp_path, mosquitto, t, first) for t in (PILOT, DISTRICT)}
    try:
        for site in sites.values():
            site.start()
        with TestClient(create_app(service)) as client:
            operator = bearer(account_with_token(service.db, "op.li", ["operator"])[1])
            for name, members in (("pilot", [PILOT]), ("dongcheng", [PILOT, DISTRICT])):
                r = client.post("/api/fleet/groups", json={"name": name}, headers=operator)
                assert r.status_code == 201, r.text
                r = client.post(
                    f"/api/fleet/groups/{name}/members",
                    json={"terminals": members},
                    headers=operator,
                )
                assert r.status_code == 200, r.text
            yield service, client, operator, server, served, sites
    finally:
        for site in sites.values():
            site.stop()
        server.stop()


def _start(client, operator, server, archive: Path, version: str, sha: str | None = None) -> int:
    data = archive.read_bytes()
    body = {
        "kind": "software",
        "stages": ["pilot", "dongcheng"],
        "software": {
            "version": version,
            "archive_url": server.url(archive.name),
            "sha256": sha or hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
        },
        "note": "night window",
    }
    r = client.post("/api/fleet/rollouts", json=body, headers=operator)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _finished(client, operator, rollout_id: int) -> dict:
    def shown() -> dict | None:
        r = client.get(f"/api/fleet/rollouts/{rollout_id}", headers=operator).json()
        return r if r["state"] in ("done", "aborted") else None

    return wait_for(shown, 120, f"rollout {rollout_id} to end")


def _update_commands(service, terminal_id: str) -> list[CommandRow]:
    with service.db.transaction() as s:
        return list(
            s.scalars(
                select(CommandRow).where(
                    CommandRow.terminal_id == terminal_id,
                    CommandRow.type == "command.update_software",
                )
            )
        )


def test_a_good_version_rolls_through_the_pilot_then_the_district(fleet):
    _service, client, operator, server, served, sites = fleet
    archive = release_archive(served, "2.0.0")
    rid = _start(client, operator, server, archive, "2.0.0")

    shown = _finished(client, operator, rid)

    assert shown["state"] == "done", shown
    targets = {t["terminal_id"]: t for t in shown["targets"]}
    assert {t: (x["stage"], x["state"], x["running"]) for t, x in targets.items()} == {
        PILOT: (1, "succeeded", "2.0.0"),
        DISTRICT: (2, "succeeded", "2.0.0"),
    }
    assert targets[PILOT]["detail"] == "update to 2.0.0: healthy"
    # The district was sent only after the pilot's outcome.
    assert targets[DISTRICT]["sent_at"] >= targets[PILOT]["finished_at"]
    for site in sites.values():
        assert site.releases.current() == "2.0.0" and site.releases.previous() == "1.0.0"
        # Root acted on the backend's signed command, checked against its own trust.
        assert UpdateTrust.load(site.trust).last_seq > 0


def test_a_version_failing_its_health_check_on_the_pilot_is_rolled_back_and_goes_no_further(
    fleet,
):
    service, client, operator, server, served, sites = fleet
    archive = release_archive(served, "3.0.0", mode="bad")
    rid = _start(client, operator, server, archive, "3.0.0")

    shown = _finished(client, operator, rid)

    assert shown["state"] == "aborted", shown
    assert shown["detail"].startswith("abort threshold reached: 1 of 1 sent failed: T0001 (")
    targets = {t["terminal_id"]: t for t in shown["targets"]}
    assert targets[PILOT]["state"] == "failed" and targets[PILOT]["running"] == "1.0.0"
    assert targets[PILOT]["detail"] == (
        "3.0.0 unhealthy (screens: font for Chinese not found); rolled back to 1.0.0"
    )
    assert targets[DISTRICT]["state"] == "skipped"
    assert sites[PILOT].releases.current() == "1.0.0"
    assert "3.0.0" in sites[PILOT].releases.failed()
    # Nothing else received it: no command was ever made for the district's terminal.
    time.sleep(3)  # a few more ticks of the rollout monitor
    assert _update_commands(service, DISTRICT) == []
    assert sites[DISTRICT].requests == 0 and sites[DISTRICT].releases.current() == "1.0.0"


def test_a_tampered_archive_is_refused_by_the_terminal_and_nothing_is_installed(fleet):
    service, client, operator, server, served, sites = fleet
    archive = release_archive(served, "2.0.0")
    signed = hashlib.sha256(archive.read_bytes()).hexdigest()
    data = bytearray(archive.read_bytes())
    data[-1] ^= 0xFF  # one byte changed on the server after the release was signed
    archive.write_bytes(bytes(data))
    rid = _start(client, operator, server, archive, "2.0.0", sha=signed)

    shown = _finished(client, operator, rid)

    assert shown["state"] == "aborted"
    pilot = next(t for t in shown["targets"] if t["terminal_id"] == PILOT)
    assert pilot["state"] == "failed"
    assert pilot["detail"] == "refused: archive of 2.0.0: SHA-256 does not match the signed one"
    assert sites[PILOT].requests == 0
    assert sites[PILOT].releases.installed() == ["1.0.0"]
    assert not list(sites[PILOT].update_dir.glob("*.tar.gz*"))
    assert _update_commands(service, DISTRICT) == []


def test_a_failed_update_alarms_the_on_duty_operator_and_the_next_good_one_clears_it(fleet):
    service, client, operator, server, served, _sites = fleet
    service.alarms.settings = AlarmSettings(on_duty_phone="13800000000")
    bad = _start(client, operator, server, release_archive(served, "3.0.0", mode="bad"), "3.0.0")
    assert _finished(client, operator, bad)["state"] == "aborted"

    def live() -> list[dict]:
        r = client.get("/api/alarms?state=live", headers=operator)
        assert r.status_code == 200, r.text
        return [a for a in r.json() if a["kind"] == "update_failed"]

    [alarm] = wait_for(live, 30, "the update_failed alarm")
    assert alarm["terminal_id"] == PILOT and alarm["state"] == "open"
    assert alarm["detail"] == (
        "update to 3.0.0 failed, running 1.0.0: "
        "3.0.0 unhealthy (screens: font for Chinese not found); rolled back to 1.0.0"
    )
    terminals = {t["terminal_id"]: t for t in client.get("/api/terminals", headers=operator).json()}
    assert [a["kind"] for a in terminals[PILOT]["open_alarms"]] == ["update_failed"]
    assert terminals[DISTRICT]["open_alarms"] == []  # it never got the version
    with service.db.transaction() as s:
        texts = [(n.phone, n.params) for n in s.scalars(select(NotificationRow))]
    assert texts == [("13800000000", {"terminal": PILOT, "kind": "软件更新失败"})]

    good = _start(client, operator, server, release_archive(served, "2.0.0"), "2.0.0")
    assert _finished(client, operator, good)["state"] == "done"
    wait_for(lambda: live() == [], 30, "the alarm cleared by the good update")
    r = client.get("/api/alarms?state=cleared", headers=operator).json()
    [cleared] = [a for a in r if a["kind"] == "update_failed"]
    assert cleared["cleared_by"] == f"terminal:{PILOT}"
