"""Locker lock boards: the port, drivers and emulators."""

from devices.lock.emulated import EmulatedLockBoard
from devices.lock.port import LockFault, LockPort

__all__ = ["EmulatedLockBoard", "LockFault", "LockPort"]
