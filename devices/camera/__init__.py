"""Cameras and document cameras: the port, drivers and emulators."""
