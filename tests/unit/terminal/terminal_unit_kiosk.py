"""Builds a training terminal in tmp_path through the bootstrap, with a hand-moved clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from devices.camera.port import FrameSource
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityDocument
from devices.lock.emulated import EmulatedDoorBoard
from face.decision import FaceDecision, FixedFaceVerifier
from terminal.node import TerminalNode

TERMINAL = "T0001"
KEY = b"pickup-code-key-of-T0001"
MATCH = FaceDecision(matched=True, distance=0.31, threshold=0.5, liveness_passed=True)
NO_MATCH = FaceDecision(matched=False, distance=0.72, threshold=0.5, liveness_passed=True)
ZHANG_SAN = IdentityDocument(
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    photo=b"\xff\xd8 not really a jpeg",
)
ZHANG_SAN_PASSPORT = IdentityDocument(
    document_type="passport",
    name="ZHANG SAN",
    number="E12345678",
    photo=b"\xff\xd8 not really a jpeg",
    # As the eMRTD reader reports a passport the kiosk takes: traced to a configured CSCA, and
    # its chip proved genuine (terminal.flows.identity.travel_document_refusal).
    authenticity="issuer_verified",
    chip_proof="passed",
)


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Kiosk:
    """One terminal's node with its emulated parts in reach."""

    node: TerminalNode
    board: EmulatedDoorBoard
    reader: ScriptedIdentityReader
    verifier: FixedFaceVerifier
    clock: Clock
    cameras: list[FrameSource] = field(default_factory=list)

    def channel_of(self, compartment_id: str) -> int:
        return next(
            c.spec.channel for c in self.node.locker.compartments() if c.id == compartment_id
        )

    def messages(self, cls: type[m.Message] | None = None) -> list[m.Message]:
        """Decoded messages waiting in the outbox (not chunks), oldest first."""
        rows = self.node.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
        decoded = [m.decode(p) for (p,) in rows]
        return [x for x in decoded if cls is None or isinstance(x, cls)]


@dataclass
class RecordingDevices(EmulatedDevices):
    """The training device set, keeping every document camera the flows asked for."""

    cameras: list[FrameSource] = field(default_factory=list)

    def document_camera(self, title: str, pages: int) -> FrameSource:
        self.cameras.append(super().document_camera(title, pages))
        return self.cameras[-1]


def build_kiosk(
    data_dir: Path, face: FaceDecision = MATCH, document: IdentityDocument = ZHANG_SAN
) -> Kiosk:
    """A training terminal built by the bootstrap on an enrollment carrying KEY, `document` on
    its reader; its broker (port 9) is never started: no network in unit tests."""
    clock = Clock()
    devices = RecordingDevices(
        board=EmulatedDoorBoard(),  # doors with sensors: an opening is confirmed by the board
        reader=ScriptedIdentityReader([document]),
        face=FixedFaceVerifier(face),
    )
    terminal = training_terminal(
        enrolled_offline(data_dir, TERMINAL, pickup_code_key=KEY), devices=devices, clock=clock
    )
    return Kiosk(terminal.node, devices.board, devices.reader, devices.face, clock, devices.cameras)
