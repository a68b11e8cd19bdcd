"""Outbox entries the broker took with no backend to hand them to: sent again soon.

Mosquitto answers a QoS 1 PUBLISH that matched no subscription with PUBACK reason code 16,
"no matching subscribers", and drops it. That happens whenever no backend worker is subscribed:
none running, or after a broker restart until the workers subscribe again (Mosquitto 2.0 does
not restore shared subscriptions from its persistence). A terminal that reconnected first sent
its whole backlog into that gap and waited `resend_after_s` (10 s) for receipts that could not
come; every entry went out twice. An entry answered so is now due again after a short pause,
doubled for each round nobody hears, up to `resend_after_s`; a PUBACK that found a subscriber
starts the pause again from the shortest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

NO_MATCHING_SUBSCRIBERS = 16


class UnheardPublishes:
    """The PUBACK reason codes of the outbox's publishes, by MQTT packet id."""

    _EARLY_KEPT = 1024  # PUBACKs of publishes not from the outbox are kept at most this many

    def __init__(
        self, first_s: float, max_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.first_s, self.max_s = first_s, max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seq_of: dict[int, int] = {}  # packet id -> outbox seq, its PUBACK awaited
        self._early: dict[int, int] = {}  # PUBACKs that came before `sent` (id -> reason)
        self._unheard: list[int] = []
        self._since = 0.0
        self._pause = first_s
        self.count = 0  # entries that reached no subscriber, since start

    def sent(self, mid: int, seq: int) -> None:
        """The sender published outbox entry `seq` as packet `mid`."""
        # paho calls on_publish holding its own lock, so the PUBACK may come before this.
        with self._lock:
            reason = self._early.pop(mid, None)
            if reason is None:
                self._seq_of[mid] = seq
                return
        self._answered(seq, reason)

    def puback(self, mid: int, reason: int) -> None:
        """The broker answered packet `mid` with `reason` (paho's on_publish)."""
        with self._lock:
            seq = self._seq_of.pop(mid, None)
            if seq is None:
                if len(self._early) >= self._EARLY_KEPT:
                    self._early.clear()
                self._early[mid] = reason
                return
        self._answered(seq, reason)

    def _answered(self, seq: int, reason: int) -> None:
        with self._lock:
            if reason != NO_MATCHING_SUBSCRIBERS:
                self._pause = self.first_s
                return
            if not self._unheard:
                self._since = self._clock()
            self._unheard.append(seq)
            self.count += 1

    def forget(self) -> None:
        """A new connection: packet ids start over; what was awaited falls to the resend."""
        with self._lock:
            self._seq_of.clear()
            self._early.clear()

    def wait_s(self, longest: float) -> float:
        """How long the sender may sleep before unheard entries are due (at most `longest`)."""
        with self._lock:
            if not self._unheard:
                return longest
            return min(longest, max(0.01, self._since + self._pause - self._clock()))

    def due(self) -> list[int]:
        """The unheard entries whose pause is over; the next pause is twice as long."""
        with self._lock:
            if not self._unheard or self._clock() < self._since + self._pause:
                return []
            seqs, self._unheard = self._unheard, []
            self._pause = min(self._pause * 2, self.max_s)
        return seqs
