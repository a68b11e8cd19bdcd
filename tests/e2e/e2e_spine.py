"""The e2e spine: a real Mosquitto, the real backend, an emulated terminal (fixture in conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from allhours.backend_host import BackendHost
from allhours.broker import PrivateMosquitto
from allhours.wiring import EmulatedDevices
from cloud_bridge.link import wait_until
from terminal.node import TerminalNode

TERMINAL = "T0001"


class ShiftableClock:
    """Real time plus an offset a test can move forward (lockouts, code expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Spine:
    broker: PrivateMosquitto
    backend: BackendHost
    node: TerminalNode
    devices: EmulatedDevices
    api: httpx.Client
    clock: ShiftableClock

    def detail(self, app_no: str) -> dict | None:
        r = self.api.get(f"/api/applications/{app_no}")
        return r.json() if r.status_code == 200 else None

    def wait(self, what: str, predicate, timeout: float = 30.0):
        value = wait_until(predicate, timeout, 0.1)
        assert value, f"timed out waiting for {what}"
        return value

    def wait_ingested(self, app_no: str, materials: int, timeout: float = 30.0) -> dict:
        def ok():
            d = self.detail(app_no)
            if (
                d
                and len(d["materials"]) == materials
                and all(x["verified"] for x in d["materials"])
            ):
                return d
            return None

        return self.wait(f"{app_no} ingested with {materials} verified files", ok, timeout)
