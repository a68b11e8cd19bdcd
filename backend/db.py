"""Database engine, sessions and schema migrations: SQLite (WAL) or PostgreSQL 15, same models.

The schema is Alembic's (backend/migrations, ADR 0014): `migrate()` brings any database, empty
or made by an earlier release, to the newest revision (workers do it at start).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from privacy.private_files import prepare_sqlite_file

from .models import Base

SQLITE_BUSY_TIMEOUT_MS = 10_000
BASELINE_REVISION = "0001_baseline"
# Tables the first release made with create_all, before there was a migration history.
_BASELINE_TABLES = frozenset({"terminals", "applications", "materials", "blobs", "commands"})
# Every module that declares tables on models.Base: the schema is the union of them all.
TABLE_MODULES = (
    "backend.models",
    "backend.dead_letters",
    "backend.notifications.models",
    "backend.catalog_editor",
    "backend.rollout_tables",
)


# Alembic keeps the running migration in module globals: one migration per process at a time.
# Across processes, PostgreSQL's advisory lock and SQLite's write lock serialise (env.py).
_MIGRATING = threading.Lock()


class MigrationError(RuntimeError):
    """The database cannot be brought to the code's schema (say why and what to do)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Execution option of the engine behind `Database.reading`: a transaction that only reads.
_READING = "allhours_reading"


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers wait on busy_timeout instead of
    # failing with SQLITE_BUSY when a read transaction tries to upgrade. A reading transaction
    # begins deferred and may not write (query_only): in WAL it reads its snapshot beside the
    # writer, neither waiting for it nor making it wait.
    reading = bool(conn.get_execution_options().get(_READING))
    conn.exec_driver_sql(f"PRAGMA query_only={int(reading)}")
    conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; SQLite gets WAL, synchronous=NORMAL and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # Timestamps are compared and grouped in UTC whatever the server's default zone is. A
        # failed statement's parameters (a name, an ID number) stay out of the server's log
        # whatever its configuration says (see `Database.parameters_logged`).
        options = "-c timezone=UTC -c log_parameter_max_length_on_error=0"
        return create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    if url.database and url.database != ":memory:" and not url.query.get("uri"):
        # Applicants' personal data, the fleet's keys and staff password hashes: the file is
        # made 0600 (its directory 0700 if missing) before SQLite opens it, and its -wal and
        # -shm take its mode; one an earlier release left 0644 is tightened (logged).
        prepare_sqlite_file(Path(url.database))
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def insert_missing(
    session: Session, model: type[Base], rows: list[dict[str, Any]], returning: Any = None
) -> list[Any]:
    """INSERT the rows whose key is not there yet. A row another transaction is inserting is
    waited for (PostgreSQL) and then skipped: two workers making one row never fail. With
    `returning` (a column), returns its value for each row inserted here."""
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}[session.get_bind().dialect.name]
    statement = insert(model).on_conflict_do_nothing()
    if returning is None:
        session.execute(statement, rows)
        return []
    return list(session.scalars(statement.returning(returning), rows))


def metadata() -> MetaData:
    """The backend's whole schema: models.Base with every table module imported."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return Base.metadata


def alembic_config(engine: Engine | None = None) -> Any:
    """Alembic's configuration for the backend's revisions, bound to `engine` if given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "backend:migrations")
    # Revision files are named by their id (0002_slug.py), so they sort in order.
    config.set_main_option("file_template", "%%(rev)s")
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest revision in backend/migrations (exactly one head is enforced by a test)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise MigrationError(f"backend/migrations has {len(heads)} heads {heads}: merge them")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None (empty, or made before migrations existed)."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> str:
    """Upgrade the database to `revision` (default: newest); returns the revision it is at.

    A database of the first release (its tables, no alembic_version) is stamped with the
    baseline first. A database newer than this code (an unknown revision) is refused.
    """
    with _MIGRATING:
        return _migrate(engine, revision)


def _migrate(engine: Engine, revision: str) -> str:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    current = current_revision(engine)
    if current is None:
        tables = set(inspect(engine).get_table_names())
        if tables >= _BASELINE_TABLES:
            command.stamp(config, BASELINE_REVISION)
        elif tables & _BASELINE_TABLES:
            raise MigrationError(
                "the database holds some backend tables but not all and no alembic_version: "
                f"found {sorted(tables & _BASELINE_TABLES)}; restore it from a backup"
            )
    elif current not in {r.revision for r in script.walk_revisions()}:
        raise MigrationError(
            f"the database is at revision {current}, which this release does not know: "
            "it was migrated by a newer release; run that release (or restore a backup)"
        )
    elif revision == "head" and current in script.get_heads():
        return current  # the usual start: nothing to do, no lock taken
    try:
        command.upgrade(config, revision)
    except CommandError as exc:
        raise MigrationError(f"migration to {revision} failed: {exc}") from exc
    return current_revision(engine) or ""


class Database:
    """One engine and its session factory."""

    def __init__(self, database_url: str):
        self.url = database_url
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        options: dict[str, Any] = {_READING: True}
        if self.engine.dialect.name == "postgresql":
            options["postgresql_readonly"] = True  # SET TRANSACTION READ ONLY
        self._readers = sessionmaker(
            self.engine.execution_options(**options), expire_on_commit=False
        )

    def parameters_logged(self) -> list[str]:
        """The PostgreSQL settings (`name = value`) under which the server writes the
        parameters of the statements it logs into its own log; empty if it writes none.

        Those parameters are applicants' names, ID numbers and phones. PostgreSQL logs them in
        full whenever it logs a statement (`log_parameter_max_length` -1, its default): at
        `log_statement = mod` or `all`, or once slow-query logging is on, a common step in
        production. Only a superuser may change that setting (for our role: `ALTER ROLE …
        SET log_parameter_max_length = 0`, docs/backend.md), so a worker checks at its start.
        """
        if self.engine.dialect.name != "postgresql":
            return []
        names = (
            "log_statement",
            "log_min_duration_statement",
            "log_min_duration_sample",
            "log_transaction_sample_rate",
            "log_parameter_max_length",
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, setting FROM pg_settings WHERE name = ANY(:names)"),
                {"names": list(names)},
            )
            value = {name: setting for name, setting in rows}
        if value["log_parameter_max_length"] == "0":
            return []
        logging_statements = [
            name
            for name, quiet in (
                ("log_statement", value["log_statement"] in ("none", "ddl")),
                ("log_min_duration_statement", value["log_min_duration_statement"] == "-1"),
                ("log_min_duration_sample", value["log_min_duration_sample"] == "-1"),
                ("log_transaction_sample_rate", float(value["log_transaction_sample_rate"]) == 0),
            )
            if not quiet
        ]
        if not logging_statements:
            return []
        return [
            f"{name} = {value[name]}" for name in [*logging_statements, "log_parameter_max_length"]
        ]

    def migrate(self, revision: str = "head") -> str:
        """Bring the schema to `revision` (see `migrate`); returns the revision reached."""
        return migrate(self.engine, revision)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: pages, lists, look-ups before a write.

        Any write in it fails (read-only on PostgreSQL, `query_only` on SQLite). On SQLite it
        takes no write lock: `transaction()` does (BEGIN IMMEDIATE), so a page read that way
        waited for ingest's commit and held ingest up while it rendered, and one opened inside
        another transaction waited for it until the busy timeout.
        """
        with self._readers() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
