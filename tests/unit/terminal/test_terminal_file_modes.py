"""A terminal's databases and scans are the kiosk user's alone, whatever the umask.

A security review found `terminal.sqlite` and `locker.sqlite` 0644 in a 0755 data directory:
masked personal data, the outbox and the locker's journal open to every local user. They are now
created 0600 (SQLite's -wal and -shm taking the database file's mode), the scans 0600 in 0700
directories, a data directory found wider is tightened at start, and the commands that write such
data run with umask 077 (privacy/private_files.py). Each test runs under the default umask 022.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from enrolled_terminal import enrolled_offline
from file_modes import default_umask, mode  # noqa: F401 (an autouse fixture)

import allhours.commands.kiosk
import allhours.commands.update
from allhours import cli
from allhours.bootstrap import training_terminal

SCAN = b"%PDF-1.4 ID card of Zhang San, 110101199003070012\n" * 64


def test_the_terminals_databases_and_scans_are_the_kiosk_users_alone(tmp_path, caplog):
    data_dir = enrolled_offline(tmp_path / "terminal")
    data_dir.chmod(0o755)  # as `allhours enroll` of an earlier release left it

    with caplog.at_level(logging.WARNING, logger="privacy.private_files"):
        node = training_terminal(data_dir).node
    try:
        blob = node.outbox.blob_path(node.outbox.stage_blob(SCAN, "application/pdf").sha256)
        databases = [data_dir / f"{db}.sqlite" for db in ("terminal", "locker")]
        files = [
            data_dir,
            *databases,
            *(Path(f"{db}-wal") for db in databases),
            Path(f"{databases[0]}-shm"),
            data_dir / "blobs",
            blob.parent,
            blob,
        ]
        wide = {str(p): oct(mode(p)) for p in files if mode(p) & 0o077}  # each one is there
        assert wide == {}
        assert mode(data_dir / "terminal.sqlite") == mode(data_dir / "locker.sqlite") == 0o600
        assert mode(blob) == 0o600
    finally:
        node.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "privacy.private_files"]
    assert any(str(data_dir) in s and "0755" in s and "0700" in s for s in said), said


@pytest.mark.parametrize(
    ("argv", "module", "name", "umask"),
    [
        (["demo"], cli, "cmd_demo", 0o077),
        (["backend"], cli, "cmd_backend", 0o077),
        (["terminal"], cli, "cmd_terminal", 0o077),
        (["kiosk"], allhours.commands.kiosk, "run", 0o077),
        # Root unpacks releases the kiosk's user must read: its umask is the unit's (0022).
        (["update", "status"], allhours.commands.update, "run", 0o022),
    ],
    ids=["demo", "backend", "terminal", "kiosk", "update"],
)
def test_the_commands_that_write_personal_data_run_with_umask_077(
    monkeypatch, argv, module, name, umask
):
    seen = {}

    def command(_args) -> int:
        seen["umask"] = os.umask(0o077)
        os.umask(seen["umask"])
        return 0

    monkeypatch.setattr(module, name, command)

    assert cli.main(argv) == 0

    assert seen["umask"] == umask
    assert os.umask(0o022) == 0o022  # the caller's umask back once it returns
