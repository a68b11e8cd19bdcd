"""Content-addressed storage of verified material files: `{root}/ab/abcdef...`."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .db import insert_missing
from .flushing import flush_parents_first, insert_row, is_holding
from .models import Blob, BlobChunkRow, Material, utcnow
from .outcomes import DUPLICATE, REJECTED, STORED, Applied, Refused

log = logging.getLogger(__name__)


# session.info keys: the SHA-256 of the batch's submitted files that were verified blobs when
# the batch began (ingest looks them up in one query, `hold_files`), and the files whose chunks
# the batch has applied since, which may have been verified meanwhile.
VERIFIED_BLOBS = "verified_blobs"
CHUNKED_BLOBS = "chunked_blobs"
# session.info key: the files a batch applied together has taken chunks of (`BlobIntake`).
_FILES = "blob_files"


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


def hold_files(session: Session, files: dict[str, tuple[int, int]]) -> set[str]:
    """Lock the rows of the files a batch names or sends chunks of until the transaction ends,
    making those not heard of yet ({sha256: (size, chunk count or 0 if not known)}); returns
    the ones verified.

    Materials are marked verified by whoever comes second: a submission naming a verified file,
    or the assembly of a file some stored submission names. Two workers doing both at once each
    missed the other's uncommitted rows, and the material stayed unverified for good. With the
    file's row locked on both sides, one waits for the other's commit and then sees its rows.

    Ingest locks every file of a batch here, first, in one SHA-256 order: a worker that took a
    file for a chunk while another held a file its submission named, each then wanting the
    other's, deadlocked (PostgreSQL broke it after a second and the batch went again). Locks
    taken later in the batch (`BlobIntake`, a supplement) are then held already. The lock is
    exclusive: a shared one raised to exclusive for a chunk deadlocks the same way. A row made
    here for a file only named is empty, `chunk_count` 0 until the first chunk says. SQLite
    has one writer at a time and needs no lock.
    """
    if not files:
        return set()
    now = utcnow()
    insert_missing(
        session,
        Blob,
        [_empty_row(sha, size, count, now) for sha, (size, count) in sorted(files.items())],
    )
    rows = session.execute(
        select(Blob.sha256, Blob.verified)
        .where(Blob.sha256.in_(files))
        .order_by(Blob.sha256)  # one order everywhere: two batches never lock crosswise
        .with_for_update()
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


@dataclass
class _File:
    """A file as one transaction has taken it so far: its locked row and the chunk indexes held."""

    blob: Blob
    held: set[int]


class BlobIntake:
    """Keeps chunks until a blob is whole, then assembles, verifies and stores it.

    A batch applied together (`backend.flushing.holding`) takes its chunks without a savepoint
    each: each file is read and locked once per batch, its chunks held for the batch's one
    INSERT, and a file made whole has the batch flushed before it is assembled. Each chunk in a
    savepoint of its own cost eight statements, most of a 48 KiB chunk's ingest.
    """

    def __init__(self, store: BlobStore, clock: Callable[[], datetime] = utcnow):
        self.store, self.clock = store, clock

    def accept(self, session: Session, msg: m.BlobChunk) -> Applied:
        """Take one chunk; idempotent by (sha256, index)."""
        raw = msg.raw()
        if msg.index >= msg.count:
            raise Refused(f"chunk index {msg.index} outside count {msg.count}")
        if len(raw) > m.BLOB_CHUNK_BYTES:
            raise Refused(f"chunk of {len(raw)} bytes exceeds {m.BLOB_CHUNK_BYTES}")
        # What this batch took of the file stays valid only while no savepoint can roll it back.
        files: dict[str, _File] = session.info.setdefault(_FILES, {}) if is_holding(session) else {}
        file = files.get(msg.sha256) or self._open(session, msg)
        files[msg.sha256] = file
        session.info.setdefault(CHUNKED_BLOBS, set()).add(msg.sha256)  # may be verified now
        blob = file.blob
        if blob.complete:
            return Applied(DUPLICATE)
        if (blob.total_size, blob.chunk_count) != (msg.total_size, msg.count):
            if file.held:
                raise Refused("chunk disagrees with earlier chunks on size or count")
            blob.total_size, blob.chunk_count = msg.total_size, msg.count
        if msg.index in file.held:
            return Applied(DUPLICATE)
        file.held.add(msg.index)
        insert_row(session, BlobChunkRow, sha256=msg.sha256, index=msg.index, data=raw)
        if len(file.held) < blob.chunk_count:
            return Applied(STORED)
        # The batch's chunks of it, and materials naming it, go in before it is assembled.
        flush_parents_first(session)
        return self._assemble(session, blob)

    def _open(self, session: Session, msg: m.BlobChunk) -> _File:
        """The file's row, locked until commit (two workers taking its last two chunks at once
        each counted only their own and neither assembled it), and the indexes of its chunks
        held. Ingest made and locked the row with the batch's other files (`hold_files`)."""
        blob = session.get(Blob, msg.sha256, with_for_update=True, populate_existing=True)
        assert blob is not None
        query = select(BlobChunkRow.index).where(BlobChunkRow.sha256 == msg.sha256)
        return _File(blob, set(session.scalars(query)))

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
        session.flush()  # a submission later in the batch asks the database (CHUNKED_BLOBS)
        log.info("blob %s assembled (%d bytes)", blob.sha256[:12], blob.total_size)
        return Applied(STORED)
