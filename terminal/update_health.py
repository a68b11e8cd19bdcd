"""The kiosk's health report, and the probe that judges it after a change.

The running kiosk writes `health.json` in its data directory every few seconds: its software
and configuration versions, its process id and start time, and the result of each check (the
database opens, the screens are built, the devices answer...). A software update or a
configuration bundle is kept only when a report from the new version, written by a process
started after the change, says every check passed; otherwise the change is undone.

The report is a file, not a port: the kiosk runs sandboxed (ProtectSystem=strict, no listening
socket), and the updater runs as another user. Writes are atomic (temporary file, fsync,
rename), so the probe never reads half a report.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HEALTH_FILE = "health.json"
# A report older than this says the kiosk stopped reporting (hung, or gone).
FRESH_S = 30.0

Check = Callable[[], str | None]  # None: fine; a string: what is wrong


def running_version() -> str:
    """This code's version: its release directory under releases/, else the package's."""
    prefix = Path(sys.prefix).resolve()  # /opt/allhours/releases/0.2.0/.venv
    if prefix.parent.parent.name == "releases":
        return prefix.parent.name
    try:
        return metadata.version("allhours")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def write_report(path: Path, report: dict) -> None:
    """Replace the report atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class HealthReporter:
    """Runs the checks and writes the report every `period_s` on a daemon thread."""

    def __init__(
        self,
        data_dir: Path,
        software_version: str,
        checks: dict[str, Check],
        config_version: Callable[[], str] = lambda: "",
        period_s: float = 5.0,
    ):
        self.path = Path(data_dir) / HEALTH_FILE
        self.software_version = software_version
        self.checks = checks
        self.config_version = config_version
        self.period_s = period_s
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self) -> dict:
        problems = {}
        for name, check in self.checks.items():
            try:
                problem = check()
            except Exception as exc:  # a check that raises is a failed check
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems[name] = str(problem)[:300]
        return {
            "software_version": self.software_version,
            "config_version": self.config_version(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "at": time.time(),
            "ok": not problems,
            "problems": problems,
        }

    def write(self) -> dict:
        report = self.report()
        write_report(self.path, report)
        return report

    def start(self) -> HealthReporter:
        self.write()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            # A full disk must not kill the kiosk; the probe then sees a stale report.
            with contextlib.suppress(OSError):
                self.write()


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    detail: str


def read_report(data_dir: Path) -> dict | None:
    try:
        return json.loads((Path(data_dir) / HEALTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def judge(
    report: dict | None,
    *,
    since: float,
    software_version: str | None = None,
    config_version: str | None = None,
    now: float | None = None,
) -> Verdict:
    """Whether `report` shows a healthy kiosk of the expected versions started after `since`."""
    now = time.time() if now is None else now
    if report is None:
        return Verdict(False, "no health report")
    if software_version is not None and report.get("software_version") != software_version:
        return Verdict(False, f"running software {report.get('software_version')!r}")
    if config_version is not None and report.get("config_version") != config_version:
        return Verdict(False, f"running configuration {report.get('config_version')!r}")
    if float(report.get("started_at", 0)) < since:
        return Verdict(False, "no report yet from a kiosk started after the change")
    if now - float(report.get("at", 0)) > FRESH_S:
        return Verdict(False, f"last report {now - float(report.get('at', 0)):.0f} s old")
    if not report.get("ok"):
        problems = report.get("problems") or {}
        return Verdict(False, "; ".join(f"{k}: {v}" for k, v in problems.items()) or "not ok")
    return Verdict(True, "healthy")


def wait_healthy(
    data_dir: Path,
    *,
    since: float,
    timeout_s: float,
    software_version: str | None = None,
    config_version: str | None = None,
    alive: Callable[[], str | None] = lambda: None,
    poll_s: float = 0.5,
) -> Verdict:
    """Poll the report until it is healthy, says a check failed, or `timeout_s` passes.

    A report of the new kiosk with a failed check ends the wait at once (its checks have run
    and said no); `alive` may end it too (the service manager says the process died).
    """
    deadline = time.monotonic() + timeout_s
    verdict = Verdict(False, "no health report")
    while True:
        report = read_report(data_dir)
        verdict = judge(
            report, since=since, software_version=software_version, config_version=config_version
        )
        if verdict.healthy:
            return verdict
        if (
            report is not None
            and float(report.get("started_at", 0)) >= since
            and not report.get("ok")
        ):
            return verdict
        dead = alive()
        if dead:
            return Verdict(False, dead)
        if time.monotonic() >= deadline:
            return Verdict(False, f"not healthy within {timeout_s:.0f} s: {verdict.detail}")
        time.sleep(poll_s)
