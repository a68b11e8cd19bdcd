"""PostgreSQL's own log and applicants' data: a statement it logs carries its parameters (a name,
an ID number, a phone) unless `log_parameter_max_length` is 0."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from allhours.postgres import PrivatePostgres
from backend.db import Database
from backend.service import BackendService


def _database_set(url: str, **settings: str) -> None:
    """ALTER DATABASE … SET for the sessions opened on it from now on (as the superuser)."""
    name = make_url(url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for setting, value in settings.items():
            conn.execute(text(f'ALTER DATABASE "{name}" SET {setting} = {value}'))
    engine.dispose()


def _in_log(pg: PrivatePostgres, needle: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in pg.log_path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def test_statements_the_private_cluster_logs_carry_no_parameters(postgres, postgres_url):
    """Slow-query logging turned on (every statement counts as slow here): the statement is in
    the log, its parameter is not. Before, `DETAIL: parameters: $1 = '…'` held it."""
    _database_set(postgres_url, log_min_duration_statement="0")
    marker = f"11010519491231{secrets.randbelow(10_000):04d}"
    statement = f"SELECT CAST(:id AS text) AS logged_{secrets.token_hex(4)}"
    db = Database(postgres_url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text(statement), {"id": marker}).scalar_one() == marker
    finally:
        db.dispose()

    assert _in_log(postgres, statement.split(" AS ")[-1])  # the statement was logged
    assert marker not in postgres.log_path.read_text(errors="replace")


def test_a_worker_says_at_its_start_when_the_server_would_log_parameters(
    postgres_url, tmp_path: Path, caplog
):
    """The private cluster is set right; a production server is its administrator's. Set the
    way PostgreSQL ships, plus slow-query logging, it writes every parameter: a worker says so,
    naming the settings and what to run."""
    _database_set(postgres_url, log_min_duration_statement="250", log_parameter_max_length="-1")
    with caplog.at_level(logging.WARNING, logger="backend.service"):
        BackendService(postgres_url, tmp_path / "blobs", broker_port=None).stop()
    [warning] = [r.getMessage() for r in caplog.records if "log_parameter_max_length" in r.msg]
    assert "log_min_duration_statement = 250" in warning
    assert "log_parameter_max_length = -1" in warning and "ALTER ROLE" in warning

    _database_set(postgres_url, log_parameter_max_length="0")
    db = Database(postgres_url)
    try:
        assert db.parameters_logged() == []
        _database_set(postgres_url, log_min_duration_statement="-1", log_parameter_max_length="-1")
        db.engine.dispose()  # new sessions take the database's settings
        assert db.parameters_logged() == []  # nothing logs statements: nothing to say
        _database_set(postgres_url, log_statement="'mod'")
        db.engine.dispose()
        assert db.parameters_logged() == ["log_statement = mod", "log_parameter_max_length = -1"]
    finally:
        db.dispose()


def test_sqlite_has_no_server_log_to_check(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'backend.db'}")
    try:
        assert db.parameters_logged() == []
    finally:
        db.dispose()
