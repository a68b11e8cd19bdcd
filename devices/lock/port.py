"""The lock port: what the locker domain may ask of a lock board, and nothing more."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class LockFault(Exception):
    """The board did not carry out a command (unplugged, no answer, refused)."""


@runtime_checkable
class LockPort(Protocol):
    """A board that energises one lock channel for a short pulse.

    Returning from ``unlock`` means the board accepted the command; it does NOT
    mean a door opened. Boards with door feedback report that through the door
    sensor port, so this port stays honest for boards that cannot sense doors.
    """

    def unlock(self, channel: int, pulse_ms: int) -> None:
        """Pulse ``channel`` for ``pulse_ms`` milliseconds; raise LockFault if the board did not."""
        ...

    def diagnostics(self) -> dict[str, object]:
        """Describe the board's health for `allhours doctor` and telemetry."""
        ...
