"""privacy/private_files.py: 0700 directories and 0600 files whatever the umask (here 022)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from file_modes import default_umask, mode  # noqa: F401 (an autouse fixture)

from privacy.private_files import prepare_sqlite_file, private_dir, private_umask


def test_every_directory_made_is_0700_parents_too_and_one_there_is_left_alone(tmp_path):
    tmp_path.chmod(0o755)

    private_dir(tmp_path / "a" / "b" / "c")

    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert mode(tmp_path) == 0o755  # not ours alone: it may hold more than what was made here


def test_sqlite_gives_its_wal_and_shm_the_database_files_mode(tmp_path):
    path = prepare_sqlite_file(tmp_path / "data" / "x.sqlite")
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (name TEXT)")
        db.execute("INSERT INTO t VALUES ('张三')")
        db.commit()

        made = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), path.parent]
        assert [mode(p) for p in made] == [0o600, 0o600, 0o600, 0o700]
    finally:
        db.close()


def test_an_existing_database_keeps_its_rows_and_loses_its_wide_mode(tmp_path):
    path = tmp_path / "x.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (name TEXT)")
        db.execute("INSERT INTO t VALUES ('张三')")
    db.close()
    assert mode(path) == 0o644

    prepare_sqlite_file(path)

    assert mode(path) == 0o600
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM t").fetchall() == [("张三",)]
    db.close()


def test_the_private_umask_holds_in_the_block_only():
    with private_umask():
        assert os.umask(0o077) == 0o077
    assert os.umask(0o022) == 0o022
