"""Message factories for backend unit tests (a module, so tests can import it by name)."""

from __future__ import annotations

import base64
import hashlib

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

TERMINAL = "T0001"
KEY = bytes(range(32))


class RecordingPublisher:
    """Records the commands it was asked to publish, in order."""

    def __init__(self) -> None:
        self.sent: list[m.Message] = []

    def publish(self, message: m.Message) -> None:
        self.sent.append(message)


def submission(no: str = "AH-T0001-20261120-0001", **changes: object) -> m.ApplicationSubmitted:
    """The canonical submission with a fresh message id and the given changes."""
    base = examples()["event.application_submitted"]
    fields = {"message_id": m.new_message_id(), "application_no": no, "operation_id": no}
    return base.model_copy(update=fields | changes)


def chunks(data: bytes, size: int, terminal_id: str = TERMINAL) -> list[m.BlobChunk]:
    """`data` cut into blob chunks of `size` bytes."""
    sha = hashlib.sha256(data).hexdigest()
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        m.BlobChunk(
            terminal_id=terminal_id,
            sha256=sha,
            index=i,
            count=len(parts),
            total_size=len(data),
            data=base64.b64encode(p).decode(),
        )
        for i, p in enumerate(parts)
    ]


def material_for(data: bytes, code: str = "household-register") -> m.MaterialRef:
    return m.MaterialRef(
        material_code=code,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type="application/pdf",
        pages=1,
    )
