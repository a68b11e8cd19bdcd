"""Content-addressed storage of verified material files: `{root}/ab/abcdef...`."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from privacy.private_files import open_private, private_dir, tighten

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
# session.info keys of a batch applied together (`BlobIntake`): the uploads it has taken chunks
# of, and the bytes each terminal holds towards its cap, counted once a batch.
_FILES = "blob_files"
_HELD = "blob_bytes_held"
# session.info key: the files whose rows this transaction made (`hold_files`).
_MADE = "blob_rows_made"
# The sender of chunks received before migration 0014, which did not record it.
SENDER_UNKNOWN = ""


@dataclass(frozen=True)
class BlobLimits:
    """What one terminal may hold in uploads not yet whole and in whole files no application
    names: what one stolen certificate can make the backend keep.

    Counted: each of its uploads not yet whole, at the size it announced, from its first chunk
    on, and each file it made whole that no application names (`Blob.held_for`). Retention
    deletes what no application names after `RetentionSettings.unclaimed_after`. A genuine
    terminal holds little: its outbox sends a submission before its files and a file's chunks
    in order, so it has one or two uploads part-way at a time; 512 MiB, eight files of the
    largest size, leaves it room to spare while a stolen certificate fills no disk.
    """

    held_per_terminal: int = 512 * 2**20

    def __post_init__(self) -> None:
        if self.held_per_terminal < m.MAX_BLOB_BYTES:
            raise ValueError(
                f"a terminal must be able to hold one file of {m.MAX_BLOB_BYTES} bytes, "
                f"not only {self.held_per_terminal}"
            )


class BlobMismatch(ValueError):
    """Assembled bytes do not match the announced SHA-256 or size."""


class OverCap(Refused):
    """A chunk starting an upload that would take its terminal past `BlobLimits`: refused, and
    a security alarm on the terminal (ingest raises one while it is live, not one a chunk)."""


class BlobStore:
    """Files named by their SHA-256, written atomically and only once verified.

    Scanned ID cards and forms: the directories are 0700 and the files 0600 from the first byte,
    whatever the umask (privacy/private_files.py). A store an earlier release left open to other
    users (0755) is tightened when the worker starts, and the log says so; its directory closed,
    the files in it are out of their reach."""

    def __init__(self, root: Path):
        self.root = Path(root)
        tighten(self.root)  # made 0700 with the first file, if missing

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
        private_dir(path.parent)  # with the root, if missing
        tmp = path.with_name(f".{sha256}.{os.getpid()}.tmp")
        with open_private(tmp) as f:
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
    here has the size and chunk count first heard (`chunk_count` 0 for a file only named); the
    file made whole sets them (each terminal's upload keeps its own on its chunks). SQLite has
    one writer at a time and needs no lock.
    """
    if not files:
        return set()
    now = utcnow()
    made = insert_missing(
        session,
        Blob,
        [_empty_row(sha, size, count, now) for sha, (size, count) in sorted(files.items())],
        returning=Blob.sha256,
    )
    session.info.setdefault(_MADE, set()).update(made)
    rows = session.execute(
        select(Blob.sha256, Blob.verified)
        .where(Blob.sha256.in_(files))
        .order_by(Blob.sha256)  # one order everywhere: two batches never lock crosswise
        .with_for_update()
    )
    return {sha for sha, verified in rows if verified}


def drop_unused(session: Session) -> None:
    """Delete the rows `hold_files` made in this transaction that nothing came to use: no chunk
    of the file kept, no material naming it (the messages that named it were refused), no
    failed assembly on record.

    Each refused chunk of a new file left such a row, kept until retention's 48 hours: a
    terminal past its cap, sending chunks of made-up files at broker speed, grew the table
    without bound. Only rows made here go: no other transaction has seen them, while one
    waiting for an older row's lock would find it gone."""
    made = session.info.pop(_MADE, set())
    if not made:
        return
    chunked = select(BlobChunkRow.sha256).where(BlobChunkRow.sha256 == Blob.sha256).exists()
    named = select(Material.id).where(Material.sha256 == Blob.sha256).exists()
    session.execute(
        delete(Blob)
        .where(Blob.sha256.in_(made), Blob.complete.is_(False), Blob.failures == 0)
        .where(~chunked, ~named)
        .execution_options(synchronize_session=False)
    )


# The key space of the per-terminal locks `hold_uploads` takes (PostgreSQL's two-key advisory
# locks never meet the one-key lock the migrations take).
_UPLOADS_LOCK_SPACE = 0x626C6F62  # "blob"


def hold_uploads(session: Session, terminal_ids: set[str]) -> None:
    """Hold each terminal's uploads until the transaction ends: what a batch sending chunks
    checks against `BlobLimits` before its commit.

    Without it two workers taking new uploads of one terminal at once each counted what was
    committed, not the other's, and both passed: with N workers a terminal could hold N caps.
    Holding the terminal, the second waits for the first's commit and then counts its upload.
    Taken at the batch's start after its files (`hold_files`), in one order of terminals, so two
    batches never wait for each other crosswise. SQLite has one writer at a time and needs no
    lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for terminal_id in sorted(terminal_ids):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:terminal))"),
            {"space": _UPLOADS_LOCK_SPACE, "terminal": terminal_id},
        )


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
    """One terminal's upload of a file as a transaction has taken it so far: the file's locked
    row, the chunk indexes the terminal holds, and the (size, count) they announced."""

    blob: Blob
    held: set[int]
    announced: tuple[int, int] | None


class BlobIntake:
    """Keeps chunks until a blob is whole, then assembles, verifies and stores it.

    Chunks are kept per (terminal, file): a terminal that sends chunks of a file another one is
    sending, with another size or count or wrong bytes, holds up only its own upload. The first
    upload made whole and verified makes the file, which every terminal then shares (a chunk of
    it is a duplicate).

    A batch applied together (`backend.flushing.holding`) takes its chunks without a savepoint
    each: each upload is read and locked once per batch, its chunks held for the batch's one
    INSERT, and a file made whole has the batch flushed before it is assembled. Each chunk in a
    savepoint of its own cost eight statements, most of a 48 KiB chunk's ingest.
    """

    def __init__(
        self,
        store: BlobStore,
        clock: Callable[[], datetime] = utcnow,
        limits: BlobLimits | None = None,
    ):
        self.store, self.clock = store, clock
        self.limits = limits or BlobLimits()

    def accept(self, session: Session, msg: m.BlobChunk) -> Applied:
        """Take one chunk; idempotent by (terminal, sha256, index)."""
        raw = msg.raw()
        if msg.index >= msg.count:
            raise Refused(f"chunk index {msg.index} outside count {msg.count}")
        if len(raw) > m.BLOB_CHUNK_BYTES:
            raise Refused(f"chunk of {len(raw)} bytes exceeds {m.BLOB_CHUNK_BYTES}")
        # What this batch took stays valid only while no savepoint can roll it back.
        holding = is_holding(session)
        files: dict[tuple[str, str], _File] = session.info.setdefault(_FILES, {}) if holding else {}
        key = (msg.terminal_id, msg.sha256)
        file = files.get(key) or self._open(session, msg)
        files[key] = file
        session.info.setdefault(CHUNKED_BLOBS, set()).add(msg.sha256)  # may be verified now
        blob = file.blob
        if blob.complete:
            return Applied(DUPLICATE)
        if file.announced is None:
            self._within_cap(session, msg, holding)
            file.announced = (msg.total_size, msg.count)
        elif file.announced != (msg.total_size, msg.count):
            raise Refused("chunk disagrees with earlier chunks on size or count")
        if msg.index in file.held:
            return Applied(DUPLICATE)
        file.held.add(msg.index)
        insert_row(
            session,
            BlobChunkRow,
            sha256=msg.sha256,
            terminal_id=msg.terminal_id,
            index=msg.index,
            data=raw,
            total_size=msg.total_size,
            count=msg.count,
            received_at=self.clock(),
        )
        if len(file.held) < msg.count:
            return Applied(STORED)
        # The batch's chunks of it, and materials naming it, go in before it is assembled.
        flush_parents_first(session)
        return self._assemble(session, blob, msg)

    def _open(self, session: Session, msg: m.BlobChunk) -> _File:
        """The file's row, locked until commit (two workers taking its last two chunks at once
        each counted only their own and neither assembled it), and the sender's upload of it.
        Ingest made and locked the row with the batch's other files (`hold_files`).

        Chunks kept from before 0014 (sender unknown) become the sender's upload when it has
        none and they agree with it: they are most likely its own, sent before the upgrade, and
        it will not send again what it had receipts for."""
        blob = session.get(Blob, msg.sha256, with_for_update=True, populate_existing=True)
        assert blob is not None
        rows = session.execute(
            select(
                BlobChunkRow.terminal_id,
                BlobChunkRow.index,
                BlobChunkRow.total_size,
                BlobChunkRow.count,
            ).where(
                BlobChunkRow.sha256 == msg.sha256,
                BlobChunkRow.terminal_id.in_((msg.terminal_id, SENDER_UNKNOWN)),
            )
        ).all()
        own = [r for r in rows if r.terminal_id == msg.terminal_id]
        unknown = [r for r in rows if r.terminal_id == SENDER_UNKNOWN]
        if (
            not own
            and unknown
            and {(r.total_size, r.count) for r in unknown} == {(msg.total_size, msg.count)}
        ):
            session.execute(
                update(BlobChunkRow)
                .where(
                    BlobChunkRow.sha256 == msg.sha256,
                    BlobChunkRow.terminal_id == SENDER_UNKNOWN,
                )
                .values(terminal_id=msg.terminal_id)
                .execution_options(synchronize_session=False)
            )
            own = unknown
        announced = (own[0].total_size, own[0].count) if own else None
        return _File(blob, {r.index for r in own}, announced)

    def _within_cap(self, session: Session, msg: m.BlobChunk, holding: bool) -> None:
        """Refuse a new upload that would take its terminal past `BlobLimits`; count it in."""
        counted: dict[str, int] = session.info.setdefault(_HELD, {}) if holding else {}
        terminal = msg.terminal_id
        if terminal not in counted:
            counted[terminal] = held_by(session, terminal)
        cap = self.limits.held_per_terminal
        if counted[terminal] + msg.total_size > cap:
            raise OverCap(
                f"over the cap: terminal {terminal} holds {counted[terminal]} bytes in uploads "
                f"not yet whole and files no application names; a file of {msg.total_size} "
                f"more passes its {cap}"
            )
        counted[terminal] += msg.total_size

    def _assemble(self, session: Session, blob: Blob, msg: m.BlobChunk) -> Applied:
        mine = (BlobChunkRow.sha256 == blob.sha256, BlobChunkRow.terminal_id == msg.terminal_id)
        parts = list(
            session.scalars(select(BlobChunkRow.data).where(*mine).order_by(BlobChunkRow.index))
        )
        try:
            path = self.store.put(blob.sha256, msg.total_size, parts)
        except BlobMismatch as exc:
            # The sender's chunks are dropped: it must send the whole file again. Another
            # terminal's upload of the file goes on.
            session.execute(delete(BlobChunkRow).where(*mine))
            blob.failures += 1
            return Applied(REJECTED, f"blob {blob.sha256[:12]} failed verification: {exc}")
        # Whole: every terminal's chunks of it are spare now.
        session.execute(delete(BlobChunkRow).where(BlobChunkRow.sha256 == blob.sha256))
        blob.complete = blob.verified = True
        blob.total_size, blob.chunk_count = msg.total_size, msg.count
        blob.storage_path = str(path)
        blob.completed_at = self.clock()
        named = session.execute(
            update(Material).where(Material.sha256 == blob.sha256).values(verified=True)
        )
        # Unnamed, it counts against its sender's cap until an application names it.
        blob.held_for = None if named.rowcount else msg.terminal_id
        session.flush()  # a submission later in the batch asks the database (CHUNKED_BLOBS)
        log.info("blob %s assembled (%d bytes)", blob.sha256[:12], blob.total_size)
        return Applied(STORED)


def held_by(session: Session, terminal_id: str) -> int:
    """Bytes `terminal_id` holds towards its cap: its uploads not yet whole at their announced
    size, and the files it made whole that no application names yet."""
    uploads = (
        select(func.max(BlobChunkRow.total_size).label("size"))
        .where(BlobChunkRow.terminal_id == terminal_id)
        .group_by(BlobChunkRow.sha256)
        .subquery()
    )
    named = select(Material.id).where(Material.sha256 == Blob.sha256).exists()
    whole = select(func.coalesce(func.sum(Blob.total_size), 0)).where(
        Blob.held_for == terminal_id, ~named
    )
    unfinished = select(func.coalesce(func.sum(uploads.c.size), 0))
    return int(session.scalar(select(unfinished.scalar_subquery() + whole.scalar_subquery())))
