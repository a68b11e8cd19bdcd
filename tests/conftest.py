"""Suite-wide guards: a test that leaves a thread or a child process behind fails."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from allhours.broker import PrivateMosquitto
from allhours.postgres import PrivatePostgres
from backend.db import Database
from provisioning.authority import SiteAuthority


def _children() -> set[int]:
    """Live child processes of this pytest process (zombies excluded)."""
    me = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid = fields[0], fields[1]
        if ppid == me and state != "Z":
            found.add(int(entry.name))
    return found


def _listening_ports() -> set[int]:
    """TCP ports this process itself listens on (sockets open in its own fd table)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


@pytest.fixture(autouse=True)
def verify_cleanup(request: pytest.FixtureRequest):
    """Fail any test that leaves threads, child processes or listening ports behind."""
    threads_before = _threads()
    children_before = _children()
    ports_before = _listening_ports()
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked_threads = {
            t
            for t in _threads() - threads_before
            if not t.name.startswith(("asyncio_", "ThreadPoolExecutor", "AnyIO worker"))
        }
        leaked_children = _children() - children_before
        leaked_ports = _listening_ports() - ports_before
        if not (leaked_threads or leaked_children or leaked_ports) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if leaked_threads:
        problems.append("threads: " + ", ".join(sorted(t.name for t in leaked_threads)))
    if leaked_children:
        problems.append(f"child processes: {sorted(leaked_children)}")
    if leaked_ports:
        problems.append(f"listening ports: {sorted(leaked_ports)}")
    if problems:
        pytest.fail(f"{request.node.nodeid} left behind " + "; ".join(problems), pytrace=False)


@pytest.fixture
def site_ca(tmp_path: Path) -> SiteAuthority:
    """A fresh site CA and registry for one test."""
    return SiteAuthority.create(tmp_path / "site-ca")


@pytest.fixture
def broker(tmp_path: Path, site_ca: SiteAuthority):
    """A private mutual-TLS Mosquitto on loopback for one test; stopped (and checked) after it."""
    b = PrivateMosquitto(tmp_path / "broker", site_ca)
    b.start()
    try:
        yield b
    finally:
        b.stop()
        b.remove_data()


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Staff passwords hashed with argon2id at the library's CHEAPEST profile in this process
    (argon2.profiles, made for tests): the same hashing and verification, 0.1 ms a hash
    instead of 150 ms, where console tests make and sign in accounts thousands of times.
    Backends started as processes keep the production profile (RFC 9106 low memory), and
    tests/unit/backend/test_backend_passwords.py checks that profile in a process of its own."""
    from argon2 import PasswordHasher, profiles

    from backend.auth import passwords

    saved = passwords._HASHER, passwords._DUMMY_HASH
    passwords._HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    passwords._DUMMY_HASH = passwords._HASHER.hash("no such account: timing equaliser")
    yield
    passwords._HASHER, passwords._DUMMY_HASH = saved


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    """One throwaway PostgreSQL 15 cluster for the whole run, started on first use."""
    pg = PrivatePostgres(tmp_path_factory.mktemp("postgres"))
    pg.start()
    try:
        yield pg
    finally:
        pg.cleanup()


_pg_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres: PrivatePostgres) -> str:
    """A fresh, empty database on the session's cluster for one test; dropped after it."""
    name = f"t{os.getpid()}_{next(_pg_databases)}"
    url = postgres.create_database(name)
    try:
        yield url
    finally:
        postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, no schema at all, once on SQLite and once on the suite's PostgreSQL
    15: for the migrations' own tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'backend.db'}"
    return request.getfixturevalue("postgres_url")


def _migrated(url: str) -> None:
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite backend database migrated to head once per run, copied for each test."""
    path = tmp_path_factory.mktemp("migrated") / "backend.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PrivatePostgres) -> str:
    """A PostgreSQL backend database migrated to head once per run, the template of each
    test's own."""
    name = f"template_{os.getpid()}"
    _migrated(postgres.create_database(name))
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A backend database with the newest schema and no rows, once on SQLite and once on the
    suite's PostgreSQL 15: a copy of one migrated once per run (a file copy; `CREATE DATABASE
    … TEMPLATE`), the schema the backend's own start makes, without every migration run again
    for every test (from empty: tests/integration/storage/test_migrations.py)."""
    if request.param == "sqlite":
        target = tmp_path / "backend.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    postgres: PrivatePostgres = request.getfixturevalue("postgres")
    name = f"t{os.getpid()}_{next(_pg_databases)}"
    url = postgres.create_database(name, template=request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        postgres.drop_database(name)
