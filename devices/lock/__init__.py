"""Locker lock boards: the port, drivers and emulators."""
