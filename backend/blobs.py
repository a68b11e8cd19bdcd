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

from .db import insert_missing
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


def hold_files(session: Session, files: dict[str, int]) -> set[str]:
    """Lock the rows of the files a submission names ({sha256: size}) until the transaction
    ends, making those not heard of yet; returns the ones verified.

    Materials are marked verified by whoever comes second: a submission naming a verified file,
    or the assembly of a file some stored submission names. Two workers doing both at once each
    missed the other's uncommitted rows, and the material stayed unverified for good. With the
    file's row locked on both sides (here shared, `BlobIntake` exclusive), one waits for the
    other's commit and then sees its rows. A row made here is empty: `chunk_count` 0 until the
    first chunk says. SQLite has one writer at a time and needs no lock.
    """
    if not files:
        return set()
    now = utcnow()
    insert_missing(
        session,
        Blob,
        [_empty_row(sha, size, 0, now) for sha, size in sorted(files.items())],
    )
    rows = session.execute(
        select(Blob.sha256, Blob.verified)
        .where(Blob.sha256.in_(files))
        .order_by(Blob.sha256)  # one order everywhere: two batches never lock crosswise
        .with_for_update(read=True)
    )
    return {sha for sha, verified in rows if verified}


def _empty_row(sha256: str, size: int, count: int, now: datetime) -> dict[str, object]:
    return {
        "sha256": sha256,
        "total_size": size,
        "chunk_count": count,
        "complete": False,
        "verified": False,
        "failures": 0,
        "first_chunk_at": now,
    }


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
        # The file's row, made if new, is locked until commit: two workers taking its last two
        # chunks at once each counted only their own and neither assembled it (hold_files).
        insert_missing(
            session, Blob, [_empty_row(msg.sha256, msg.total_size, msg.count, self.clock())]
        )
        blob = session.get(Blob, msg.sha256, with_for_update=True, populate_existing=True)
        assert blob is not None
        if blob.complete:
            return Applied(DUPLICATE)
        if (blob.total_size, blob.chunk_count) != (msg.total_size, msg.count):
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
