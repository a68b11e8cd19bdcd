"""Chaos on one machine: whole stories at several terminals on two brokers while the brokers,
each backend worker and the terminals are killed (SIGKILL) and restarted at random moments.

Real processes and wire protocols throughout:

- two private Mosquittos, `east` and `west`, under one site CA; the registry assigns each
  terminal to one of them (`issue_token(..., broker=)`), and its enrollment bundle, made by the
  real HTTPS endpoint from the backend's named brokers, carries that broker's address;
- `python -m backend` workers sharing the ingest on one database, each consuming from both
  brokers (`--broker NAME=HOST:PORT`), sending SMS through Alibaba Cloud's API emulated on
  loopback (`AliyunSmsEmulator`, here in the chaos process, counting every SendSms call);
- `allhours terminal --headless` per terminal, whose locker is an RS-485 lock-control board
  emulated on a pty in the chaos process (`Rs485BoardEmulator`): the board outlives the
  terminal's kills and counts every lock pulse per door.

Every citizen's story runs in full, a round of stories per terminal at a time: the terminal
submits (scans, and paper originals into a compartment for the item that takes them); staff
accept, review, approve and ask for the result to be loaded through the REST API (idempotency
keys, so a call cut by a killed worker is simply made again); a clerk signs in at the terminal
with a one-time code from the API and loads the result; the SMS with the pickup code arrives at
the emulator; the citizen types it with the phone's last four digits and the compartment opens.
A round is one terminal run whose script reads the clerk's and the citizens' codes from standard
input, typed by the chaos process once the API and the SMS emulator give them; a run cut by a
kill is followed by one that does what is left.

Afterwards `ChaosSite.check()` compares all sides: every application a terminal recorded is
stored once with every material's file verified; every SMS the backend made was sent exactly
once (counted at the emulator by OutId, and by template and application); each pickup opened
its compartment exactly once (counted at the board emulator); every story was picked up; the
terminals' outboxes are empty and nothing was refused or dead-lettered. `tests/chaos` runs a
bounded round in `make test`; `make chaos` runs `benchmarks/chaos.py`, a longer one against a
calm run, and prints stories per minute and kills survived.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from backend.auth.accounts import Accounts
from backend.enrollment import enrollment_server
from backend.notifications.aliyun_emulator import AliyunSmsEmulator, ReceivedSms
from backend.service import BackendService
from devices.lock.door import PhysicalDoor
from devices.lock.rs485_emulator import Rs485BoardEmulator
from provisioning.authority import SiteAuthority
from provisioning.enroll_client import enroll

from .broker import PrivateMosquitto, free_port

REPO = Path(__file__).resolve().parent.parent
BROKERS = ("east", "west")
ITEMS = ("SB-0203", "HJ-0101")  # a scan-only item, and one with originals in a compartment
# Compartments per terminal: A01-A16 small, A17-A22 medium, A23-A24 large. Originals stay in
# theirs (nobody collects them here), so a long run needs room for them and a round's results.
CHANNELS = 24
ROUND = 3  # stories a terminal plays before staff load and citizens pick up
STAFF, PASSWORD = "chaos.clerk", "Chaos-Night-Shift-2026"
# The reasons the backend gives a status superseded by a later connection's (backend/presence.py).
_SUPERSEDED = re.compile(
    r"^status of connection \d+ after connection \d+$|^connection \d+ already ended$"
)
_APPLICATION_NO = re.compile(r"AH-[A-Za-z0-9_-]+-\d{8}-\d{4}")
CITIZEN = """phone = "{phone}"
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
    applications: int = 0  # recorded at the terminals
    picked_up: int = 0  # at the backend
    sms: int = 0  # accepted by the SMS emulator
    pickup_openings: int = 0  # lock pulses the boards counted during pickups

    @property
    def stories_per_minute(self) -> float:
        """Whole stories (submitted ... picked up) per minute of the run."""
        return self.picked_up / self.seconds * 60 if self.seconds else 0.0


class _Process:
    """A child process of the repository's Python with its own log file."""

    def __init__(
        self, name: str, args: list[str], log_path: Path, env: dict[str, str] | None = None
    ):
        self.name, self.args, self.log_path = name, args, log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0  # a worker's HTTP port in its current run

    def start(self, stdin: bool = False) -> None:
        """Start it; `stdin`: with a pipe to its standard input (else none)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLHOURS_")}
        env["PYTHONPATH"] = str(REPO)
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def send(self, line: str) -> bool:
        """Write one line to its standard input; False once it is gone."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return False
        try:
            proc.stdin.write(f"{line}\n".encode())
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def close_stdin(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> bool:
        """SIGKILL; False when it was not running."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return True

    def stop(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class CountingSmsEmulator(AliyunSmsEmulator):
    """The Alibaba Cloud SMS emulator, also keeping every SendSms call (accepted or not)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[tuple[str, str, str]] = []  # (OutId, TemplateCode, phone)

    def _send(self, p: dict[str, str]) -> dict[str, Any]:
        # Called with the emulator's lock held (answer()).
        self.attempts.append(
            (p.get("OutId", ""), p.get("TemplateCode", ""), p.get("PhoneNumbers", ""))
        )
        return super()._send(p)


@dataclass
class Story:
    """One citizen at one terminal: submits, is approved, gets a code by SMS, picks up."""

    terminal_id: str
    n: int  # the story's place at its terminal
    item: str

    @property
    def phone(self) -> str:
        return f"139{int(self.terminal_id[1:]) % 100:02d}{self.n:06d}"

    def submit_step(self) -> str:
        return f'[[step]]\ndo = "submit"\n{CITIZEN.format(phone=self.phone, item=self.item)}'


class ChaosTerminal:
    """A terminal: its data directory, its RS-485 board emulator and its runs."""

    def __init__(self, site: ChaosSite, terminal_id: str, broker: str):
        self.site, self.terminal_id, self.broker = site, terminal_id, broker
        self.data_dir = site.workdir / terminal_id
        self.doors = [PhysicalDoor(close_after_s=0.5) for _ in range(CHANNELS)]
        self.board = Rs485BoardEmulator({1: self.doors}, baudrate=115200, pace=False)
        self.process: _Process | None = None
        self.stories: list[Story] = []
        self.runs = 0
        self.lock = threading.Lock()  # between the story thread (starts) and the killer
        self.problems: list[str] = []
        self.pickup_pulses: Counter[str] = Counter()  # compartment -> pulses during pickups

    def start_board(self) -> None:
        self.board.start()
        sizes = ["S"] * 16 + ["M"] * 6 + ["L"] * 2
        lines = [
            "[locker]\nopen_confirm_s = 3.0\n",
            '[[locker.board]]\nid = "cab1"\nkind = "rs485"',
            f'port = "{self.board.port_path}"\naddress = 1\nbaudrate = 115200',
            f"channels = {CHANNELS}\n",
        ]
        for n, size in enumerate(sizes, start=1):
            lines.append(
                f'[[locker.compartment]]\nid = "A{n:02d}"\nsize = "{size}"\nboard = "cab1"\n'
                f'channel = {n}\ndoor = "same"\n'
            )
        (self.site.workdir / f"locker-{self.terminal_id}.toml").write_text("\n".join(lines))

    def pulses(self) -> dict[str, int]:
        return {f"A{n:02d}": door.pulses for n, door in enumerate(self.doors, start=1)}

    # ------------------------------------------------------------ runs

    def run(self, steps: list[str], feed: Callable[[_Process], None] | None = None) -> None:
        """Start a terminal run playing `steps`; wait for it to end (or to be killed).

        `feed(process)`, in a thread of its own, types what the script reads from standard
        input (`code_from = "stdin"`): a clerk's sign-in code, the citizens' pickup codes.
        """
        with self.lock:
            self.runs += 1
            script = self.site.workdir / f"script-{self.terminal_id}-{self.runs}.toml"
            head = f'[terminal]\nlocker = "locker-{self.terminal_id}.toml"\n'
            script.write_text("\n".join([head, *steps]), encoding="utf-8")
            args = ["-m", "allhours.cli", "terminal", "--headless"]
            args += ["--settings", str(self.site.workdir / f"{self.terminal_id}.toml")]
            args += ["--script", str(script)]
            log = self.site.workdir / f"terminal-{self.terminal_id}-{self.runs}.log"
            process = self.process = _Process(self.terminal_id, args, log)
            process.start(stdin=feed is not None)
        feeder = None
        if feed is not None:

            def typing() -> None:
                try:
                    feed(process)
                except Exception as exc:  # told, and the run ends at its next read
                    self.problems.append(f"{self.terminal_id}: {type(exc).__name__}: {exc}")
                finally:
                    process.close_stdin()

            feeder = threading.Thread(target=typing, name=f"feed-{self.terminal_id}", daemon=True)
            feeder.start()
        deadline = time.monotonic() + 600
        while process.running():
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"{self.terminal_id}: a run outlasted 600 s ({log})")
            time.sleep(0.2)
        if feeder is not None:
            feeder.join(30)

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def kill(self) -> bool:
        with self.lock:
            return self.process is not None and self.process.kill()

    def phase(
        self,
        what: str,
        plan: Callable[[], tuple[list[str], Callable[[_Process], None] | None]],
        done: Callable[[], bool],
        tries: int = 12,
    ) -> bool:
        """Run the terminal with the steps `plan()` says are left (and what to type for them)
        until `done()`."""
        for _ in range(tries):
            if done():
                return True
            steps, feed = plan()
            self.run([*steps, '[[step]]\ndo = "wait_sent"\nwait_s = 60\n'], feed)
            proc = self.process.proc if self.process else None
            if proc is not None and proc.returncode == 0:
                # A run that did everything: what it caused (an SMS, a status) follows within
                # seconds, and another run would only wait for work it has already done.
                with contextlib.suppress(TimeoutError):
                    _wait(done, 8, what)
        if done():
            return True
        self.problems.append(f"{self.terminal_id}: {what} not done after {tries} runs")
        return False

    def rows(self, sql: str) -> list[tuple]:
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

    def recorded(self) -> int:
        return len(self.rows("SELECT application_no FROM local_applications"))

    def backlog(self) -> int:
        rows = self.rows("SELECT count(*) FROM outbox")
        return rows[0][0] if rows else 0

    # ------------------------------------------------------------ one terminal's stories

    def play(self) -> None:
        """Every story of this terminal, a round at a time; problems are kept, not raised."""
        try:
            for start in range(0, len(self.stories), ROUND):
                if not self._round(self.stories[start : start + ROUND], start):
                    return
        except Exception as exc:  # a story thread must report, not vanish
            self.problems.append(f"{self.terminal_id}: {type(exc).__name__}: {exc}")

    def _round(self, stories: list[Story], before: int) -> bool:
        """One terminal run per round, unless kills cut it: the citizens submit; meanwhile
        staff approve through the API, then a clerk types the sign-in code the API gave and
        loads the results; each citizen types the code the SMS brought. A run that is cut is
        followed by one that does what is left."""
        site, target = self.site, before + len(stories)
        phones = [s.phone for s in stories]
        apps: dict[str, str] = {}
        before_pickups: dict[str, int] = {}

        def stored() -> bool:
            apps.update(site.applications([p for p in phones if p not in apps]))
            return len(apps) == len(phones)

        def loaded() -> bool:
            return len(apps) == len(phones) and all(site.pickup_code(p) for p in phones)

        def picked() -> set[str]:
            statuses = site.statuses(list(apps.values()))
            return {p for p in phones if statuses.get(apps.get(p, "")) == "picked_up"}

        def plan() -> tuple[list[str], Callable[[_Process], None]]:
            steps = [s.submit_step() for s in stories[self.recorded() - before :]]
            steps.append('[[step]]\ndo = "wait_sent"\nwait_s = 60\n')
            load = not loaded()
            if load:
                steps.append('[[step]]\ndo = "staff_load"\ncode_from = "stdin"\nwait_s = 45\n')
            waiting = [p for p in phones if p not in picked()]
            steps += [
                f'[[step]]\ndo = "pickup"\ncode_from = "stdin"\nphone_tail = "{p[-4:]}"\n'
                for p in waiting
            ]

            def feed(process: _Process) -> None:
                def until(predicate: Callable[[], bool], timeout: float) -> bool:
                    with contextlib.suppress(TimeoutError):
                        _wait(lambda: predicate() or not process.running(), timeout, "input")
                    return predicate()

                if load:
                    # Staff work once the applications are stored (the same idempotency keys
                    # however often a kill makes this run again).
                    if not until(stored, 300):
                        return
                    for phone in phones:
                        site.approve_and_ask_load(apps[phone], self.terminal_id)
                    if not process.send(site.terminal_code(self.terminal_id)):
                        return
                if not until(loaded, 120):
                    return
                # The citizens come once the clerk has shut the doors. (A code typed while its
                # door still stands open after loading gets that door pulsed twice: the locker
                # reads "not opened" when the door, opened for the load, falls shut.)
                if not until(lambda: not any(d.is_open for d in self.doors), 30):
                    return
                if not before_pickups:  # every load is done: from here on, pulses are pickups
                    before_pickups.update(self.pulses())
                for phone in waiting:
                    if not process.send(str(site.pickup_code(phone))):
                        return

            return steps, feed

        def done() -> bool:
            return (
                self.recorded() >= target
                and len(apps) == len(phones)
                and not (set(phones) - picked())
            )

        ok = self.phase("the round's stories", plan, done)
        if before_pickups:
            after = self.pulses()
            self.pickup_pulses.update({c: after[c] - before_pickups[c] for c in after})
        return ok


class ChaosSite:
    """Two brokers, `workers` backend workers on one database (SQLite unless `database_url`
    names another, PostgreSQL say), `terminals` terminals."""

    def __init__(
        self, workdir: Path, workers: int = 2, terminals: int = 3, database_url: str | None = None
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = database_url or f"sqlite:///{self.workdir / 'backend.db'}"
        self.authority = SiteAuthority.create(self.workdir / "site-ca")
        self.brokers = {
            name: PrivateMosquitto(self.workdir / f"broker-{name}", self.authority, name=name)
            for name in BROKERS
        }
        self.sms = CountingSmsEmulator()
        self.workers = [
            _Process(f"worker-{n}", [], self.workdir / f"worker-{n}.log")
            for n in range(1, workers + 1)
        ]
        self.terminals = {
            f"T{n:04d}": ChaosTerminal(self, f"T{n:04d}", BROKERS[(n - 1) % len(BROKERS)])
            for n in range(1, terminals + 1)
        }
        self.api = httpx.Client(timeout=15)
        self._codes: dict[str, str] = {}
        self._engine = create_engine(self.db_url)

    def _worker_args(self, worker: _Process) -> None:
        """Fresh ports for a worker's start (another program may have taken the last ones)."""
        east = self.brokers["east"]
        worker.port = free_port()
        args = ["-m", "backend", "--database-url", self.db_url]
        args += ["--blob-dir", str(self.workdir / "blobs")]
        args += ["--broker-host", east.host, "--broker-port", str(east.port)]
        for name, broker in self.brokers.items():
            args += ["--broker", f"{name}={broker.host}:{broker.port}"]
        args += ["--http-port", str(worker.port), "--enroll-port", str(free_port())]
        args += ["--ca-dir", str(self.authority.dir), "--worker-id", f"chaos-{worker.name[7:]}"]
        worker.args = args

    def _worker_environment(self) -> dict[str, str]:
        table = self.sms.table
        templates = self.workdir / "sms-templates.json"
        templates.write_text(
            json.dumps({kind.value: t.template_code for kind, t in table.templates.items()})
        )
        ((key_id, secret),) = self.sms.access_keys.items()
        return {
            # Staff sign in over plain http on loopback here: no TLS, so no Secure cookies
            # (docs/console.md, "Behind a proxy").
            "ALLHOURS_BACKEND_SECURE_COOKIES": "false",
            "ALLHOURS_SMS_PROVIDER": "aliyun",
            "ALLHOURS_ALIYUN_ACCESS_KEY_ID": key_id,
            "ALLHOURS_ALIYUN_ACCESS_KEY_SECRET": secret,
            "ALLHOURS_SMS_SIGN_NAME": table.sign_name,
            "ALLHOURS_SMS_TEMPLATES": str(templates),
            "ALLHOURS_ALIYUN_ENDPOINT": self.sms.endpoint,
        }

    def start(self) -> ChaosSite:
        for broker in self.brokers.values():
            broker.start()
        self.sms.start()
        # Terminals enroll as real ones do; the registry assigns each its broker, and the
        # bundle the endpoint makes carries that broker's address.
        registrar = BackendService(self.db_url, self.workdir / "blobs", broker_port=None)
        east = self.brokers["east"]
        server = enrollment_server(
            registrar,
            self.authority,
            broker_host=east.host,
            broker_port=east.port,
            host="127.0.0.1",
            port=free_port(),
            brokers={name: (b.host, b.port) for name, b in self.brokers.items()},
        ).start()
        try:
            for tid, terminal in self.terminals.items():
                token = self.authority.issue_token(tid, created_by="chaos", broker=terminal.broker)
                enroll(server.url, str(token), terminal.data_dir)
            Accounts(registrar.db).add(
                STAFF, ["clerk", "operator", "admin"], password=PASSWORD, must_change_password=False
            )
        finally:
            server.stop()
            registrar.stop()
        for tid, terminal in self.terminals.items():
            terminal.start_board()
            (self.workdir / f"{tid}.toml").write_text(
                f'data_dir = "{terminal.data_dir}"\nemulate = true\n', encoding="utf-8"
            )
        environment = self._worker_environment()
        for worker in self.workers:
            worker.env = environment
            self.start_worker(worker)
        r = self._call("POST", "/api/session", {"username": STAFF, "password": PASSWORD})
        self.api.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return self

    def start_worker(self, worker: _Process, attempts: int = 3) -> None:
        """Start a worker and wait until it is subscribed; a start that dies is tried again."""
        for attempt in range(1, attempts + 1):
            self._worker_args(worker)
            worker.start()

            def connected(port: int = worker.port) -> bool:
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

    def stop(self) -> None:
        for terminal in self.terminals.values():
            terminal.kill()
            terminal.board.stop()
        for worker in self.workers:
            worker.stop()
        for broker in self.brokers.values():
            broker.stop()
            broker.remove_data()
        self.sms.stop()
        self.api.close()
        self._engine.dispose()

    # ------------------------------------------------------------ staff, through the API

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> httpx.Response:
        """One API call on whichever worker answers; tried again while workers are killed."""
        headers = {"Idempotency-Key": key} if key else {}
        deadline = time.monotonic() + 120
        while True:
            for worker in self.workers:
                if not worker.running():
                    continue
                try:
                    r = self.api.request(
                        method, f"http://127.0.0.1:{worker.port}{path}", json=body, headers=headers
                    )
                except httpx.TransportError:
                    continue
                if r.status_code < 500:
                    if r.status_code >= 400:
                        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:200]}")
                    return r
            if time.monotonic() > deadline:
                raise TimeoutError(f"chaos: {method} {path}: no worker answered in 120 s")
            time.sleep(0.5)

    def approve_and_ask_load(self, application_no: str, terminal_id: str) -> None:
        """Accept, review, approve and ask for the result at the terminal: each once, whatever
        kills cut the calls (the same idempotency key each time)."""
        base = f"/api/applications/{application_no}"
        tag = application_no.replace("AH-", "")
        for step in ("accept", "review", "approve"):
            self._call("POST", f"{base}/{step}", {}, key=f"{tag}-{step}")
        body = {"terminal_id": terminal_id, "size": "S"}
        self._call("POST", f"{base}/load-result", body, key=f"{tag}-load")

    def terminal_code(self, terminal_id: str) -> str:
        """A one-time sign-in code for the clerk at the terminal, from the console's API."""
        r = self._call("POST", "/api/staff/terminal-code", {"terminal_id": terminal_id})
        return str(r.json()["code"])

    # ------------------------------------------------------------ reading the sides

    def _query(self, sql: str, **params: Any) -> list[tuple]:
        """Read the backend's database (the story threads poll it: one pooled engine)."""
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params).all()]

    def applications(self, phones: list[str]) -> dict[str, str]:
        """phone -> application number, for those the backend holds."""
        found = {}
        for phone in phones:
            rows = self._query("SELECT application_no FROM applications WHERE phone = :p", p=phone)
            if rows:
                found[phone] = rows[0][0]
        return found

    def sms_settled(self) -> bool:
        """No SMS is queued or being sent."""
        rows = self._query(
            "SELECT count(*) FROM notifications WHERE state IN ('queued', 'sending')"
        )
        return rows[0][0] == 0

    def statuses(self, numbers: list[str]) -> dict[str, str]:
        rows = self._query("SELECT application_no, status FROM applications")
        wanted = set(numbers)
        return {no: status for no, status in rows if no in wanted}

    def pickup_code(self, phone: str) -> str | None:
        """The code in the pickup-code SMS this phone received, if it has one."""
        if phone in self._codes:
            return self._codes[phone]
        template = self.sms.table.templates
        code_template = next(t.template_code for k, t in template.items() if k == "pickup_code")
        for sms in self.sms.inbox(phone):
            found = re.search(r"取件码(\d{6})", sms.text)
            if sms.template_code == code_template and found:
                self._codes[phone] = found[1]
                return found[1]
        return None

    # ------------------------------------------------------------ the checks

    def check(self) -> list[str]:
        """Everything that does not hold, in words; empty when the run lost nothing."""
        problems: list[str] = []
        local: dict[str, int] = {}
        for terminal in self.terminals.values():
            problems += terminal.problems
            local.update(
                dict(terminal.rows("SELECT application_no, materials FROM local_applications"))
            )
            if terminal.backlog():
                problems.append(f"{terminal.terminal_id}: outbox still holds entries")
            refused = terminal.rows("SELECT message_id, reason FROM dead_letters")
            if refused:
                problems.append(
                    f"{terminal.terminal_id}: backend refused {len(refused)}: {refused[:3]}"
                )
        stored = dict(
            self._query(
                "SELECT a.application_no, count(m.id) FROM applications a"
                " LEFT JOIN materials m ON m.application_no = a.application_no"
                " GROUP BY a.application_no"
            )
        )
        (unverified,) = self._query(
            "SELECT count(*) FROM materials m LEFT JOIN blobs b ON b.sha256 = m.sha256"
            " WHERE NOT m.verified OR b.complete IS NOT TRUE"
        )[0]
        missing = sorted(set(local) - set(stored))
        if missing:
            problems.append(f"{len(missing)} applications recorded at a terminal never stored")
        unknown = sorted(set(stored) - set(local))
        if unknown:
            problems.append(f"{len(unknown)} applications stored that no terminal recorded")
        short = [no for no in local if no in stored and stored[no] != local[no]]
        if short:
            problems.append(f"{len(short)} applications stored without all their materials")
        if unverified:
            problems.append(f"{unverified} materials whose file never arrived whole")
        problems += self._check_sms(set(stored))
        problems += self._check_openings()
        rejected = [
            (topic, reason)
            for topic, reason in self._query("SELECT topic, reason FROM rejected_messages")
            # A status superseded by a later connection's is refused by design (docs/protocol.md,
            # status): what killing a broker or a terminal produces. Anything else is a loss.
            if not (topic.endswith("/status") and _SUPERSEDED.search(reason))
        ]
        (dead,) = self._query("SELECT count(*) FROM dead_letters")[0]
        if rejected or dead:
            named = "; ".join(f"{topic}: {reason}" for topic, reason in rejected[:5])
            problems.append(
                f"backend rejected {len(rejected)} and dead-lettered {dead} messages ({named})"
            )
        return problems

    def _check_sms(self, stored: set[str]) -> list[str]:
        rows = self._query("SELECT out_id, kind, application_no, state FROM notifications")
        codes = {k.value: t.template_code for k, t in self.sms.table.templates.items()}
        return sms_problems(rows, self.sms.received, self.sms.attempts, codes, stored)

    def _check_openings(self) -> list[str]:
        loads = self._query(
            "SELECT terminal_id, compartment_id FROM load_operations WHERE status = 'picked_up'"
        )
        pulses = {tid: t.pickup_pulses for tid, t in self.terminals.items()}
        return opening_problems(loads, pulses)


def sms_problems(
    notifications: list[tuple],
    received: list[ReceivedSms],
    attempts: list[tuple[str, str, str]],
    codes: dict[str, str],
    stored: set[str],
) -> list[str]:
    """Every SMS the backend made (`notifications`: out id, kind, application, state) was
    handed to the provider once and accepted once; no phone got one template for one
    application twice; each stored application had its submitted, pickup-code and picked-up
    SMS. `received` and `attempts` are the emulator's, `codes` kind -> template code."""
    problems = []
    accepted = Counter(sms.out_id for sms in received)
    tried = Counter(out_id for out_id, _code, _phone in attempts)
    twice = sorted(out_id for out_id, n in tried.items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} SMS were handed to the provider more than once: {twice[:5]}")
    unsent = [
        (kind, no, state) for out_id, kind, no, state in notifications if accepted[out_id] != 1
    ]
    if unsent:
        problems.append(f"{len(unsent)} SMS not sent exactly once: {unsent[:5]}")
    per_template: Counter[tuple[str, str]] = Counter()
    for sms in received:
        found = _APPLICATION_NO.search(sms.text)
        if found:
            per_template[(sms.template_code, found[0])] += 1
    doubled = [key for key, n in per_template.items() if n > 1]
    if doubled:
        problems.append(f"the same SMS reached a phone twice: {doubled[:5]}")
    for kind in ("submitted", "pickup_code", "picked_up"):
        lacking = sorted(no for no in stored if per_template[(codes[kind], no)] != 1)
        if lacking:
            problems.append(f"{len(lacking)} applications without one '{kind}' SMS: {lacking[:3]}")
    return problems


def opening_problems(picked: list[tuple], pulses: dict[str, Counter[str]]) -> list[str]:
    """Each pickup pulsed its compartment's lock once: `picked` are the backend's picked-up
    loads (terminal, compartment), `pulses` each terminal's lock pulses during its pickups,
    counted at the board emulator."""
    problems = []
    expected: dict[str, Counter[str]] = {tid: Counter() for tid in pulses}
    for tid, compartment in picked:
        expected.setdefault(tid, Counter())[compartment] += 1
    for tid, want in expected.items():
        got = +pulses.get(tid, Counter())
        if got != want:
            extra = {c: n for c, n in got.items() if n > want[c]}
            short = {c: n for c, n in want.items() if got[c] < n}
            problems.append(
                f"{tid}: pickups pulsed compartments {extra} more often than picked up"
                f" and {short} less"
            )
    return problems


def run_chaos(
    workdir: Path,
    stories: int,
    kills: int,
    *,
    workers: int = 2,
    terminals: int = 3,
    seed: int = 0,
    database_url: str | None = None,
    say: Callable[[str], None] = print,
) -> ChaosReport:
    """Play `stories` whole stories over `terminals` terminals while killing `kills` times."""
    rng = random.Random(seed)
    report = ChaosReport(stories=stories)
    site = ChaosSite(workdir, workers, terminals, database_url)
    for n in range(stories):
        terminal = list(site.terminals.values())[n % terminals]
        terminal.stories.append(Story(terminal.terminal_id, len(terminal.stories), ITEMS[n % 2]))
    start = time.monotonic()
    threads: list[threading.Thread] = []
    try:
        site.start()
        threads = [
            threading.Thread(target=t.play, name=f"chaos-{t.terminal_id}", daemon=True)
            for t in site.terminals.values()
        ]
        for thread in threads:
            thread.start()
        # Kills land among the stories, not while the terminals are still starting.
        _wait(lambda: sum(t.recorded() for t in site.terminals.values()) >= 1, 180, "a story")
        # Each part once first, terminals between the rest: a terminal's kill is over at once,
        # a broker's or a worker's waits for its restart.
        servers = [*(f"broker-{b}" for b in BROKERS), *(w.name for w in site.workers)]
        targets = [t for pair in zip(list(site.terminals), servers, strict=False) for t in pair]
        targets += [t for t in [*site.terminals, *servers] if t not in targets]
        for n in range(kills):
            if n >= len(targets) and not any(thread.is_alive() for thread in threads):
                break  # every part was hit once and every story is over
            time.sleep(rng.uniform(0.5, 2.5))
            victim = targets[n] if n < len(targets) else rng.choice(targets)
            done = sum(t.recorded() for t in site.terminals.values())
            say(f"chaos: kill -9 {victim} ({done} of {stories} stories submitted)")
            if victim.startswith("broker-"):
                broker = site.brokers[victim.removeprefix("broker-")]
                broker.stop(kill=True)
                time.sleep(rng.uniform(0.5, 2.0))
                broker.start()
            elif victim.startswith("worker-"):
                worker = next(w for w in site.workers if w.name == victim)
                worker.kill()
                time.sleep(rng.uniform(0.5, 2.0))
                site.start_worker(worker)
            else:
                terminal = site.terminals[victim]
                # Between two runs there is no process: the kill waits for the next run.
                with contextlib.suppress(TimeoutError):
                    _wait(terminal.running, 20, f"{victim} running")
                if not terminal.kill():
                    say(f"chaos: {victim} has no run left to kill; not counted")
                    continue
            report.kills[victim] += 1
        for thread in threads:
            thread.join(900)
        report.seconds = time.monotonic() - start
        # The last pickups' SMS are made as their events are stored: let them go out.
        with contextlib.suppress(TimeoutError):
            _wait(site.sms_settled, 120, "every SMS handed to the provider")
        report.problems = site.check()
        report.applications = sum(t.recorded() for t in site.terminals.values())
        report.picked_up = len(
            site._query("SELECT application_no FROM applications WHERE status = 'picked_up'")
        )
        report.sms = len(site.sms.received)
        report.pickup_openings = sum(sum(t.pickup_pulses.values()) for t in site.terminals.values())
        if report.picked_up < stories:
            report.problems.append(f"only {report.picked_up} of {stories} stories were picked up")
    finally:
        site.stop()
    return report
