"""The backend's database and scanned materials are its user's alone, whatever the umask.

A security review copied a single-site backend's `backend.sqlite` (0644) as user nobody and read
applicants' names, ID numbers and phones, the fleet's keys and staff password hashes, and a
scanned PDF from `backend-blobs/` (0755, files 0644). The files are now created 0600 and the
directories 0700 from the first byte, SQLite's -wal and -shm taking the database file's mode;
what an earlier release left open is tightened at start; and the worker runs with umask 077
(privacy/private_files.py). Each test runs under the default umask 022, which once gave 0644.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from types import SimpleNamespace

from backend_unit_factories import KEY, TERMINAL, chunks, material_for, submission
from file_modes import default_umask, mode  # noqa: F401 (an autouse fixture)

import backend.__main__ as worker
from backend.blobs import BlobStore
from backend.service import BackendService

SCAN = b"%PDF-1.4 household register of Zhang San, ID 110101199003070012\n" * 64


def assert_private(*paths: Path) -> None:
    """No group or other bit on any of them (and each is there)."""
    found = {str(p): oct(mode(p)) for p in paths if mode(p) & 0o077}
    assert found == {}


def ingest_a_scan(service: BackendService) -> Path:
    service.register_terminal(TERMINAL, KEY)
    items = [submission(materials=[material_for(SCAN)]), *chunks(SCAN, 1024)]
    service.ingest.handle_batch([(x.topic(), x.encode()) for x in items])
    sha = hashlib.sha256(SCAN).hexdigest()
    stored = service.blobs.path_for(sha)
    assert stored.read_bytes() == SCAN
    return stored


def test_a_sqlite_backend_keeps_its_database_and_scans_from_other_users(tmp_path):
    database = tmp_path / "site" / "backend.sqlite"
    blobs = tmp_path / "site" / "backend-blobs"
    service = BackendService(f"sqlite:///{database}", blobs, broker_port=None)
    try:
        stored = ingest_a_scan(service)

        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists() and shm.exists()  # WAL: the connections are still open
        assert_private(database, wal, shm, database.parent)
        assert_private(blobs, stored.parent, stored)
        assert mode(database) == 0o600 and mode(stored) == 0o600 and mode(blobs) == 0o700
    finally:
        service.stop()


def test_a_database_and_blob_store_an_earlier_release_left_open_are_tightened(tmp_path, caplog):
    database = tmp_path / "backend.sqlite"
    blobs = tmp_path / "blobs"
    # As the release before this one left them under umask 022.
    service = BackendService(f"sqlite:///{database}", blobs, broker_port=None)
    service.stop()
    database.chmod(0o644)
    Path(f"{database}-wal").write_bytes(b"")
    Path(f"{database}-wal").chmod(0o644)
    blobs.mkdir(0o755)

    with caplog.at_level(logging.WARNING, logger="privacy.private_files"):
        service = BackendService(f"sqlite:///{database}", blobs, broker_port=None)
    try:
        stored = ingest_a_scan(service)
        assert_private(database, Path(f"{database}-wal"), blobs, stored)
    finally:
        service.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "privacy.private_files"]
    assert any(str(database) in s and "0644" in s and "0600" in s for s in said), said
    assert any(str(blobs) in s and "0755" in s and "0700" in s for s in said), said


def test_a_blob_left_half_written_with_a_wide_mode_is_stored_0600(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    sha = hashlib.sha256(SCAN).hexdigest()
    leftover = store.path_for(sha).with_name(f".{sha}.{os.getpid()}.tmp")
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")  # a crash mid-write, under umask 022: 0644

    stored = store.put(sha, len(SCAN), [SCAN])

    assert mode(stored) == 0o600 and stored.read_bytes() == SCAN


def test_the_worker_runs_with_umask_077(monkeypatch):
    seen = {}

    class Worker:
        def serve(self) -> None:
            seen["umask"] = os.umask(0o077)
            os.umask(seen["umask"])

    monkeypatch.setattr(worker, "load_backend_settings", lambda *_: SimpleNamespace(log_level=40))
    monkeypatch.setattr(worker, "build_backend", lambda _settings: Worker())
    monkeypatch.setattr(worker, "freeze_startup_heap", lambda: None)

    assert worker.main([]) == 0

    assert seen["umask"] == 0o077
    assert os.umask(0o022) == 0o022  # the caller's umask back once it returns
