"""An offline kiosk on emulated devices for UI unit tests (no broker: the link stays down)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from allhours.wiring import EmulatedDevices, emulated_terminal, new_pickup_code_key
from terminal.ui.driver import KioskDriver
from terminal.ui.idle import IdleWatch
from terminal.ui.kiosk import Kiosk

STAFF_PIN = "8642"


def pin_check(pin: str) -> bool:
    return hashlib.sha256(pin.encode()).digest() == hashlib.sha256(STAFF_PIN.encode()).digest()


class FakeClock:
    """Monotonic seconds a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def offline_kiosk(
    data_dir: Path, *, lang: str = "zh", strict: bool = True, **kw
) -> Iterator[tuple[KioskDriver, EmulatedDevices, bytes]]:
    key = new_pickup_code_key()
    node, devices = emulated_terminal(
        "T0001", data_dir, broker_host="127.0.0.1", broker_port=9, pickup_code_key=key
    )
    kw.setdefault("idle", IdleWatch(timeout_s=60, warn_s=10, clock=FakeClock()))
    kiosk = Kiosk(
        node, lang=lang, strict_i18n=strict, staff_check=pin_check, card_poll_s=0.02, **kw
    )
    drv = KioskDriver(kiosk)
    try:
        yield drv, devices, key
    finally:
        drv.close()
        node.stop()
