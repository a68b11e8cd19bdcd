"""Software updates on real directories: install, switch, health check, fall back.

Each release is a directory with a real program (`bin/kiosk`) that writes the kiosk's health
report with the real reporter; a small supervisor plays systemd's part (restart = stop the
running process, start `current/bin/kiosk`). Nothing of the updater is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from signed_updates import Backend, tar_bytes

from allhours.cli import main
from allhours.commands.update import run_request
from terminal.update import Releases, UpdateError, Updater
from terminal.update_health import HealthReporter, judge, read_report, wait_healthy

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
if mode == "report":  # writes REPORT as its report, with its start time and the time put in
    import os
    shape, started = (here / "REPORT").read_bytes(), repr(time.time()).encode()
    out = Path(sys.argv[1]) / "health.json"
    while True:
        data = shape.replace(b"@STARTED@", started).replace(b"@NOW@", repr(time.time()).encode())
        (out.parent / ".health.tmp").write_bytes(data)
        os.replace(out.parent / ".health.tmp", out)
        time.sleep(0.2)
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


def release_tree(tmp_path: Path, version: str, mode: str = "ok", report: bytes = b"") -> Path:
    src = tmp_path / "build" / version
    (src / "bin").mkdir(parents=True)
    (src / "VERSION").write_text(version)
    (src / "MODE").write_text(mode)
    (src / "REPORT").write_bytes(report)
    (src / "bin" / "kiosk").write_text(KIOSK.format(repo=str(REPO)))
    return src


def _box(tmp_path, supervisor: type[Supervisor]):
    """Release 1.0 installed and running under `supervisor`, and an updater over it."""
    root, data = tmp_path / "opt", tmp_path / "data"
    data.mkdir()
    releases = Releases(root)
    sup = supervisor(root, data)
    releases.install_tree(release_tree(tmp_path, "1.0"), "1.0")
    releases.point("current", "1.0")
    sup.restart()
    updater = Updater(releases, data, sup.restart, health_timeout_s=60, alive=sup.alive)
    return releases, updater, sup


@pytest.fixture
def fleet_box(tmp_path):
    releases, updater, sup = _box(tmp_path, Supervisor)
    yield releases, updater, sup, tmp_path
    sup.stop()


@pytest.fixture
def backend(tmp_path):
    """The backend's signing key, which root's trust file (tmp_path/trust.json) names."""
    backend = Backend()
    backend.trusted_by(tmp_path / "trust.json")
    return backend


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


def test_an_archive_is_checked_against_its_digest_and_may_not_escape(tmp_path):
    releases = Releases(tmp_path / "opt")
    good = tmp_path / "good.tar.gz"
    good.write_bytes(tar_bytes({"VERSION": b"6.0", "bin/kiosk": b"print()"}))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    with pytest.raises(UpdateError, match="SHA-256 does not match"):
        releases.install_archive(good, "0" * 64, "6.0")
    assert releases.installed() == []
    releases.install_archive(good, digest, "6.0")
    assert (releases.path("6.0") / "bin" / "kiosk").read_bytes() == b"print()"
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(tar_bytes({"../../outside": b"x"}))
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
        b'{"archive": "\xff"}',
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


# ---------------------------------------------------------------- what the kiosk's user wrote


def _report(**fields: object) -> bytes:
    """A report of version 2.0 with `fields` replaced; "@STARTED@"/"@NOW@" become times."""
    base = {
        "software_version": "2.0",
        "config_version": "builtin",
        "pid": 4242,
        "started_at": "@STARTED@",
        "at": "@NOW@",
        "ok": True,
        "problems": {},
    }
    text = json.dumps({**base, **fields})
    return text.replace('"@STARTED@"', "@STARTED@").replace('"@NOW@"', "@NOW@").encode()


@pytest.mark.parametrize(
    ("report", "why"),
    [
        (_report(started_at=None, ok=False), "started_at is not a number"),
        (b"[" * 100_000 + b"]" * 100_000, "larger than 65536 bytes"),
    ],
    ids=["started-at-null", "nested-100000"],  # each other way to be unreadable: the next test
)
def test_a_report_of_unknown_origin_the_updater_cannot_read_is_rolled_back_at_the_deadline(
    fleet_box, report, why
):
    # Without a start time it can be read as, the report may be the old kiosk's: it counts as
    # no report yet, and the deadline undoes the switch.
    releases, _, sup, tmp = fleet_box
    updater = Updater(releases, sup.data_dir, sup.restart, health_timeout_s=3, alive=sup.alive)
    releases.install_tree(release_tree(tmp, "2.0", mode="report", report=report), "2.0")

    out = updater.update("2.0")

    assert not out.ok and out.rolled_back and out.running == "1.0"
    assert f"not healthy within 3 s: unreadable health report: {why}" in out.detail
    assert "1.0 is not healthy either" not in out.detail
    assert releases.current() == "1.0" and releases.state()["phase"] == "done"
    assert "unreadable health report" in releases.failed()["2.0"]
    assert read_report(sup.data_dir)["software_version"] == "1.0" and sup.alive() is None


@pytest.mark.parametrize(
    ("report", "why"),
    [
        (_report(ok=False, problems=["database"]), "problems is not an object of strings"),
        (_report(ok="yes"), "ok is not true or false"),
        (_report(at=None), "at is not a number"),
    ],
    ids=["problems-a-list", "ok-a-string", "at-null"],
)
def test_an_unreadable_report_of_the_new_kiosk_rolls_back_at_once(fleet_box, report, why):
    releases, updater, sup, tmp = fleet_box  # a deadline of 60 s
    releases.install_tree(release_tree(tmp, "2.0", mode="report", report=report), "2.0")

    began = time.monotonic()
    out = updater.update("2.0")

    assert time.monotonic() - began < 30
    assert out.rolled_back and out.running == "1.0" and releases.current() == "1.0"
    assert f"2.0 unhealthy (unreadable health report: {why}); rolled back to 1.0" == out.detail
    assert releases.state()["phase"] == "done"
    assert read_report(sup.data_dir)["software_version"] == "1.0"


def test_recovery_at_boot_finishes_over_an_unreadable_report(fleet_box):
    releases, _, sup, tmp = fleet_box
    deep = b"[" * 100_000 + b"]" * 100_000
    releases.install_tree(release_tree(tmp, "5.0", mode="report", report=deep), "5.0")
    releases.write_state(phase="checking", kind="update", to="5.0", started=time.time())
    releases.write_state(**{"from": "1.0"})
    releases.point("previous", "1.0")
    releases.point("current", "5.0")
    sup.restart()
    updater = Updater(releases, sup.data_dir, sup.restart, health_timeout_s=3, alive=sup.alive)

    out = updater.recover()

    assert out is not None and out.rolled_back and releases.current() == "1.0"
    assert "unreadable health report: larger than 65536 bytes" in out.detail
    assert updater.recover() is None


def test_the_verdict_on_a_report_not_of_the_documented_shape_is_unreadable(tmp_path):
    good = HealthReporter(tmp_path, "1.0", {"disk": lambda: None}).report()
    assert judge(good, since=0).healthy
    for bad, why in [
        ([good], "not a JSON object"),
        ({**good, "started_at": None}, "started_at is not a number"),
        ({**good, "at": float("nan")}, "at is not a number"),
        ({**good, "started_at": True}, "started_at is not a number"),
        ({**good, "ok": 1}, "ok is not true or false"),
        ({**good, "problems": {"db": ["x"]}}, "problems is not an object of strings"),
        ({k: v for k, v in good.items() if k != "software_version"}, "software_version missing"),
    ]:
        assert judge(bad, since=0).detail == f"unreadable health report: {why}"
    (tmp_path / "health.json").write_text("[1, 2]")
    assert read_report(tmp_path) is None


@pytest.mark.parametrize(
    ("report", "why"),
    [
        (_report(started_at="2026-12-05T10:00:00"), "started_at is not a number"),
        (b'["not", "an", "object"]', "not a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "JSON nested too deep"),
        (b'{"software_version": "\xff"}', "not UTF-8 text"),
    ],
    ids=["started-at-a-date", "a-list", "nested-5000", "bytes"],
)
def test_a_report_file_of_unknown_origin_is_judged_unreadable_with_the_reason(
    tmp_path, report, why
):
    # What the updater's wait reads each turn (the deadline itself: the test above).
    (tmp_path / "health.json").write_bytes(
        report.replace(b"@STARTED@", b"0").replace(b"@NOW@", b"0")
    )
    verdict = wait_healthy(tmp_path, since=0, timeout_s=0, software_version="2.0")
    assert not verdict.healthy and f"unreadable health report: {why}" in verdict.detail


# ---------------------------------------------------------------- the request


def _argv(tmp_path: Path) -> list[str]:
    return [
        *("update", "--root", str(tmp_path / "opt"), "--data-dir", str(tmp_path)),
        *("--trust", str(tmp_path / "trust.json")),
    ]


def _run_request(tmp_path: Path, asked: dict) -> tuple[int, Path]:
    request = tmp_path / "update" / "request.json"
    request.parent.mkdir(exist_ok=True)
    request.write_text(json.dumps(asked))
    return main([*_argv(tmp_path), "run-request", "--request", str(request)]), request


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"archive": None}, "archive is not a non-empty string"),
        ({"archive": ["a.tar.gz"]}, "archive is not a non-empty string"),
        ({"archive": ""}, "archive is not a non-empty string"),
        ({"command": None}, "command is not a JSON object"),
        ({"command": "signed"}, "command is not a JSON object"),
    ],
    ids=["archive-null", "archive-a-list", "archive-empty", "command-null", "command-a-string"],
)
def test_a_request_with_a_field_of_the_wrong_type_is_refused_and_removed(
    tmp_path, capsys, backend, fields, why
):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_bytes({"VERSION": b"2.0"}))
    asked = {
        **backend.request(archive, "2.0", hashlib.sha256(archive.read_bytes()).hexdigest()),
        **fields,
    }

    code, request = _run_request(tmp_path, asked)

    assert code == 2
    assert f"bad request {request}: {why}" in capsys.readouterr().err
    assert not request.exists() and not (request.parent / "outcome.json").exists()
    assert Releases(tmp_path / "opt").installed() == []


@pytest.mark.parametrize("kind", ["missing", "a-directory"])
def test_an_archive_that_cannot_be_installed_is_an_outcome_the_kiosk_reports(
    tmp_path, backend, kind
):
    archive = tmp_path / "update" / "allhours-2.0.tar.gz"
    if kind == "a-directory":
        archive.mkdir(parents=True)
    asked = backend.request(archive, "2.0", "0" * 64, operation_id="r-7")

    code, request = _run_request(tmp_path, asked)

    assert code == 1 and not request.exists()
    outcome = json.loads((request.parent / "outcome.json").read_text())
    assert outcome["ok"] is False and outcome["attempted"] == "2.0"
    assert outcome["operation_id"] == "r-7" and outcome["archive"] == str(archive)
    why = "No such file or directory" if kind == "missing" else "is not a regular file"
    assert outcome["detail"].startswith("refused: archive of 2.0: ") and why in outcome["detail"]
    assert Releases(tmp_path / "opt").installed() == []


def test_an_archive_that_is_a_fifo_is_refused_without_blocking(tmp_path, backend):
    # The kiosk's user names the archive: opening a FIFO nobody writes to must not hang root.
    archive = tmp_path / "update" / "allhours-2.0.tar.gz"
    archive.parent.mkdir()
    os.mkfifo(archive)
    request = backend.drop(archive.parent, archive, "2.0", "0" * 64)
    argv = [*_argv(tmp_path), "run-request", "--request", str(request)]
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); from allhours.cli import main; "
    code += f"sys.exit(main({argv!r}))"

    done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True)

    assert done.returncode == 1, done.stderr
    outcome = json.loads((request.parent / "outcome.json").read_text())
    assert "is not a regular file" in outcome["detail"] and not outcome["ok"]


@pytest.mark.parametrize("kind", ["a-fifo", "a-link-to-roots-file"])
def test_a_request_that_is_no_regular_file_is_refused_without_reading_through_it(
    tmp_path, backend, kind
):
    # Root opened the request by name: a FIFO nobody writes to hung the unit, and a link was
    # followed to whatever file it named, here one of root's that reads as a request.
    request = tmp_path / "update" / "request.json"
    request.parent.mkdir()
    secret = tmp_path / "roots-own.json"
    archive = request.with_name("allhours-2.0.tar.gz")
    secret.write_text(json.dumps(backend.request(archive, "2.0", "0" * 64)))
    before = secret.read_text()
    if kind == "a-fifo":
        os.mkfifo(request)
    else:
        request.symlink_to(secret)
    argv = [*_argv(tmp_path), "run-request", "--request", str(request)]
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); from allhours.cli import main; "
    code += f"sys.exit(main({argv!r}))"

    done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)

    assert done.returncode == 2 and f"bad request {request}" in done.stderr, done.stderr
    assert not os.path.lexists(request) and secret.read_text() == before
    assert not request.with_name("outcome.json").exists()  # nothing was taken from it


# ---------------------------------------------------------------- root in the kiosk's directory


def _release_archive(tmp_path: Path, version: str, dest: Path, mode: str = "ok") -> str:
    """A real release (release_tree) packed as the kiosk fetches it; its SHA-256."""
    src = release_tree(tmp_path, version, mode)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(src)), recursive=False)
    return hashlib.sha256(dest.read_bytes()).hexdigest()


@pytest.mark.parametrize("plant", ["symlink", "hard-link"])
def test_the_outcome_never_writes_through_what_the_kiosks_user_planted(tmp_path, backend, plant):
    # Root writes outcome.json in the kiosk user's directory, which may hold a link to any file
    # under the name of the temporary file; `precious` stands in for /etc/shadow.
    precious = tmp_path / "precious"
    precious.write_text("root:$6$secret:19000::::::\n")
    update = tmp_path / "update"
    update.mkdir()
    planted = update / ".outcome.json.tmp"
    if plant == "symlink":
        planted.symlink_to(precious)
    else:
        os.link(precious, planted)
    missing = update / "allhours-2.0.tar.gz"  # refused: an outcome all the same
    asked = backend.request(missing, "2.0", "0" * 64, operation_id="r-7")

    code, request = _run_request(tmp_path, asked)

    assert code == 1
    assert precious.read_text() == "root:$6$secret:19000::::::\n"
    out = request.parent / "outcome.json"
    assert not out.is_symlink() and out.stat().st_nlink == 1
    outcome = json.loads(out.read_text())
    assert outcome["operation_id"] == "r-7" and not outcome["ok"]


def test_the_outcome_is_the_kiosk_users_to_read_whatever_roots_umask(tmp_path, backend):
    update = tmp_path / "update"
    update.mkdir()
    if os.geteuid() == 0:  # as root (the unit): the directory is another user's, as the kiosk's
        os.chown(update, 65534, 65534)
    asked = backend.request(update / "a.tar.gz", "2.0", "0" * 64)
    umask = os.umask(0o077)
    try:
        code, request = _run_request(tmp_path, asked)
    finally:
        os.umask(umask)

    assert code == 1
    st = (request.parent / "outcome.json").stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert (st.st_uid, st.st_gid) == (update.stat().st_uid, update.stat().st_gid)


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("a-symlink", "is a symbolic link"),
        ("a-hard-link", "has other hard links"),
        ("elsewhere", "is not in"),
        ("behind-a-symlinked-directory", "is not in"),
    ],
)
def test_run_request_reads_only_an_archive_of_the_kiosks_own_beside_the_request(
    fleet_box, backend, where, why
):
    # A valid release with the right SHA-256, but not a file the kiosk's user wrote beside its
    # request: it could name a root-only file and learn from the outcome whether a guess of its
    # content was right. `secret` stands in for it and is left as it was.
    releases, updater, sup, tmp = fleet_box
    update = tmp / "update"
    update.mkdir()
    secret = tmp / "root-only" / "allhours-2.0.tar.gz"
    sha = _release_archive(tmp, "2.0", secret)
    before = secret.read_bytes()
    archive = update / "allhours-2.0.tar.gz"
    if where == "a-symlink":
        archive.symlink_to(secret)
    elif where == "a-hard-link":
        os.link(secret, archive)
    elif where == "elsewhere":
        archive = secret
    else:
        (update / "sub").symlink_to(secret.parent)
        archive = update / "sub" / secret.name
    request = backend.drop(update, archive, "2.0", sha)

    assert run_request(request, releases, updater, tmp / "trust.json") == 1

    outcome = json.loads((update / "outcome.json").read_text())
    assert not outcome["ok"] and outcome["operation_id"] == "r-9"
    assert outcome["detail"].startswith("refused: archive of 2.0: ") and why in outcome["detail"]
    assert releases.installed() == ["1.0"] and releases.current() == "1.0"
    assert secret.read_bytes() == before and sup.starts == 1


def test_run_request_installs_the_archive_beside_it_and_an_operator_any_path(fleet_box, backend):
    releases, updater, _, tmp = fleet_box
    update = tmp / "update"
    update.mkdir()
    archive = update / "allhours-2.0.tar.gz"
    request = backend.drop(update, archive, "2.0", _release_archive(tmp, "2.0", archive))

    assert run_request(request, releases, updater, tmp / "trust.json") == 0

    outcome = json.loads((update / "outcome.json").read_text())
    assert outcome["ok"] and outcome["running"] == "2.0" and releases.current() == "2.0"
    # By hand (an operator, as root) the path is followed as given, a symbolic link too.
    elsewhere = tmp / "operator" / "3.0.tar.gz"
    sha = _release_archive(tmp, "3.0", elsewhere)
    (tmp / "link.tar.gz").symlink_to(elsewhere)
    argv = ["update", "--root", str(releases.root), "install", "--archive"]
    assert main([*argv, str(tmp / "link.tar.gz"), "--sha256", sha, "--version", "3.0"]) == 0
    assert "3.0" in releases.installed()


class SystemctlSupervisor(Supervisor):
    """`systemctl restart` as it fails: a kiosk that exits at start raises CalledProcessError,
    one that never finishes starting TimeoutExpired (subprocess's own, with check and timeout)."""

    broken = False

    def restart(self) -> None:
        self.stop()
        kiosk = [sys.executable, str(self.root / "current" / "bin" / "kiosk"), str(self.data_dir)]
        if self.broken:
            subprocess.run([sys.executable, "-c", "raise SystemExit(1)"], check=True, timeout=30)
        if (self.root / "current" / "MODE").read_text().strip() in ("crash", "hang"):
            subprocess.run(kiosk, check=True, timeout=2)
        super().restart()


@pytest.fixture
def systemctl_box(tmp_path):
    releases, updater, sup = _box(tmp_path, SystemctlSupervisor)
    yield releases, updater, sup, tmp_path
    sup.stop()


@pytest.mark.parametrize(
    ("mode", "error"), [("crash", "CalledProcessError"), ("hang", "TimeoutExpired")]
)
def test_a_restart_that_fails_after_the_request_was_taken_is_an_outcome(
    systemctl_box, backend, mode, error
):
    releases, updater, sup, tmp = systemctl_box
    update = tmp / "update"
    update.mkdir()
    archive = update / "allhours-2.0.tar.gz"
    request = backend.drop(update, archive, "2.0", _release_archive(tmp, "2.0", archive, mode))

    assert run_request(request, releases, updater, tmp / "trust.json") == 1

    assert not request.exists()
    outcome = json.loads((update / "outcome.json").read_text())
    assert not outcome["ok"] and outcome["rolled_back"] and outcome["running"] == "1.0"
    assert f"2.0 unhealthy (restarting the kiosk failed: {error}: " in outcome["detail"]
    assert outcome["detail"].endswith("rolled back to 1.0") and outcome["operation_id"] == "r-9"
    assert releases.current() == "1.0" and releases.state()["phase"] == "done"
    assert "restarting the kiosk failed" in releases.failed()["2.0"]
    assert read_report(sup.data_dir)["software_version"] == "1.0" and sup.alive() is None


def test_a_restart_that_fails_on_the_way_back_too_is_an_outcome(systemctl_box):
    releases, updater, sup, tmp = systemctl_box
    releases.install_tree(release_tree(tmp, "2.0"), "2.0")
    sup.broken = True  # systemctl fails whatever it restarts

    out = updater.update("2.0")

    assert not out.ok and out.rolled_back and out.running == "1.0"
    assert "1.0 is not healthy either: restarting the kiosk failed: CalledProcessError" in (
        out.detail
    )
    assert releases.current() == "1.0" and releases.state()["phase"] == "failed"
    assert updater.recover() is None
