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


@runtime_checkable
class DoorSensorPort(Protocol):
    """Door feedback: which sensed doors stand open right now.

    Lock-control boards report this for their channels; relay boards cannot, so a
    compartment on a relay board has a door sensor only if the locker configuration
    wires it to an input of some board that implements this port.
    """

    def read_doors(self) -> dict[int, bool]:
        """Input number -> True if that door is open, for every input the board senses.

        Raise LockFault if the board did not answer.
        """
        ...
