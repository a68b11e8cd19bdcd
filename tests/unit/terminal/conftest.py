"""Fixtures for terminal unit tests: a TerminalNode that is never started (no network).

Some of these tests arm a pickup with the demo tour, which imports Kivy: it is set up offscreen
with our fonts first (tests/kivy_offscreen.py), else a later UI test in the same run finds Kivy
already imported without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kivy_offscreen  # noqa: F401 - must come before anything imports kivy
import pytest
from terminal_unit_kiosk import NO_MATCH, ZHANG_SAN_PASSPORT, Kiosk, build_kiosk


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    k = build_kiosk(tmp_path / "terminal")
    yield k
    k.node.stop()


@pytest.fixture
def passport_kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    """A kiosk whose reader holds a passport (ZHANG_SAN_PASSPORT)."""
    k = build_kiosk(tmp_path / "terminal", document=ZHANG_SAN_PASSPORT)
    yield k
    k.node.stop()


@pytest.fixture
def failing_face_kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    k = build_kiosk(tmp_path / "terminal", face=NO_MATCH)
    yield k
    k.node.stop()
