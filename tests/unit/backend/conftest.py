"""Fixtures for backend unit tests: SQLite in tmp_path, a recording publisher, no broker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from backend_unit_factories import KEY, TERMINAL, RecordingPublisher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest, IngestResult
from backend.models import Application, CommandRow
from backend.notifications.models import NotificationRow, NotificationState
from backend.notifications.outbox import stored_key
from backend.notifications.sealing import Sealer
from backend.notifications.templates import DEFAULT_TABLE, Kind, render
from backend.service import BackendService
from backend.sms import HeldSms
from backend.staff import StaffDesk
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples


@dataclass(frozen=True)
class QueuedSms:
    """A message waiting in the outbox, as the default templates would word it."""

    phone: str
    kind: str
    text: str


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

    def sms(self, kind: str | None = None) -> list[QueuedSms]:
        """The outbox in order (no sender runs here), sealed codes opened with the stored key;
        a superseded message (never to be sent, its code erased) left out."""
        out = []
        with self.db.transaction() as s:
            sealer = Sealer(stored_key(s))
            rows = select(NotificationRow).where(
                NotificationRow.state != NotificationState.SUPERSEDED
            )
            for row in s.scalars(rows.order_by(NotificationRow.id)):
                values = dict(row.params)
                if row.sealed is not None:
                    values.update(sealer.open(row.out_id, row.sealed))
                template = DEFAULT_TABLE.templates[Kind(row.kind)]
                text = render(template, DEFAULT_TABLE.sign_name, values)
                out.append(QueuedSms(row.phone, row.kind, text))
        return [x for x in out if kind is None or x.kind == kind]

    def commands(self, type_name: str | None = None) -> list[CommandRow]:
        with self.db.transaction() as s:
            q = select(CommandRow).order_by(CommandRow.created_at)
            if type_name:
                q = q.where(CommandRow.type == type_name)
            return list(s.scalars(q))


@pytest.fixture
def backend(tmp_path: Path, database_url: str) -> Iterator[Backend]:
    """The backend's parts without MQTT, on SQLite and on PostgreSQL (database_url)."""
    db = Database(database_url)
    db.migrate()
    publisher = RecordingPublisher()
    ingest = Ingest(db, BlobStore(tmp_path / "blobs"), HeldSms(), publisher)
    ingest.register_terminal(TERMINAL, KEY)
    yield Backend(db, ingest, publisher, tmp_path / "blobs", StaffDesk(db, publisher, HeldSms()))
    db.dispose()


@pytest.fixture
def canonical() -> dict[str, m.Message]:
    return examples()


# The API route tests: each module gives its own `service` (a BackendService without broker),
# and these two build the app on it and one signed-in bearer token per role.
@pytest.fixture
def client(service: BackendService) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture
def tokens(service: BackendService) -> dict[str, dict[str, str]]:
    return {
        role: bearer(account_with_token(service.db, f"{role}.one", [role])[1])
        for role in ("operator", "supervisor", "clerk", "admin")
    }
