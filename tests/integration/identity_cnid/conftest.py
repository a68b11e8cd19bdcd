"""An emulated ID card reader on a pty and a driver pointed at it; the locker board and the
receipt printer a real-device terminal is configured with, each a wire-level emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cnid_support import LOCKER, citizen_card

from allhours.wiring import emulate_locker
from devices.identity.cnid import CnIdReader
from devices.identity.cnid.emulator import CnIdReaderEmulator
from devices.printer.emulator import EscposPrinterEmulator
from locker.config import load_locker_config


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


@pytest.fixture
def rs485(tmp_path):
    """The locker board's emulated firmware on a pty, as the devices file will name it."""
    template = tmp_path / "template.toml"
    template.write_text(LOCKER.format(port="/dev/ttyUSB9"))
    emulation = emulate_locker(load_locker_config(template))
    yield emulation.buses["/dev/ttyUSB9"].port_path
    emulation.stop()


@pytest.fixture
def printer():
    emulator = EscposPrinterEmulator().start()
    yield emulator
    emulator.stop()
