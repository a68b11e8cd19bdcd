"""A scripted identity reader: hands out the documents a test or demo script names, in order."""

from __future__ import annotations

from collections import deque

from .port import IdentityDocument, NoDocument


class ScriptedIdentityReader:
    """Returns queued documents one by one; NoDocument when the queue is empty.

    It stands for an ID-card reader: it needs no MRZ key.
    """

    needs_mrz_key = False

    def __init__(self, documents: list[IdentityDocument] | None = None):
        self._queue: deque[IdentityDocument | Exception] = deque(documents or [])
        self.reads = 0

    def place(self, document: IdentityDocument) -> None:
        """Put a document on the reader for the next read."""
        self._queue.append(document)

    def place_unreadable(self, error: Exception) -> None:
        """The next read fails as a real reader's would (wrong MRZ, a cloned chip, ...)."""
        self._queue.append(error)

    def read(self, timeout_s: float) -> IdentityDocument:
        self.reads += 1
        if not self._queue:
            raise NoDocument("no document on the scripted reader")
        item = self._queue.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "scripted", "queued": len(self._queue), "reads": self.reads}
