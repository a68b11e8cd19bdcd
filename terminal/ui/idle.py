"""The idle countdown: after `timeout_s` without a touch, warn; after `warn_s` more, leave.

Plain Python with an injectable clock, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class IdleWatch:
    """Tracks the last touch of a citizen session."""

    timeout_s: float = 90.0
    warn_s: float = 20.0
    clock: Callable[[], float] = time.monotonic
    active: bool = False
    _last: float = field(default=0.0, init=False)

    def start(self) -> None:
        """A citizen session began (or a new screen appeared)."""
        self.active = True
        self._last = self.clock()

    def touch(self) -> None:
        if self.active:
            self._last = self.clock()

    def stop(self) -> None:
        self.active = False

    def idle_s(self) -> float:
        return self.clock() - self._last if self.active else 0.0

    def remaining_s(self) -> float:
        """Seconds left before the session is wiped, counting the warning."""
        return max(0.0, self.timeout_s + self.warn_s - self.idle_s())

    def state(self) -> str:
        """ "off", "ok", "warn" (show the countdown) or "expired" (wipe now)."""
        if not self.active:
            return "off"
        idle = self.idle_s()
        if idle >= self.timeout_s + self.warn_s:
            return "expired"
        return "warn" if idle >= self.timeout_s else "ok"
