"""Fixtures for backend unit tests: SQLite in tmp_path, a recording publisher, no broker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from backend_unit_factories import KEY, TERMINAL, RecordingPublisher
from sqlalchemy import func, select

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest, IngestResult
from backend.models import Application, CommandRow, SmsOutboxRow
from backend.sms import OutboxSms
from backend.staff import StaffDesk
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples


@dataclass
class Backend:
    """The ingest side of the backend over a real SQLite file, with its ports recorded."""

    db: Database
    ingest: Ingest
    publisher: RecordingPublisher
    blob_dir: Path
    desk: StaffDesk
    results: list[IngestResult] = field(default_factory=list)

    def feed(self, *messages: m.Message | tuple[str, bytes]) -> IngestResult:
        """Ingest the messages as one batch."""
        items = [x if isinstance(x, tuple) else (x.topic(), x.encode()) for x in messages]
        result = self.ingest.handle_batch(items)
        self.results.append(result)
        return result

    def approve(self, no: str) -> None:
        """Walk a submitted application to approved."""
        for step in ("accept", "review", "approve"):
            self.desk.step(no, step, "staff-1")

    def count(self, model: type) -> int:
        with self.db.transaction() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def application(self, no: str) -> Application:
        with self.db.transaction() as s:
            app = s.get(Application, no)
            assert app is not None
            return app

    def sms(self) -> list[SmsOutboxRow]:
        with self.db.transaction() as s:
            return list(s.scalars(select(SmsOutboxRow).order_by(SmsOutboxRow.id)))

    def commands(self, type_name: str | None = None) -> list[CommandRow]:
        with self.db.transaction() as s:
            q = select(CommandRow).order_by(CommandRow.created_at)
            if type_name:
                q = q.where(CommandRow.type == type_name)
            return list(s.scalars(q))


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    db = Database(f"sqlite:///{tmp_path / 'backend.db'}")
    db.create_all()
    publisher = RecordingPublisher()
    ingest = Ingest(db, BlobStore(tmp_path / "blobs"), OutboxSms(db), publisher)
    ingest.register_terminal(TERMINAL, KEY)
    yield Backend(
        db, ingest, publisher, tmp_path / "blobs", StaffDesk(db, publisher, OutboxSms(db))
    )
    db.dispose()


@pytest.fixture
def canonical() -> dict[str, m.Message]:
    return examples()
