"""The one place that chooses real or emulated parts and builds a terminal from them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cloud_bridge.contract.messages import utcnow
from cloud_bridge.link import LinkSettings
from devices.camera.emulated import GeneratedPageSource
from devices.identity.emulated import ScriptedIdentityReader
from devices.lock.emulated import EmulatedLockBoard
from face.decision import DEFAULT_THRESHOLD, FaceDecision, FixedFaceVerifier
from locker.layout import CompartmentSpec, default_layout
from terminal.node import TerminalDevices, TerminalNode


@dataclass
class EmulatedDevices:
    """The emulated device set, kept so a script or test can drive and inspect it."""

    board: EmulatedLockBoard = field(default_factory=EmulatedLockBoard)
    reader: ScriptedIdentityReader = field(default_factory=ScriptedIdentityReader)
    face: FixedFaceVerifier = field(
        default_factory=lambda: FixedFaceVerifier(
            FaceDecision(
                matched=True, distance=0.38, threshold=DEFAULT_THRESHOLD, liveness_passed=True
            )
        )
    )

    def terminal_devices(self) -> TerminalDevices:
        return TerminalDevices(
            lock=self.board,
            identity_reader=self.reader,
            face_verifier=self.face,
            face_camera=GeneratedPageSource("live face", 1),
            document_camera=lambda title, pages: GeneratedPageSource(title, pages),
        )


def new_pickup_code_key() -> bytes:
    """A fresh per-terminal pickup-code key (provisioning delivers it in production)."""
    return secrets.token_bytes(32)


def emulated_terminal(
    terminal_id: str,
    data_dir: Path,
    *,
    broker_host: str,
    broker_port: int,
    pickup_code_key: bytes,
    layout: list[CompartmentSpec] | None = None,
    devices: EmulatedDevices | None = None,
    telemetry_interval_s: float = 30.0,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[TerminalNode, EmulatedDevices]:
    """A terminal node on emulated devices, linked to the given broker (not yet started)."""
    devices = devices or EmulatedDevices()
    node = TerminalNode(
        terminal_id,
        data_dir,
        devices.terminal_devices(),
        layout or default_layout(),
        pickup_code_key=pickup_code_key,
        link=LinkSettings(
            host=broker_host, port=broker_port, telemetry_interval_s=telemetry_interval_s
        ),
        clock=clock,
    )
    return node, devices
