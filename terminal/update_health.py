"""The kiosk's health report, and the probe that judges it after a change.

The running kiosk writes `health.json` in its data directory every few seconds: its software
and configuration versions, its process id and start time, and the result of each check (the
database opens, the screens are built, the devices answer...). A software update or a
configuration bundle is kept only when a report from the new version, written by a process
started after the change, says every check passed; otherwise the change is undone.

The report is a file, not a port: the kiosk runs sandboxed (ProtectSystem=strict, no listening
socket), and the updater runs as another user. Writes are atomic (temporary file, fsync,
rename), so the probe never reads half a report.

The updater reads the report as root, and the kiosk's user writes it: a report that is not the
documented shape (below), or a file that is not a small regular JSON file, is unreadable. An
unreadable report is never healthy; it ends the wait at once only when it is shown to come from
a process started after the change (its `started_at` a number after it); otherwise it counts as no
report yet and the deadline undoes the change. Either way the reason says it was unreadable.

    {"software_version": str, "config_version": str, "pid": int, "started_at": float,
     "at": float, "ok": bool, "problems": {check: str}}

(`config_version`, `pid` and `problems` may be absent; if present they must be of that type.)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
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
# A report is a few hundred bytes; a larger file is not read (the kiosk's user writes it).
MAX_REPORT_BYTES = 64 * 1024
UNREADABLE = "unreadable health report"

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


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


def _string(value: object) -> bool:
    return isinstance(value, str)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(value: object) -> bool:
    return isinstance(value, bool)


def _problems(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


# The documented shape: each field, its test, what it must be, and whether it may be absent
# (the judgement needs the versions, the times and `ok`; the rest is checked when present).
SHAPE: tuple[tuple[str, Callable[[object], bool], str, bool], ...] = (
    ("software_version", _string, "a string", True),
    ("config_version", _string, "a string", False),
    ("pid", _integer, "an integer", False),
    ("started_at", _finite, "a number", True),
    ("at", _finite, "a number", True),
    ("ok", _flag, "true or false", True),
    ("problems", _problems, "an object of strings", False),
)


def shape_problem(report: object) -> str | None:
    """What keeps `report` from being a report of the documented shape; None if it is one."""
    if not isinstance(report, dict):
        return "not a JSON object"
    for key, test, expected, required in SHAPE:
        if key not in report:
            if required:
                return f"{key} missing"
        elif not test(report[key]):
            return f"{key} is not {expected}"
    return None


def read_small_json(
    path: Path, max_bytes: int = MAX_REPORT_BYTES, *, dir_fd: int | None = None
) -> tuple[object, str | None]:
    """A small JSON file another user writes, read as root reads it: (what it holds, None),
    (None, None) when there is none, or (None, why not). The health report and the updater's
    request (allhours/commands/update.py, `path` then a name in the directory `dir_fd` holds)
    are both read so."""
    try:
        # Not following a link nor blocking on a FIFO: the kiosk's user owns the directory.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot open it ({exc.strerror})"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, a FIFO, a device
            os.close(fd)
            return None, "not a regular file"
        with os.fdopen(fd, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror})"
    if len(data) > max_bytes:
        return None, f"larger than {max_bytes} bytes"
    try:
        return json.loads(data.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except RecursionError:
        return None, "JSON nested too deep"
    except ValueError as exc:
        return None, f"not JSON ({exc})"[:200]


def read_report(data_dir: Path) -> dict | None:
    """The report in `data_dir`; None if there is none or it is unreadable."""
    report, _ = read_small_json(Path(data_dir) / HEALTH_FILE)
    return report if isinstance(report, dict) and shape_problem(report) is None else None


def judge(
    report: object,
    *,
    since: float,
    software_version: str | None = None,
    config_version: str | None = None,
    now: float | None = None,
) -> Verdict:
    """Whether `report` shows a healthy kiosk of the expected versions started after `since`.

    `report` is what the kiosk's user wrote: anything not of the documented shape is unhealthy.
    """
    now = time.time() if now is None else now
    if report is None:
        return Verdict(False, "no health report")
    problem = shape_problem(report)
    if problem is not None:
        return Verdict(False, f"{UNREADABLE}: {problem}")
    if software_version is not None and report["software_version"] != software_version:
        return Verdict(False, f"running software {report['software_version']!r}")
    if config_version is not None and report.get("config_version") != config_version:
        return Verdict(False, f"running configuration {report.get('config_version')!r}")
    if report["started_at"] < since:
        return Verdict(False, "no report yet from a kiosk started after the change")
    if now - report["at"] > FRESH_S:
        return Verdict(False, f"last report {now - report['at']:.0f} s old")
    if not report["ok"]:
        problems = report.get("problems") or {}
        return Verdict(False, "; ".join(f"{k}: {v}" for k, v in problems.items()) or "not ok")
    return Verdict(True, "healthy")


def _started_after(report: object, since: float) -> bool:
    """Whether `report`, readable or not, names a start time after `since`."""
    if not isinstance(report, dict):
        return False
    started = report.get("started_at")
    return _finite(started) and float(started) >= since


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
    and said no), and so does an unreadable one whose `started_at` shows it is the new kiosk's;
    an unreadable report of unknown origin counts as none yet. `alive` may end the wait too
    (the service manager says the process died).
    """
    deadline = time.monotonic() + timeout_s
    verdict = Verdict(False, "no health report")
    while True:
        report, unreadable = read_small_json(Path(data_dir) / HEALTH_FILE)
        if unreadable is not None:
            verdict = Verdict(False, f"{UNREADABLE}: {unreadable}")
        else:
            verdict = judge(
                report,
                since=since,
                software_version=software_version,
                config_version=config_version,
            )
        if verdict.healthy:
            return verdict
        # From the new kiosk (started after the change): failed, or unreadable, for good.
        if _started_after(report, since) and (
            shape_problem(report) is not None or not report["ok"]
        ):
            return verdict
        dead = alive()
        if dead:
            return Verdict(False, dead)
        if time.monotonic() >= deadline:
            return Verdict(False, f"not healthy within {timeout_s:.0f} s: {verdict.detail}")
        time.sleep(poll_s)
