"""The terminal's durable outbox: nothing leaves the terminal's memory before it is on disk.

A flow writes its business record and the messages that report it in one unit of work of the
terminal database (`with db.unit_of_work() as uow: ...; outbox.add(uow, event)`), and only then
tells the citizen "done". An entry leaves the outbox only when the backend's Settlement names its
message id: a broker PUBACK proves only that the broker has it, not that the backend stored it.

Material files are staged once, content-addressed, in the blob directory; each of their chunks
is its own outbox entry whose payload is cut from the file at send time, so an upload cut off
half-way resumes with the chunks that have no receipt yet, and the file is deleted when the last
chunk's receipt arrives.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from privacy.private_files import open_private, private_data_dir, private_dir

from .contract import messages as m
from .contract import topics
from .local_db import LocalDatabase, UnitOfWork

log = logging.getLogger(__name__)

_IN_MAX = 500  # sequence numbers in one IN (...) list


class OutboxError(RuntimeError):
    """The outbox could not stage or read an entry."""


@dataclass(frozen=True)
class BlobRef:
    """A staged material file."""

    sha256: str
    size: int
    content_type: str
    chunk_count: int


@dataclass(frozen=True)
class Entry:
    """One outbox row that is due to be sent."""

    seq: int
    message_id: str
    topic: str
    kind: str
    attempts: int


class Outbox:
    """A durable, ordered queue of upstream messages, settled by the backend's receipts.

    A repository on the terminal database: its rows are written in the caller's unit of work
    (`add`, `add_blob`) or in one of its own (`put`, `settle`).
    """

    def __init__(self, db: LocalDatabase, blob_dir: str | Path, terminal_id: str):
        self.db = db
        self.blob_dir = Path(blob_dir)
        self.terminal_id = topics.check_terminal_id(terminal_id)
        # Scans of the citizens' documents: 0700 (tightened, logged, if found wider).
        private_data_dir(self.blob_dir)
        self._lock = threading.RLock()  # guards _staged and the check-then-unlink of files
        self.changed = threading.Event()
        # Open sessions' scans not yet queued, by SHA-256: identical bytes share one file, so
        # a file goes only when no session holds it and no outbox entry refers to it.
        self._staged: Counter[str] = Counter()
        self.sends = 0  # entries handed to the broker since start, resends included
        self._sweep_orphans()

    def _sweep_orphans(self) -> None:
        """Delete files left by sessions a restart cut off: nothing will ever send them."""
        queued = {row[0] for row in self.db.read("SELECT sha256 FROM outbox_blobs")}
        for path in self.blob_dir.glob("*/*"):
            if path.is_file() and path.name.split(".")[0] not in queued:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ writing

    def add(self, uow: UnitOfWork, message: m.Message) -> None:
        """Queue one contract message in the caller's unit of work."""
        uow.execute(
            "INSERT INTO outbox (message_id, topic, kind, payload, created_at)"
            " VALUES (?, ?, 'message', ?, ?)",
            (message.message_id, message.topic(), message.encode(), time.time()),
        )
        uow.after_commit(self.changed.set)

    def add_blob(self, uow: UnitOfWork, blob: BlobRef) -> None:
        """Queue every chunk of a staged blob; the session's hold passes to the entries."""
        if not self.blob_path(blob.sha256).exists():
            raise OutboxError(f"blob {blob.sha256[:12]} was not staged")
        uow.execute(
            "INSERT OR IGNORE INTO outbox_blobs VALUES (?, ?, ?, ?, ?)",
            (blob.sha256, blob.size, blob.content_type, blob.chunk_count, time.time()),
        )
        topic = topics.blobs(self.terminal_id)
        now = time.time()
        uow.executemany(
            "INSERT INTO outbox (message_id, topic, kind, blob_sha, chunk_index, created_at)"
            " VALUES (?, ?, 'chunk', ?, ?, ?)",
            [(m.new_message_id(), topic, blob.sha256, i, now) for i in range(blob.chunk_count)],
        )

        def handed_over() -> None:
            with self._lock:
                self._release(blob.sha256)
            self.changed.set()

        uow.after_commit(handed_over)

    def put(self, message: m.Message) -> None:
        """Queue one message in its own unit of work."""
        with self.db.unit_of_work() as uow:
            self.add(uow, message)

    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256

    def stage_blob(self, data: bytes, content_type: str) -> BlobRef:
        """Write a material file to the blob directory under its SHA-256 and fsync it."""
        if not data:
            raise OutboxError("refusing to stage an empty file")
        if len(data) > m.MAX_BLOB_BYTES:
            raise OutboxError(f"file of {len(data)} bytes exceeds {m.MAX_BLOB_BYTES}")
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        with self._lock:
            self._staged[sha] += 1
        if not path.exists():
            private_dir(path.parent)
            tmp = path.with_suffix(".part")
            with open_private(tmp) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        count = -(-len(data) // m.BLOB_CHUNK_BYTES)
        return BlobRef(sha, len(data), content_type, count)

    def discard_staged(self, sha256: str) -> bool:
        """Release a session's hold on a staged file (cancelled, or scanned again).

        The file is deleted when no other session holds it and no outbox entry refers to it.
        """
        with self._lock:
            self._release(sha256)
            return self._delete_if_unused(sha256)

    def _release(self, sha256: str) -> None:
        if self._staged[sha256] > 1:
            self._staged[sha256] -= 1
        else:
            self._staged.pop(sha256, None)

    def _delete_if_unused(self, sha256: str) -> bool:
        """Unlink a file nobody holds or queues; call with the lock held."""
        if self._staged.get(sha256) or self.db.read(
            "SELECT 1 FROM outbox WHERE blob_sha = ? LIMIT 1", (sha256,)
        ):
            return False
        self.blob_path(sha256).unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------------ sending

    def reset_sent(self) -> None:
        """Make every entry due at once, as after a restart: duplicates are dropped upstream."""
        with self.db.unit_of_work() as uow:
            uow.execute("UPDATE outbox SET last_sent_at = NULL")
        self.changed.set()

    def due(self, limit: int, resend_after: float, now: float | None = None) -> list[Entry]:
        """Entries never sent, or sent more than `resend_after` seconds ago, oldest first."""
        cutoff = (now if now is not None else time.time()) - resend_after
        rows = self.db.read(
            "SELECT seq, message_id, topic, kind, attempts FROM outbox"
            " WHERE last_sent_at IS NULL OR last_sent_at < ? ORDER BY seq LIMIT ?",
            (cutoff, limit),
        )
        return [Entry(*row) for row in rows]

    def payload(self, entry: Entry) -> bytes:
        """The bytes to publish for an entry; chunks are cut from the staged file now."""
        rows = self.db.read(
            "SELECT o.payload, o.blob_sha, o.chunk_index, b.size, b.chunk_count"
            " FROM outbox o LEFT JOIN outbox_blobs b ON b.sha256 = o.blob_sha"
            " WHERE o.seq = ?",
            (entry.seq,),
        )
        if not rows:
            raise OutboxError(f"entry {entry.message_id} is gone")
        payload, sha, index, size, count = rows[0]
        if entry.kind == "message":
            return payload
        with open(self.blob_path(sha), "rb") as fh:
            fh.seek(index * m.BLOB_CHUNK_BYTES)
            data = fh.read(m.BLOB_CHUNK_BYTES)
        chunk = m.BlobChunk(
            message_id=entry.message_id,
            terminal_id=self.terminal_id,
            sha256=sha,
            index=index,
            count=count,
            total_size=size,
            data=base64.b64encode(data).decode(),
        )
        return chunk.encode()

    def mark_sent(self, seqs: list[int], now: float | None = None) -> None:
        """Entries handed to the broker: due again after the resend pause, if not settled."""
        at = now if now is not None else time.time()
        self._set_sent(seqs, "?, attempts = attempts + 1", (at,))
        self.sends += len(seqs)

    def make_due(self, seqs: list[int]) -> None:
        """Entries the broker had no subscriber for: due at once (see link_unheard)."""
        self._set_sent(seqs, "NULL", ())

    def _set_sent(self, seqs: list[int], value: str, params: tuple[float, ...]) -> None:
        # One statement per window, and no fsync: a send time lost in a power cut only makes
        # an entry due at once, as a restart does anyway (reset_sent).
        with self.db.unit_of_work(durable=False) as uow:
            for start in range(0, len(seqs), _IN_MAX):
                part = seqs[start : start + _IN_MAX]
                uow.execute(
                    f"UPDATE outbox SET last_sent_at = {value}"
                    f" WHERE seq IN ({','.join('?' * len(part))})",
                    (*params, *part),
                )

    # ------------------------------------------------------------------ settling

    def settle(self, items: list[m.ReceiptItem]) -> int:
        """Apply a receipt: stored and duplicate entries go, rejected ones go to dead letters."""
        removed = 0
        touched_blobs: set[str] = set()
        finished: list[str] = []
        with self.db.unit_of_work() as uow:
            for item in items:
                row = uow.execute(
                    "SELECT seq, topic, payload, blob_sha FROM outbox WHERE message_id = ?",
                    (item.message_id,),
                ).fetchone()
                if row is None:
                    continue  # already settled by an earlier copy of this receipt
                seq, topic, payload, sha = row
                if item.outcome == m.ReceiptOutcome.REJECTED:
                    log.error(
                        "backend rejected outbox entry %s on %s: %s",
                        item.message_id,
                        topic,
                        item.reason,
                    )
                    uow.execute(
                        "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?)",
                        (item.message_id, topic, payload, item.reason, time.time()),
                    )
                uow.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                removed += 1
                if sha:
                    touched_blobs.add(sha)
            for sha in touched_blobs:
                if not uow.execute(
                    "SELECT 1 FROM outbox WHERE blob_sha = ? LIMIT 1", (sha,)
                ).fetchone():
                    uow.execute("DELETE FROM outbox_blobs WHERE sha256 = ?", (sha,))
                    finished.append(sha)
        # Scans leave the terminal once the backend has every chunk (personal-data rule),
        # unless an open session has staged the same bytes again.
        with self._lock:
            for sha in finished:
                self._delete_if_unused(sha)
        if removed:
            self.changed.set()
        return removed

    # ------------------------------------------------------------------ inspection

    def backlog(self) -> int:
        """Entries still waiting for a receipt."""
        return self.db.read("SELECT COUNT(*) FROM outbox")[0][0]

    def dead_letters(self) -> list[tuple[str, str, str]]:
        """(message_id, topic, reason) of entries the backend refused."""
        return [
            (mid, topic, reason)
            for mid, topic, reason in self.db.read(
                "SELECT message_id, topic, reason FROM dead_letters ORDER BY at"
            )
        ]
