"""How far ingest is behind the broker, and whether it has stalled, for /healthz."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# Past this age the oldest unsettled message means ingest is stuck, not merely busy: a full
# batch of the slowest messages takes well under a second.
STALL_AFTER_S = 30.0


class IngestLag:
    """The age of the oldest message received but not yet settled, and the retry state."""

    def __init__(
        self,
        oldest_queued: Callable[[], float | None],
        stall_after_s: float = STALL_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._oldest_queued = oldest_queued
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._in_hand: float | None = None
        self._retrying = False
        self._last_settled: float | None = None

    def taking(self, oldest_received_at: float) -> None:
        """The worker took a batch whose oldest message arrived at `oldest_received_at`."""
        with self._lock:
            self._in_hand = oldest_received_at

    def done(self) -> None:
        """The worker finished the batch in hand."""
        with self._lock:
            self._in_hand, self._retrying = None, False
            self._last_settled = self._clock()

    def retrying(self, flag: bool) -> None:
        """A message failed and waits for another attempt (True) or has been settled (False)."""
        with self._lock:
            self._retrying = flag

    def report(self, queued: int, worker_alive: bool) -> dict[str, Any]:
        """Lag in seconds, queue depth, retry and stall flags."""
        now = self._clock()
        with self._lock:
            oldest = self._in_hand
            retrying, last = self._retrying, self._last_settled
        if oldest is None:
            oldest = self._oldest_queued()
        lag = max(0.0, now - oldest) if oldest is not None else 0.0
        return {
            "lag_s": round(lag, 3),
            "queued": queued,
            "retrying": retrying,
            "worker_alive": worker_alive,
            "stalled": (not worker_alive) or lag > self.stall_after_s,
            "last_batch_s_ago": None if last is None else round(now - last, 3),
        }
