"""File modes in tests: the umask most systems start processes with, and what a mode is."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def default_umask() -> Iterator[None]:
    """Files 0644 and directories 0755 unless the code says otherwise (imported, it applies to
    every test of the importing module)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
