"""The suite's throwaway PostgreSQL 15 cluster: a real server, private port, password login."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from allhours.postgres import PostgresError, PrivatePostgres


def test_cluster_serves_fresh_databases(postgres: PrivatePostgres, postgres_url: str):
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            version = conn.execute(text("SHOW server_version_num")).scalar_one()
            conn.execute(text("CREATE TABLE t (id serial PRIMARY KEY, v text)"))
            conn.execute(text("INSERT INTO t (v) VALUES ('一'), ('two')"))
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
            assert conn.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
    finally:
        engine.dispose()
    assert int(version) // 10000 == 15
    assert make_url(postgres_url).host == "127.0.0.1"


def test_wrong_password_is_refused(postgres: PrivatePostgres, postgres_url: str):
    bad = make_url(postgres_url).set(password="not-the-password")
    engine = create_engine(bad)
    try:
        with pytest.raises(OperationalError, match="password authentication failed"):
            engine.connect()
    finally:
        engine.dispose()


def test_database_names_are_checked(postgres: PrivatePostgres):
    with pytest.raises(PostgresError, match="not a plain database name"):
        postgres.create_database('x"; DROP DATABASE postgres; --')


def test_cluster_restarts_with_its_data(tmp_path):
    pg = PrivatePostgres(tmp_path / "pg")
    try:
        url = pg.start().create_database("kept")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE k (v int)"))
            conn.execute(text("INSERT INTO k VALUES (7)"))
        engine.dispose()
        pg.stop()
        assert not pg.running()
        pg.start()
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT v FROM k")).scalar_one() == 7
        engine.dispose()
    finally:
        pg.cleanup()
    assert not pg.data_dir.exists()
