"""An in-process lock board that records every pulse, for tests and the demo."""

from __future__ import annotations

import threading

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
