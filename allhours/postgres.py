"""A private PostgreSQL 15 cluster, made for one run: the suite's, a benchmark's or a demo's.

Like PrivateMosquitto, nothing depends on a system service: `initdb` makes a cluster in a
directory of the caller's, `pg_ctl` starts it on a private port (loopback only) and a private
unix-socket directory, and `stop` takes it down. Run as root, the cluster belongs to the user
`postgres` (initdb refuses root), so its files live in a postgres-owned directory under the
system temp dir when the workdir is not reachable by that user; `cleanup` removes it.

Fsync is off by default: a throwaway cluster trades crash safety for speed. Production runs a
real, durable server and only hands the backend its URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from allhours.broker import _reachable_by, free_port, port_open

PG_MAJOR = 15
PG_BIN_CANDIDATES = (f"/usr/lib/postgresql/{PG_MAJOR}/bin",)
SUPERUSER = "postgres"
OS_USER = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The private cluster could not be made, started or used."""


def find_pg_bin() -> Path:
    """Directory of PostgreSQL 15's server binaries, or PostgresError naming the install step."""
    for candidate in PG_BIN_CANDIDATES:
        path = Path(candidate)
        if os.access(path / "initdb", os.X_OK) and os.access(path / "pg_ctl", os.X_OK):
            return path
    raise PostgresError(
        f"PostgreSQL {PG_MAJOR} is not installed: run `make install` "
        f"(apt-get install postgresql-{PG_MAJOR})"
    )


class PrivatePostgres:
    """One PostgreSQL 15 cluster with password login on 127.0.0.1 and a private socket dir.

    `create_database(name)` returns a SQLAlchemy URL (psycopg 3 driver) for a fresh database;
    `drop_database(name)` removes one. The same workdir can be started again and finds its data.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        fsync: bool = False,
        max_connections: int = 200,
    ):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.fsync = fsync
        self.max_connections = max_connections
        self._started = False

    # -- where things live -------------------------------------------------------------------

    def _as_postgres(self) -> bool:
        return os.geteuid() == 0

    def _base_dir(self) -> Path:
        """The directory holding data, socket and log, owned by the cluster's OS user."""
        # _reachable_by judges the parents, so ask about a child: the workdir itself counts too.
        if not self._as_postgres() or _reachable_by(OS_USER, self.workdir / "postgres"):
            return self.workdir / "postgres"
        tag = hashlib.sha256(str(self.workdir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"allhours-postgres-{tag}"

    @property
    def data_dir(self) -> Path:
        return self._base_dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base_dir() / "sock"

    @property
    def log_path(self) -> Path:
        return self._base_dir() / "postgres.log"

    @property
    def _password_file(self) -> Path:
        # Kept beside the workdir, readable by the caller only; the cluster keeps its hash.
        return self.workdir / "postgres.password"

    @property
    def password(self) -> str:
        return self._password_file.read_text().strip()

    # -- running commands ----------------------------------------------------------------------

    def _run(self, args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(find_pg_bin() / args[0]), *args[1:]]
        if self._as_postgres():
            cmd = ["runuser", "-u", OS_USER, "--", *cmd]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self._base_dir(),
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise PostgresError(
                f"{args[0]} failed ({proc.returncode}): "
                f"{proc.stderr.strip() or proc.stdout.strip()}"
                + (f"\n{self.tail_log()}" if args[0] == "pg_ctl" else "")
            )
        return proc

    def _chown(self, path: Path) -> None:
        if self._as_postgres():
            pw = pwd.getpwnam(OS_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _init(self) -> None:
        base = self._base_dir()
        self.workdir.mkdir(parents=True, exist_ok=True)
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._chown(base)
        for sub in (self.socket_dir,):
            sub.mkdir(mode=0o700, exist_ok=True)
            self._chown(sub)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if not self._password_file.exists():
            self._password_file.touch(mode=0o600)
            self._password_file.write_text(secrets.token_urlsafe(24) + "\n")
        # initdb reads the superuser's password from a file the cluster's user can read.
        pwfile = base / "initdb.pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> PrivatePostgres:
        """Make the cluster if needed, start it and wait until it accepts connections."""
        if self.running():
            return self
        self._init()
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                f"-c listen_addresses={self.host}",
                f"-c max_connections={self.max_connections}",
                f"-c fsync={'on' if self.fsync else 'off'}",
                f"-c synchronous_commit={'on' if self.fsync else 'off'}",
                f"-c full_page_writes={'on' if self.fsync else 'off'}",
                "-c timezone=UTC",
                # Statements it logs (slow ones, once someone turns that on) never carry their
                # parameters: applicants' names, ID numbers and phones (docs/backend.md).
                "-c log_parameter_max_length=0",
            ]
        )
        self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            timeout=timeout + 10,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if time.monotonic() > deadline:
                self.stop()
                raise PostgresError(f"postgres did not listen on {self.port} within {timeout}s")
            time.sleep(0.05)
        self._started = True
        return self

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists() and port_open(self.host, self.port)

    def stop(self, *, timeout: float = 60.0) -> None:
        """Stop the cluster (fast shutdown: open sessions are ended, data is kept)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
            self._run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    f"{timeout:.0f}",
                    "stop",
                ],
                timeout=timeout + 10,
            )
        self._started = False

    def cleanup(self) -> None:
        """Stop the cluster and delete its files (data, socket dir, log, password)."""
        self.stop()
        shutil.rmtree(self._base_dir(), ignore_errors=True)
        self._password_file.unlink(missing_ok=True)

    def tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- databases ------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of `database` on this cluster, with the psycopg 3 driver."""
        return (
            f"postgresql+psycopg://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{database}"
        )

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(sql)

    @staticmethod
    def _checked(name: str) -> str:
        if not _NAME.match(name):
            raise PostgresError(f"not a plain database name: {name!r} (lower-case, digits, _)")
        return name

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database `name` (optionally copied from `template`); returns its URL."""
        sql = f'CREATE DATABASE "{self._checked(name)}"'
        if template:
            sql += f' TEMPLATE "{self._checked(template)}"'
        self._admin(sql)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending any session still connected to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{self._checked(name)}" WITH (FORCE)')

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
