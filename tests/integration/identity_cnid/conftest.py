"""An emulated ID card reader on a pty, and a driver pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.identity.cnid import CnIdReader
from devices.identity.cnid.card import check_digit
from devices.identity.cnid.emulator import CnIdReaderEmulator, EmulatedCard


def id_number(first17: str) -> str:
    return first17 + check_digit(first17)


CITIZEN_NUMBER = id_number("44030519870615413")


def citizen_card(**override) -> EmulatedCard:
    fields = {
        "name": "李华",
        "number": CITIZEN_NUMBER,
        "sex_code": "1",
        "ethnic_code": "08",
        "address": "广东省深圳市南山区科技园路1号",
        "authority": "深圳市公安局南山分局",
        "valid_from": "20180520",
        "valid_to": "20380520",
        "wlt": bytes((i * 7) % 256 for i in range(1024)),
    } | override
    return EmulatedCard.of(**fields)


@pytest.fixture
def emulator() -> Iterator[CnIdReaderEmulator]:
    emu = CnIdReaderEmulator(citizen_card()).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def reader(emulator: CnIdReaderEmulator) -> Iterator[CnIdReader]:
    r = CnIdReader(emulator.device, timeout_s=0.3)
    try:
        yield r
    finally:
        r.close()
