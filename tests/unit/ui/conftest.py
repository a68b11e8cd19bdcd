"""Kivy runs offscreen with a private home in these tests (see tests/kivy_offscreen.py)."""

import kivy_offscreen  # noqa: F401 - must come before anything imports kivy
