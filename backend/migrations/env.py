"""Alembic's environment for the backend: runs the revisions in versions/ on one connection.

The caller (backend.db.migrate) hands over an engine in `config.attributes["engine"]`; the
`alembic` command line can instead give `-x url=...`. On PostgreSQL a transaction-scoped
advisory lock serialises workers that start together; on SQLite the engine's BEGIN IMMEDIATE
does the same. SQLite cannot alter columns in place, so revisions run in batch mode there.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from backend.db import make_engine, metadata
from backend.models import UtcDateTime

# Any fixed 64-bit number, the same for every worker of this schema.
MIGRATION_LOCK = 0x616C6C686F757273  # "allhours"

config = context.config
target_metadata = metadata()


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Revisions spell the models' own types in plain SQLAlchemy, so they never import them."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=context.get_x_argument(as_dictionary=True).get("url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    owned = engine is None
    if owned:
        url = context.get_x_argument(as_dictionary=True).get("url")
        if not url:
            raise SystemExit("give the database as -x url=... (or use `allhours backend migrate`)")
        engine = make_engine(url)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
                render_item=render_item,
                transaction_per_migration=False,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK}
                    )
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
