"""A backend without a broker, its outbox drained to the loopback Alibaba Cloud SMS emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from notification_parts import PHONE, TERMINAL, TERMINAL_KEY
from sqlalchemy import select

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest
from backend.notifications.aliyun import AliyunSettings, AliyunSms
from backend.notifications.aliyun_emulator import AliyunSmsEmulator
from backend.notifications.dispatcher import Dispatcher, DispatchSettings
from backend.notifications.models import NotificationRow
from backend.notifications.templates import DEFAULT_TABLE
from backend.sms import HeldSms
from backend.staff import StaffDesk
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples


class Clock:
    """Real time plus an offset a test moves forward (backoff, rate limits, expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class RecordingPublisher:
    """Records the commands the backend publishes (no broker in these tests)."""

    def __init__(self) -> None:
        self.sent: list[m.Message] = []

    def publish(self, message: m.Message) -> None:
        self.sent.append(message)


FAST = DispatchSettings(
    retry_base=timedelta(seconds=1),
    retry_cap=timedelta(seconds=8),
    alarm_floor=timedelta(seconds=5),
    reconcile_after=timedelta(0),
    report_after=timedelta(0),
)


@dataclass
class NotifiedBackend:
    path: Path
    db: Database
    ingest: Ingest
    desk: StaffDesk
    publisher: RecordingPublisher
    emulator: AliyunSmsEmulator
    provider: AliyunSms
    clock: Clock
    settings: DispatchSettings = FAST
    databases: list[Database] = field(default_factory=list)

    def dispatcher(self, fresh_process: bool = False) -> Dispatcher:
        """The sender; `fresh_process` opens the database anew, as a restarted backend does."""
        db = self.db
        if fresh_process:
            db = Database(self.db.url)
            self.databases.append(db)
        return Dispatcher(db, self.provider, settings=self.settings)

    def drain(self) -> int:
        return self.dispatcher().drain(self.clock())

    def feed(self, *messages: m.Message) -> None:
        self.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])

    def submit(self, no: str, phone: str = PHONE) -> None:
        base = examples()["event.application_submitted"]
        applicant = base.applicant.model_copy(update={"phone": phone})
        self.feed(
            base.model_copy(
                update={
                    "message_id": m.new_message_id(),
                    "application_no": no,
                    "operation_id": no,
                    "applicant": applicant,
                }
            )
        )

    def approve(self, no: str) -> None:
        """Submitted, then accepted, reviewed and approved by a clerk (texts queued, not sent)."""
        self.submit(no)
        for step in ("accept", "review", "approve"):
            self.desk.step(no, step, "clerk.li")

    def load(self, no: str) -> str:
        """The approved result loaded into compartment A05 (its code queued); the load id."""
        load_id = self.desk.load_result(no, TERMINAL, "S", "clerk.li").load_id
        self.loaded(no, load_id)
        return load_id

    def loaded(self, no: str, load_id: str) -> None:
        self.feed(
            m.ResultLoaded(
                terminal_id=TERMINAL,
                operation_id=load_id,
                load_id=load_id,
                application_no=no,
                compartment_id="A05",
                loaded_at=m.utcnow(),
            )
        )

    def picked_up(self, no: str, load_id: str) -> None:
        self.feed(
            m.ResultPickedUp(
                terminal_id=TERMINAL,
                operation_id=load_id,
                load_id=load_id,
                application_no=no,
                compartment_id="A05",
                picked_up_at=m.utcnow(),
            )
        )

    def rows(self) -> list[NotificationRow]:
        with self.db.transaction() as s:
            return list(s.scalars(select(NotificationRow).order_by(NotificationRow.id)))

    def kinds_received(self, phone: str = PHONE) -> list[str]:
        by_code = {t.template_code: k.value for k, t in DEFAULT_TABLE.templates.items()}
        return [by_code[r.template_code] for r in self.emulator.inbox(phone)]


@pytest.fixture
def notified(tmp_path: Path, database_url: str) -> Iterator[NotifiedBackend]:
    """The backend with its SMS worker, on SQLite and on PostgreSQL (database_url)."""
    clock = Clock()
    db = Database(database_url)
    db.migrate()
    publisher = RecordingPublisher()
    ingest = Ingest(db, BlobStore(tmp_path / "blobs"), HeldSms(), publisher, clock=clock)
    ingest.register_terminal(TERMINAL, TERMINAL_KEY)
    desk = StaffDesk(db, publisher, HeldSms(), clock=clock)
    emulator = AliyunSmsEmulator(clock=clock).start()
    provider = AliyunSms(
        AliyunSettings(
            access_key_id="LTAI-allhours-test",
            access_key_secret="allhours-test-secret",
            table=DEFAULT_TABLE,
            endpoint=emulator.endpoint,
            read_timeout_s=2.0,
        ),
        clock=clock,
    )
    backend = NotifiedBackend(tmp_path, db, ingest, desk, publisher, emulator, provider, clock)
    try:
        yield backend
    finally:
        provider.close()
        emulator.stop()
        for extra in backend.databases:
            extra.dispose()
        db.dispose()
