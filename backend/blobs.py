"""Content-addressed storage of verified material files: `{root}/ab/abcdef...`."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .models import Blob, BlobChunkRow, Material, utcnow
from .outcomes import DUPLICATE, REJECTED, STORED, Applied, Refused

log = logging.getLogger(__name__)


class BlobMismatch(ValueError):
    """Assembled bytes do not match the announced SHA-256 or size."""


class BlobStore:
    """Files named by their SHA-256, written atomically and only once verified."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put(self, sha256: str, total_size: int, parts: list[bytes]) -> Path:
        """Verify the concatenated parts against sha256 and size, then store them."""
        data = b"".join(parts)
        if len(data) != total_size:
            raise BlobMismatch(f"size {len(data)} != announced {total_size}")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobMismatch("sha256 of the assembled bytes differs from its name")
        path = self.path_for(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{sha256}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path


class BlobIntake:
    """Keeps chunks until a blob is whole, then assembles, verifies and stores it."""

    def __init__(self, store: BlobStore, clock: Callable[[], datetime] = utcnow):
        self.store, self.clock = store, clock

    def accept(self, session: Session, msg: m.BlobChunk) -> Applied:
        """Take one chunk; idempotent by (sha256, index)."""
        raw = msg.raw()
        if msg.index >= msg.count:
            raise Refused(f"chunk index {msg.index} outside count {msg.count}")
        if len(raw) > m.BLOB_CHUNK_BYTES:
            raise Refused(f"chunk of {len(raw)} bytes exceeds {m.BLOB_CHUNK_BYTES}")
        blob = session.get(Blob, msg.sha256)
        if blob is not None and blob.complete:
            return Applied(DUPLICATE)
        if blob is None:
            blob = Blob(sha256=msg.sha256, total_size=msg.total_size, chunk_count=msg.count)
            session.add(blob)
        elif (blob.total_size, blob.chunk_count) != (msg.total_size, msg.count):
            if self._chunks_held(session, msg.sha256):
                raise Refused("chunk disagrees with earlier chunks on size or count")
            blob.total_size, blob.chunk_count = msg.total_size, msg.count
        # One query says both whether this chunk is held already and how many are.
        held = set(
            session.scalars(select(BlobChunkRow.index).where(BlobChunkRow.sha256 == msg.sha256))
        )
        if msg.index in held:
            return Applied(DUPLICATE)
        session.add(BlobChunkRow(sha256=msg.sha256, index=msg.index, data=raw))
        session.flush()
        if len(held) + 1 < blob.chunk_count:
            return Applied(STORED)
        return self._assemble(session, blob)

    def _chunks_held(self, session: Session, sha256: str) -> int:
        query = select(func.count()).select_from(BlobChunkRow).where(BlobChunkRow.sha256 == sha256)
        return session.scalar(query) or 0

    def _assemble(self, session: Session, blob: Blob) -> Applied:
        parts = list(
            session.scalars(
                select(BlobChunkRow.data)
                .where(BlobChunkRow.sha256 == blob.sha256)
                .order_by(BlobChunkRow.index)
            )
        )
        session.execute(delete(BlobChunkRow).where(BlobChunkRow.sha256 == blob.sha256))
        try:
            path = self.store.put(blob.sha256, blob.total_size, parts)
        except BlobMismatch as exc:
            # Chunks are dropped: the terminal must send the whole file again.
            blob.failures += 1
            return Applied(REJECTED, f"blob {blob.sha256[:12]} failed verification: {exc}")
        blob.complete = blob.verified = True
        blob.storage_path = str(path)
        blob.completed_at = self.clock()
        session.execute(
            update(Material).where(Material.sha256 == blob.sha256).values(verified=True)
        )
        log.info("blob %s assembled (%d bytes)", blob.sha256[:12], blob.total_size)
        return Applied(STORED)
