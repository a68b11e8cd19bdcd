"""An in-process lock board that records every pulse, for tests and the demo."""

from __future__ import annotations

import threading
from collections.abc import Callable

from devices.lock.door import PhysicalDoor
from devices.lock.port import LockFault


class EmulatedLockBoard:
    """A lock board with numbered channels (1..channels) that can be unplugged."""

    def __init__(self, channels: int = 16, *, name: str = "emulated-lock-board") -> None:
        if channels < 1:
            raise ValueError(f"a lock board needs at least one channel, got {channels}")
        self.channels = channels
        self.name = name
        # Tests assert on exactly what was driven, in order, like a Dummy printer's bytes.
        self.pulses: list[tuple[int, int]] = []
        self._connected = True
        self._faults = 0
        self._last_error: str | None = None
        self._lock = threading.Lock()

    def unplug(self) -> None:
        """Simulate the board's cable being pulled: every command fails until plug()."""
        with self._lock:
            self._connected = False

    def plug(self) -> None:
        """Reconnect the board."""
        with self._lock:
            self._connected = True

    def unlock(self, channel: int, pulse_ms: int) -> None:
        """Record a pulse; raise LockFault when unplugged or the channel does not exist."""
        if pulse_ms <= 0:
            raise ValueError(f"pulse_ms must be positive, got {pulse_ms}")
        with self._lock:
            if not self._connected:
                self._fail(f"{self.name} is unplugged")
            if not 1 <= channel <= self.channels:
                # A real board ignores or NAKs an unknown channel; either way nothing moved.
                self._fail(f"{self.name} refused channel {channel} (has 1..{self.channels})")
            self.pulses.append((channel, pulse_ms))

    def diagnostics(self) -> dict[str, object]:
        """Report connection state, channel count, pulse and fault counts."""
        with self._lock:
            return {
                "name": self.name,
                "driver": "emulated",
                "channels": self.channels,
                "connected": self._connected,
                "pulses": len(self.pulses),
                "faults": self._faults,
                "last_error": self._last_error,
            }

    def _fail(self, message: str) -> None:
        self._faults += 1
        self._last_error = message
        raise LockFault(message)


class EmulatedDoorBoard(EmulatedLockBoard):
    """An in-process lock board with door feedback: each channel drives one PhysicalDoor.

    The `emulated` board kind of the locker configuration, and the demo's board. The
    wire-level emulators (USB relay, RS-485) sit beside it in `devices.lock`.
    """

    def __init__(
        self,
        channels: int = 16,
        *,
        name: str = "emulated-door-board",
        doors: list[PhysicalDoor] | None = None,
        clock: Callable[[], float] | None = None,
        close_after_s: float | None = 2.0,
    ):
        super().__init__(channels, name=name)
        if doors is None:
            extra = {"clock": clock} if clock is not None else {}
            doors = [PhysicalDoor(close_after_s=close_after_s, **extra) for _ in range(channels)]
        if len(doors) != channels:
            raise ValueError(f"need one door per channel ({channels}), got {len(doors)}")
        self.doors = doors

    def door(self, channel: int) -> PhysicalDoor:
        """The door behind ``channel`` (1-based)."""
        return self.doors[channel - 1]

    def unlock(self, channel: int, pulse_ms: int) -> None:
        """Record the pulse, then release that door's latch."""
        super().unlock(channel, pulse_ms)
        self.door(channel).pulse()

    def read_doors(self) -> dict[int, bool]:
        """Input n -> whether door n stands open; LockFault when unplugged."""
        with self._lock:
            if not self._connected:
                self._fail(f"{self.name} is unplugged")
        return {n: door.is_open for n, door in enumerate(self.doors, start=1)}
