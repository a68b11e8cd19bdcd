"""Fixtures for terminal unit tests: a TerminalNode that is never started (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from terminal_unit_kiosk import NO_MATCH, Kiosk, build_kiosk


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    k = build_kiosk(tmp_path / "terminal")
    yield k
    k.node.stop()


@pytest.fixture
def failing_face_kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    k = build_kiosk(tmp_path / "terminal", face=NO_MATCH)
    yield k
    k.node.stop()
