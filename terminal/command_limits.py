"""What a terminal accepts from the backend even when every signature holds (ADR 0007).

A stolen backend key, or a backend gone wrong, must still not be able to arm the whole bank in
a minute or hand out a code that lives for months: commands that arm a compartment are capped
per hour, and a code's lifetime is capped by the terminal's own setting.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CommandLimits:
    """The terminal's own bounds on signed commands."""

    # LoadResult and SetPickupCode together; a busy site loads a few dozen results a day.
    arming_per_hour: int = 60
    max_code_lifetime: timedelta = timedelta(days=8)
    # Out of service / back in service together: an operator changes a few a day; a stolen key
    # must not flap the terminal or its compartments all hour long.
    service_changes_per_hour: int = 30

    def __post_init__(self) -> None:
        if (
            self.arming_per_hour < 1
            or self.service_changes_per_hour < 1
            or self.max_code_lifetime <= timedelta(0)
        ):
            raise ValueError(
                "arming_per_hour, service_changes_per_hour and max_code_lifetime must be positive"
            )


class HourlyBudget:
    """A sliding hour of commands; `take` is False once the hour's `per_hour` are spent."""

    def __init__(self, per_hour: int):
        self.per_hour = per_hour
        self._taken: deque[datetime] = deque()
        self._lock = threading.Lock()

    def take(self, now: datetime) -> bool:
        with self._lock:
            while self._taken and now - self._taken[0] >= timedelta(hours=1):
                self._taken.popleft()
            if len(self._taken) >= self.per_hour:
                return False
            self._taken.append(now)
            return True


class ArmingBudget(HourlyBudget):
    """The hour's budget of arming commands, and the cap on a code's lifetime."""

    def __init__(self, limits: CommandLimits):
        super().__init__(limits.arming_per_hour)
        self.limits = limits

    def code_expiry(self, asked: datetime, now: datetime) -> datetime:
        """The expiry a code gets here: what the backend asked, or the terminal's cap if sooner."""
        return min(asked, now + self.limits.max_code_lifetime)
