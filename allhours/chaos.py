"""Chaos on one machine: citizens submit at a scripted terminal while the broker, each backend
worker and the terminal are killed (SIGKILL) and restarted at random moments.

Real processes throughout: a private Mosquitto, `python -m backend` workers sharing the ingest
on one database, and `allhours terminal --headless` (an emulated terminal enrolled over HTTPS,
a script standing in for the citizens). A terminal killed mid-story is started again with the
stories it has not begun yet; the last run waits for its outbox to empty.

Afterwards `check()` compares both sides: every application the terminal recorded is stored
at the backend exactly once, with each of its materials and every material's file verified;
each had exactly one "submitted" SMS queued; the terminal's outbox is empty and neither side
refused or dead-lettered anything. `tests/chaos` runs a bounded round in `make test`;
`make chaos` runs `benchmarks/chaos.py`, a longer one, and prints stories per minute and
kills survived.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from backend.enrollment import enrollment_server
from backend.service import BackendService
from provisioning.authority import SiteAuthority
from provisioning.enroll_client import enroll

from .broker import PrivateMosquitto, free_port

REPO = Path(__file__).resolve().parent.parent
TERMINAL = "T0001"
ITEMS = ("SB-0203", "HJ-0101")  # a scan-only item, and one with originals in a compartment
# The reasons the backend gives a status superseded by a later connection's (backend/presence.py).
_SUPERSEDED = re.compile(
    r"^status of connection \d+ after connection \d+$|^connection \d+ already ended$"
)
CITIZEN = """phone = "13800138000"
document = {{ type = "cn_resident_id", name = "张三", number = "11010519491231002X" }}
face = {{ distance = 0.38, liveness = true }}
item = "{item}"
"""


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"chaos: {what} not reached in {timeout:.0f} s")
        time.sleep(0.2)


@dataclass
class ChaosReport:
    stories: int
    seconds: float = 0.0
    kills: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    applications: int = 0

    @property
    def stories_per_minute(self) -> float:
        return self.applications / self.seconds * 60 if self.seconds else 0.0


class _Process:
    """A child process of the repository's Python with its own log file."""

    def __init__(self, name: str, args: list[str], log_path: Path):
        self.name, self.args, self.log_path = name, args, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLHOURS_")}
        env["PYTHONPATH"] = str(REPO)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args], cwd=REPO, env=env, stdout=log, stderr=log
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class ChaosSite:
    """The broker, `workers` backend workers on one SQLite database, one scripted terminal."""

    def __init__(self, workdir: Path, workers: int = 2):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = f"sqlite:///{self.workdir / 'backend.db'}"
        self.authority = SiteAuthority.create(self.workdir / "site-ca")
        self.broker = PrivateMosquitto(self.workdir / "broker", self.authority)
        self.workers = [self._worker(n) for n in range(1, workers + 1)]
        self.data_dir = self.workdir / TERMINAL
        self.terminal: _Process | None = None
        self._runs = 0

    def _worker(self, n: int) -> _Process:
        process = _Process(f"worker-{n}", [], self.workdir / f"worker-{n}.log")
        process.n = n  # type: ignore[attr-defined]
        return process

    def _ports(self, worker: _Process) -> int:
        """Fresh ports for a worker's start (another program may have taken the last ones)."""
        port = free_port()
        args = ["-m", "backend", "--database-url", self.db_url]
        args += ["--blob-dir", str(self.workdir / "blobs"), "--broker-port", str(self.broker.port)]
        args += ["--http-port", str(port), "--enroll-port", str(free_port())]
        args += ["--ca-dir", str(self.authority.dir), "--worker-id", f"chaos-{worker.n}"]  # type: ignore[attr-defined]
        worker.args = args
        return port

    def start(self) -> ChaosSite:
        self.broker.start()
        # The terminal enrolls as a real one does, its bundle naming this broker.
        registrar = BackendService(self.db_url, self.workdir / "blobs", broker_port=None)
        server = enrollment_server(
            registrar,
            self.authority,
            broker_host=self.broker.host,
            broker_port=self.broker.port,
            host="127.0.0.1",
            port=free_port(),
        ).start()
        try:
            token = self.authority.issue_token(TERMINAL, created_by="chaos")
            enroll(server.url, str(token), self.data_dir)
        finally:
            server.stop()
            registrar.stop()
        (self.workdir / "terminal.toml").write_text(
            f'data_dir = "{self.data_dir}"\nemulate = true\n', encoding="utf-8"
        )
        for worker in self.workers:
            self.start_worker(worker)
        return self

    def start_worker(self, worker: _Process, attempts: int = 3) -> None:
        """Start a worker and wait until it is subscribed; a start that dies is tried again."""
        for attempt in range(1, attempts + 1):
            port = self._ports(worker)
            worker.start()

            def connected(port: int = port) -> bool:
                if not worker.running():
                    raise ChildProcessError(f"{worker.name} exited")
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                except httpx.TransportError:
                    return False
                return r.json().get("mqtt") == "connected"

            try:
                _wait(connected, 60, f"{worker.name} subscribed")
                return
            except ChildProcessError:
                tail = worker.log_path.read_text(errors="replace").splitlines()[-5:]
                if attempt == attempts:
                    raise RuntimeError(f"{worker.name} exited: {' | '.join(tail)}") from None
                time.sleep(1.0)

    def start_terminal(self, stories: int) -> None:
        """A terminal run: `stories` citizens (0: none), then wait for the outbox to empty."""
        self._runs += 1
        steps = [
            f'[[step]]\ndo = "submit"\n{CITIZEN.format(item=ITEMS[i % len(ITEMS)])}'
            for i in range(stories)
        ]
        steps.append('[[step]]\ndo = "wait_sent"\nwait_s = 180\n')
        script = self.workdir / f"script-{self._runs}.toml"
        script.write_text("\n".join(steps), encoding="utf-8")
        args = ["-m", "allhours.cli", "terminal", "--headless"]
        args += ["--settings", str(self.workdir / "terminal.toml"), "--script", str(script)]
        self.terminal = _Process("terminal", args, self.workdir / f"terminal-{self._runs}.log")
        self.terminal.start()

    def terminal_rows(self, sql: str) -> list[tuple]:
        """Read the terminal's local database (read-only; the terminal may be running)."""
        path = self.data_dir / "terminal.sqlite"
        if not path.exists():
            return []
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
                return conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # the terminal is still making its database
            raise

    def outbox_backlog(self) -> int:
        rows = self.terminal_rows("SELECT count(*) FROM outbox")
        return rows[0][0] if rows else 0

    def recorded(self) -> int:
        return len(self.terminal_rows("SELECT application_no FROM local_applications"))

    def stop(self) -> None:
        if self.terminal is not None:
            self.terminal.kill()
        for worker in self.workers:
            worker.stop()
        self.broker.stop()
        self.broker.remove_data()

    # ------------------------------------------------------------ the checks

    def check(self) -> list[str]:
        """Everything that does not hold, in words; empty when the run lost nothing."""
        problems = []
        local = {
            no: materials
            for no, materials in self.terminal_rows(
                "SELECT application_no, materials FROM local_applications"
            )
        }
        backlog = self.outbox_backlog()
        if backlog:
            problems.append(f"terminal outbox still holds {backlog} entries")
        refused = self.terminal_rows("SELECT message_id, reason FROM dead_letters")
        if refused:
            problems.append(f"backend refused {len(refused)} terminal entries: {refused[:3]}")
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                stored = dict(
                    conn.execute(
                        text(
                            "SELECT a.application_no, count(m.id) FROM applications a"
                            " LEFT JOIN materials m ON m.application_no = a.application_no"
                            " GROUP BY a.application_no"
                        )
                    ).all()
                )
                unverified = conn.execute(
                    text(
                        "SELECT count(*) FROM materials m LEFT JOIN blobs b ON b.sha256 = m.sha256"
                        " WHERE NOT m.verified OR b.complete IS NOT 1"
                    )
                ).scalar_one()
                sms = Counter(
                    dict(
                        conn.execute(
                            text(
                                "SELECT application_no, count(*) FROM notifications"
                                " WHERE kind = 'submitted' GROUP BY application_no"
                            )
                        ).all()
                    )
                )
                rejected = conn.execute(
                    text("SELECT topic, reason FROM rejected_messages ORDER BY id")
                ).all()
                dead = conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
        finally:
            engine.dispose()
        missing = sorted(set(local) - set(stored))
        if missing:
            problems.append(f"{len(missing)} applications recorded at the terminal never stored")
        unknown = sorted(set(stored) - set(local))
        if unknown:
            problems.append(f"{len(unknown)} applications stored that the terminal never recorded")
        short = [no for no in local if no in stored and stored[no] != local[no]]
        if short:
            problems.append(f"{len(short)} applications stored without all their materials")
        if unverified:
            problems.append(f"{unverified} materials whose file never arrived whole")
        wrong_sms = {no: sms.get(no, 0) for no in stored if sms.get(no, 0) != 1}
        if wrong_sms:
            problems.append(
                f"'submitted' SMS not exactly once: {dict(list(wrong_sms.items())[:5])}"
            )
        # A status superseded by a later connection's is refused by design (docs/protocol.md,
        # status): a will the broker publishes late, or a heartbeat behind its own will, are
        # what killing the broker and the terminal produce. Anything else refused is a loss.
        rejected = [
            (topic, reason)
            for topic, reason in rejected
            if not (topic.endswith("/status") and _SUPERSEDED.search(reason))
        ]
        if rejected or dead:
            named = "; ".join(f"{topic}: {reason}" for topic, reason in rejected[:5])
            problems.append(
                f"backend rejected {len(rejected)} and dead-lettered {dead} messages ({named})"
            )
        return problems


def run_chaos(
    workdir: Path,
    stories: int,
    kills: int,
    *,
    workers: int = 2,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> ChaosReport:
    """Play `stories` stories at one terminal while killing `kills` times; then check."""
    rng = random.Random(seed)
    report = ChaosReport(stories=stories)
    site = ChaosSite(workdir, workers)
    start = time.monotonic()
    try:
        site.start()
        site.start_terminal(stories)
        # Kills land among the stories, not while the terminal is still starting.
        _wait(lambda: site.recorded() >= 1, 180, "the first story")
        targets = ["broker", "terminal", *(w.name for w in site.workers)]
        for n in range(kills):
            time.sleep(rng.uniform(1.0, 4.0))
            victim = targets[n] if n < len(targets) else rng.choice(targets)
            say(f"chaos: kill -9 {victim} ({site.recorded()} of {stories} stories recorded)")
            if victim == "broker":
                site.broker.stop(kill=True)
                time.sleep(rng.uniform(0.5, 2.0))
                site.broker.start()
            elif victim == "terminal":
                assert site.terminal is not None
                site.terminal.kill()
                time.sleep(rng.uniform(0.5, 2.0))
                site.start_terminal(max(0, stories - site.recorded()))
            else:
                worker = next(w for w in site.workers if w.name == victim)
                worker.kill()
                time.sleep(rng.uniform(0.5, 2.0))
                site.start_worker(worker)
            report.kills[victim] += 1
        # The last terminal run ends once its outbox is empty (or gives up after its wait).
        assert site.terminal is not None
        _wait(lambda: not site.terminal.running(), 600, "the terminal's last run to end")
        if site.outbox_backlog():
            site.start_terminal(0)  # once more, only to drain
            _wait(lambda: not site.terminal.running(), 300, "the drain-only run to end")
        report.seconds = time.monotonic() - start
        report.problems = site.check()
        report.applications = site.recorded()
        if report.applications < stories:
            report.problems.append(
                f"only {report.applications} of {stories} stories were recorded at the terminal"
            )
    finally:
        site.stop()
    return report
