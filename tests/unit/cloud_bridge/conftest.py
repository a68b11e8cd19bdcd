"""Fixtures for the cloud_bridge unit tests: a real terminal database in tmp_path, no broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_bridge.local_db import LocalDatabase
from cloud_bridge.outbox import Outbox

TERMINAL = "T0001"  # test modules repeat it: conftest is not for importing


class OutboxFiles:
    """Opens outboxes on one database file and blob directory, and closes them all afterwards."""

    def __init__(self, root: Path):
        self.path = root / "terminal.sqlite"
        self.blob_dir = root / "blobs"
        self.opened: list[Outbox] = []

    def open(self) -> Outbox:
        box = Outbox(LocalDatabase(self.path), self.blob_dir, TERMINAL)
        self.opened.append(box)
        return box

    def close_all(self) -> None:
        for box in self.opened:
            box.db.close()  # closing twice is harmless for sqlite3


@pytest.fixture
def outbox_files(tmp_path: Path) -> Iterator[OutboxFiles]:
    files = OutboxFiles(tmp_path)
    yield files
    files.close_all()


@pytest.fixture
def outbox(outbox_files: OutboxFiles) -> Outbox:
    return outbox_files.open()
