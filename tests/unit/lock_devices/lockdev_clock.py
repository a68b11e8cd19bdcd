"""A clock the test steps by hand, for the door model and the drivers."""

from __future__ import annotations


class SteppedClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """A `time.sleep` stand-in: records the wait and moves the clock."""
        self.slept.append(seconds)
        self.now += seconds
