"""Software updates on real directories: install, switch, health check, fall back.

Each release is a directory with a real program (`bin/kiosk`) that writes the kiosk's health
report with the real reporter; a small supervisor plays systemd's part (restart = stop the
running process, start `current/bin/kiosk`). Nothing of the updater is replaced.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from allhours.cli import main
from terminal.update import Releases, UpdateError, Updater
from terminal.update_health import HealthReporter, judge, read_report

REPO = Path(__file__).resolve().parents[3]

KIOSK = """\
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from terminal.update_health import HealthReporter
here = Path(__file__).resolve().parent.parent
mode = (here / "MODE").read_text().strip()
if mode == "crash":
    raise SystemExit(3)
if mode == "hang":
    time.sleep(3600)
checks = {{"database": lambda: None}}
if mode == "bad":
    checks["screens"] = lambda: "font for Chinese not found"
HealthReporter(Path(sys.argv[1]), (here / "VERSION").read_text().strip(), checks,
               period_s=0.2).start()
while True:
    time.sleep(1)
"""


class Supervisor:
    """systemd's part: one kiosk process, started from `current`, restarted on request."""

    def __init__(self, root: Path, data_dir: Path):
        self.root, self.data_dir = root, data_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def restart(self) -> None:
        self.stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(self.root / "current" / "bin" / "kiosk"), str(self.data_dir)]
        )
        self.starts += 1

    def alive(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"kiosk exited with status {self.proc.returncode}"
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def release_tree(tmp_path: Path, version: str, mode: str = "ok") -> Path:
    src = tmp_path / "build" / version
    (src / "bin").mkdir(parents=True)
    (src / "VERSION").write_text(version)
    (src / "MODE").write_text(mode)
    (src / "bin" / "kiosk").write_text(KIOSK.format(repo=str(REPO)))
    return src


@pytest.fixture
def fleet_box(tmp_path):
    root, data = tmp_path / "opt", tmp_path / "data"
    data.mkdir()
    releases = Releases(root)
    sup = Supervisor(root, data)
    releases.install_tree(release_tree(tmp_path, "1.0"), "1.0")
    releases.point("current", "1.0")
    sup.restart()
    updater = Updater(releases, data, sup.restart, health_timeout_s=60, alive=sup.alive)
    yield releases, updater, sup, tmp_path
    sup.stop()


def test_a_healthy_version_is_kept_and_only_two_stay_installed(fleet_box):
    releases, updater, sup, tmp = fleet_box
    releases.install_tree(release_tree(tmp, "1.1"), "1.1")
    assert updater.update("1.1").ok
    releases.install_tree(release_tree(tmp, "1.2"), "1.2")
    out = updater.update("1.2")
    assert out.ok and out.running == "1.2" and not out.rolled_back
    assert (releases.current(), releases.previous()) == ("1.2", "1.1")
    assert releases.installed() == ["1.1", "1.2"]  # 1.0 pruned
    report = read_report(sup.data_dir)
    assert report["software_version"] == "1.2" and report["pid"] == sup.proc.pid
    assert releases.state()["phase"] == "done"


def test_a_version_failing_a_check_is_rolled_back_and_the_reason_named(fleet_box):
    releases, updater, sup, tmp = fleet_box
    releases.install_tree(release_tree(tmp, "2.0", mode="bad"), "2.0")
    out = updater.update("2.0")
    assert not out.ok and out.rolled_back and out.running == "1.0"
    assert "screens: font for Chinese not found" in out.detail
    assert releases.current() == "1.0"
    report = read_report(sup.data_dir)
    assert report["software_version"] == "1.0" and report["ok"] and sup.alive() is None
    # Refused until it is installed again (a fixed build under the same name).
    with pytest.raises(UpdateError, match="failed its health check before"):
        updater.update("2.0")
    releases.install_tree(release_tree(tmp / "fixed", "2.0"), "2.0")
    assert updater.update("2.0").ok


def test_a_version_that_dies_at_start_is_rolled_back_without_waiting_the_timeout(fleet_box):
    releases, updater, sup, tmp = fleet_box
    releases.install_tree(release_tree(tmp, "3.0", mode="crash"), "3.0")
    out = updater.update("3.0")
    assert out.rolled_back and "kiosk exited with status 3" in out.detail
    assert releases.current() == "1.0" and sup.alive() is None


def test_a_version_that_never_reports_is_rolled_back_at_the_deadline(fleet_box):
    releases, _, sup, tmp = fleet_box
    updater = Updater(releases, sup.data_dir, sup.restart, health_timeout_s=3, alive=sup.alive)
    releases.install_tree(release_tree(tmp, "4.0", mode="hang"), "4.0")
    out = updater.update("4.0")
    assert out.rolled_back and "not healthy within 3 s" in out.detail
    assert read_report(sup.data_dir)["software_version"] == "1.0"


def test_an_operator_rolls_back_to_the_previous_version(fleet_box):
    releases, updater, _, tmp = fleet_box
    releases.install_tree(release_tree(tmp, "1.1"), "1.1")
    assert updater.update("1.1").ok
    out = updater.rollback("paper jams since 1.1")
    assert out.ok and out.running == "1.0" and releases.current() == "1.0"
    assert releases.failed() == {"1.1": "paper jams since 1.1"}


def test_a_switch_cut_off_by_a_power_loss_is_undone_at_boot(fleet_box):
    releases, updater, sup, tmp = fleet_box
    releases.install_tree(release_tree(tmp, "5.0", mode="bad"), "5.0")
    # The state a crash leaves: links switched, the check never finished.
    releases.write_state(phase="checking", kind="update", to="5.0", started=time.time())
    releases.write_state(**{"from": "1.0"})
    releases.point("previous", "1.0")
    releases.point("current", "5.0")
    sup.restart()  # the boot starts whatever `current` is
    out = updater.recover()
    assert out is not None and out.rolled_back and releases.current() == "1.0"
    assert updater.recover() is None  # nothing under way any more


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_an_archive_is_checked_against_its_digest_and_may_not_escape(tmp_path):
    releases = Releases(tmp_path / "opt")
    good = tmp_path / "good.tar.gz"
    good.write_bytes(_tar({"VERSION": b"6.0", "bin/kiosk": b"print()"}))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    with pytest.raises(UpdateError, match="SHA-256 does not match"):
        releases.install_archive(good, "0" * 64, "6.0")
    assert releases.installed() == []
    releases.install_archive(good, digest, "6.0")
    assert (releases.path("6.0") / "bin" / "kiosk").read_bytes() == b"print()"
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(_tar({"../../outside": b"x"}))
    with pytest.raises(UpdateError, match=r"archive of 6\.1"):
        releases.install_archive(evil, hashlib.sha256(evil.read_bytes()).hexdigest(), "6.1")
    assert not (tmp_path / "outside").exists() and releases.installed() == ["6.0"]
    with pytest.raises(UpdateError, match="bad version name"):
        releases.install_archive(good, digest, "../x")


def test_the_health_verdict_wants_the_new_version_fresh_and_started_after_the_change(tmp_path):
    rep = HealthReporter(tmp_path, "1.0", {"disk": lambda: None}, config_version=lambda: "c7")
    report = rep.write()
    now = report["at"]
    assert judge(
        report, since=rep.started_at - 1, software_version="1.0", config_version="c7"
    ).healthy
    assert "running software" in judge(report, since=0, software_version="2.0").detail
    assert "running configuration" in judge(report, since=0, config_version="c8").detail
    assert "started after" in judge(report, since=rep.started_at + 1).detail
    assert "s old" in judge(report, since=0, now=now + 300).detail
    boom = HealthReporter(tmp_path, "1.0", {"disk": lambda: 1 / 0}).report()
    assert not boom["ok"] and "ZeroDivisionError" in boom["problems"]["disk"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"[" * 5000 + b"]" * 5000,
        b'["2.0.0"]',
        b'{"version": "2.0.0"}',
        b'{"version": "\xff"}',
    ],
    ids=["nested-thousands-deep", "a-list", "keys-missing", "not-utf-8"],
)
def test_a_request_the_updater_cannot_read_is_refused_and_removed(tmp_path, capsys, request_bytes):
    # The kiosk's user writes the request; the updater, with more rights, reads it.
    request = tmp_path / "update" / "request.json"
    request.parent.mkdir()
    request.write_bytes(request_bytes)
    root = tmp_path / "opt"
    argv = ["update", "--root", str(root), "--data-dir", str(tmp_path), "run-request"]

    assert main([*argv, "--request", str(request)]) == 2

    assert f"bad request {request}" in capsys.readouterr().err
    assert not request.exists()
    assert Releases(root).installed() == []
