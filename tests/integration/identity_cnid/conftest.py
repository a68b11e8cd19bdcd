"""An emulated ID card reader on a pty, and a driver pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cnid_support import citizen_card

from devices.identity.cnid import CnIdReader
from devices.identity.cnid.emulator import CnIdReaderEmulator


@pytest.fixture
def emulator() -> Iterator[CnIdReaderEmulator]:
    emu = CnIdReaderEmulator(citizen_card()).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def reader(emulator: CnIdReaderEmulator) -> Iterator[CnIdReader]:
    r = CnIdReader(emulator.device, timeout_s=2.0)  # generous: CI machines are loaded
    try:
        yield r
    finally:
        r.close()
