"""Message factories for backend unit tests (a module, so tests can import it by name)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest, IngestResult
from backend.sms import HeldSms
from backend.staff import StaffDesk
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

TERMINAL = "T0001"
KEY = bytes(range(32))
# What a kiosk reports for a citizen its camera matched to the card with liveness passed.
FACE = m.IdentityDecision(
    method=m.IdentityMethod.FACE,
    verified=True,
    face_distance=0.31,
    threshold=0.6,
    liveness_passed=True,
)


class RecordingPublisher:
    """Records the commands it was asked to publish, in order."""

    def __init__(self) -> None:
        self.sent: list[m.Message] = []

    def publish(self, message: m.Message) -> None:
        self.sent.append(message)


class SettableClock:
    """The backend's clock, set by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class DeskSite:
    """A backend without a broker for the request tests: ingest and the staff desk on one SQLite
    file and one settable clock (2026-11-23 02:00 UTC), terminals T0001 and T0002 registered."""

    def __init__(self, tmp_path: Path, db_name: str):
        self.clock = SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
        self.db = Database(f"sqlite:///{tmp_path / db_name}")
        self.db.migrate()
        self.publisher = RecordingPublisher()
        sms = HeldSms()
        self.ingest = Ingest(
            self.db, BlobStore(tmp_path / "blobs"), sms, self.publisher, clock=self.clock
        )
        self.ingest.register_terminal(TERMINAL, KEY)
        self.ingest.register_terminal("T0002", KEY)
        self.desk = StaffDesk(self.db, self.publisher, sms, clock=self.clock)

    def feed(self, *messages: m.Message) -> IngestResult:
        return self.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])


def submission(no: str = "AH-T0001-20261120-0001", **changes: object) -> m.ApplicationSubmitted:
    """The canonical submission with a fresh message id and the given changes."""
    base = examples()["event.application_submitted"]
    fields = {"message_id": m.new_message_id(), "application_no": no, "operation_id": no}
    return base.model_copy(update=fields | changes)


def chunks(data: bytes, size: int, terminal_id: str = TERMINAL) -> list[m.BlobChunk]:
    """`data` cut into blob chunks of `size` bytes."""
    return m.blob_chunks(terminal_id, data, size)


def announced(sha_seed: int, size: int, terminal_id: str = TERMINAL) -> m.BlobChunk:
    """The first chunk of an upload announcing `size` bytes, of which it carries one."""
    return m.BlobChunk(
        terminal_id=terminal_id,
        sha256=hashlib.sha256(str(sha_seed).encode()).hexdigest(),
        index=0,
        count=m.MAX_BLOB_BYTES // m.BLOB_CHUNK_BYTES + 1,
        total_size=size,
        data=base64.b64encode(b"x").decode(),
    )


def material_for(data: bytes, code: str = "household-register") -> m.MaterialRef:
    return m.MaterialRef(
        material_code=code,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type="application/pdf",
        pages=1,
    )
