"""The physics of one compartment door, shared by the board emulators.

A real compartment has a spring latch: a pulse on the lock's coil releases it and
the door springs ajar; it stays open until somebody pushes it shut, and then the
latch catches again. A door can also jam (the latch releases, the door does not
move) or be forced (it opens with no pulse at all). The board emulators drive this
model from their wire protocol: a relay emulator calls `pulse()` when a channel is
energised, a lock-board emulator reads `is_open` for its feedback inputs.

Time is read from an injectable clock and evaluated lazily, so tests can step it
and no thread is needed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PhysicalDoor:
    """One door with a spring latch, a person who closes it, and ways to fail."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        close_after_s: float | None = 2.0,
        jammed: bool = False,
    ) -> None:
        """`close_after_s`: how long the person leaves the door open (None: never shuts it)."""
        self._clock = clock
        self.close_after_s = close_after_s
        self.jammed = jammed
        self._opened_at: float | None = None
        self._lock = threading.Lock()
        self.pulses = 0  # latch releases requested, jammed or not
        self.openings = 0  # times the door actually swung open
        self.forced = 0  # openings nobody commanded

    @property
    def is_open(self) -> bool:
        """Whether the door stands open now (the person may have shut it meanwhile)."""
        with self._lock:
            return self._settle()

    def pulse(self) -> None:
        """The lock coil was energised: the latch releases and the door springs ajar."""
        with self._lock:
            self.pulses += 1
            if self.jammed or self._settle():
                return
            self._opened_at = self._clock()
            self.openings += 1

    def force(self) -> None:
        """Somebody pries the door open without any command."""
        with self._lock:
            if self._settle():
                return
            self._opened_at = self._clock()
            self.openings += 1
            self.forced += 1

    def close(self) -> None:
        """Somebody pushes the door shut now."""
        with self._lock:
            self._opened_at = None

    def jam(self) -> None:
        """From now on the latch releases but the door does not move."""
        self.jammed = True

    def unjam(self) -> None:
        self.jammed = False

    def _settle(self) -> bool:
        if self._opened_at is None:
            return False
        if self.close_after_s is not None and (
            self._clock() - self._opened_at >= self.close_after_s
        ):
            self._opened_at = None
            return False
        return True
