"""The emulated device set of a training terminal, and lock boards from a locker configuration.

The terminal itself is built by allhours.bootstrap, from settings."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from devices.camera.emulated import GeneratedPageSource
from devices.camera.face_emulator import LivePersonSource
from devices.camera.passport_scene import PassportPageSource
from devices.camera.port import FrameSource
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityReader
from devices.identity.remote_verify.port import RemoteIdentityVerifier
from devices.lock.door import PhysicalDoor
from devices.lock.emulated import EmulatedDoorBoard, EmulatedLockBoard
from devices.lock.port import LockPort
from devices.lock.rs485_board import Rs485LockBoard
from devices.lock.rs485_emulator import Rs485BoardEmulator
from devices.lock.usb_relay import UsbRelayBoard
from devices.lock.usb_relay_emulator import EmulatedRelayBoard, UsbRelayBackend
from devices.storage.emulated import EmulatedMedia, sample_documents
from face.decision import DEFAULT_THRESHOLD, FaceDecision, FixedFaceVerifier
from locker.boards import BoardSet
from locker.config import EMULATED, RS485, USBRELAY, LockerConfig, SupervisionSettings
from locker.layout import CompartmentSpec
from terminal.flows.identity import PASSPORT_PAGE
from terminal.node import TerminalDevices


@dataclass
class EmulatedDevices:
    """The emulated device set, kept so a script or test can drive and inspect it."""

    board: EmulatedDoorBoard = field(default_factory=EmulatedDoorBoard)
    # The card reader: scripted documents, or a reader port on an emulated chip (the eMRTD
    # reader over pcscd with a virtual passport).
    reader: IdentityReader = field(default_factory=ScriptedIdentityReader)
    face: FixedFaceVerifier = field(
        default_factory=lambda: FixedFaceVerifier(
            FaceDecision(
                matched=True, distance=0.38, threshold=DEFAULT_THRESHOLD, liveness_passed=True
            )
        )
    )

    # What the face camera films: a live person (the real face check runs on its frames) or
    # an attack such as a still photo held up; and the photo the card chip carries. None: the
    # fixed decision above, no camera work.
    live_person: FrameSource | None = None
    card_photo: bytes | None = field(default=None, repr=False)
    # The prompts' order in the live check (seeded for repeatable runs; None: the system's),
    # and the identity service asked when the card has no photo (None: staff-assisted).
    face_rng: random.Random | None = None
    remote_verifier: RemoteIdentityVerifier | None = None
    # The USB port: insert(sample_documents()) plugs in a stick with generated documents.
    stick: EmulatedMedia = field(default_factory=EmulatedMedia)
    # The locker's compartments; None: the default bank, every door with a sensor.
    layout: list[CompartmentSpec] | None = None
    # The locker's drivers on emulated wires (build_boards over emulate_locker, with the
    # configuration's door supervision) in place of `board`; None: `board`.
    boards: LockPort | None = None
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)

    @classmethod
    def with_live_face(cls, holder: str = "obama", card: str = "obama2") -> EmulatedDevices:
        """Devices whose face camera films a live person built from the sample photo `holder`,
        in real time at 10 frames a second as a camera does, and whose cards carry the sample
        photo `card` (the same person in another photo). For the demo, a USB stick with
        generated documents is already in the port."""
        from demo_support.samples import sample_bytes

        with Image.open(io.BytesIO(sample_bytes(card))) as img:
            img = img.convert("RGB")
            img.thumbnail((320, 640))  # about what a chip or card holds
            out = io.BytesIO()
            img.save(out, "JPEG", quality=90)
        return cls(
            live_person=LivePersonSource(sample_bytes(holder), fps=10.0),
            card_photo=out.getvalue(),
            stick=EmulatedMedia(preload=sample_documents),
        )

    # The passport the emulated citizen holds under the document camera (a generated photo page
    # whose MRZ reads); other titles are the generated pages of the materials.
    passport_seed: int = 3
    document_sessions: int = 0  # document camera sources handed out (scanning sessions)

    def document_camera(self, title: str, pages: int) -> FrameSource:
        self.document_sessions += 1
        if title == PASSPORT_PAGE:
            return PassportPageSource(self.passport_seed)
        return GeneratedPageSource(title, pages)

    def document_camera_diagnostics(self) -> dict[str, object]:
        """The emulated document camera reports like a device, so a training terminal's health
        lists it beside the others (it reported none, as if the terminal had no camera)."""
        return {"driver": "emulated-document-camera", "sessions": self.document_sessions}

    def terminal_devices(self) -> TerminalDevices:
        return TerminalDevices(
            lock=self.boards or self.board,
            identity_reader=self.reader,
            face_verifier=self.face,
            face_camera=self.live_person or GeneratedPageSource("live face", 1),
            document_camera=self.document_camera,
            document_camera_diagnostics=self.document_camera_diagnostics,
            live_face_check=self.live_person is not None,
            face_rng=self.face_rng,
            remote_verifier=self.remote_verifier,
            removable_media=self.stick,
        )


# ---------------------------------------------------------------- lock boards from configuration


@dataclass
class LockerEmulation:
    """Wire-level emulators built from a locker configuration (`--emulate`, tests, training).

    One PhysicalDoor per compartment, shared by whatever drives and senses it: the relay
    board's emulated firmware pulses it, the RS-485 board's emulated firmware reads it.
    """

    doors: dict[str, PhysicalDoor]
    relay_boards: dict[str, EmulatedRelayBoard] = field(default_factory=dict)
    relay_backend: UsbRelayBackend | None = None
    buses: dict[str, Rs485BoardEmulator] = field(default_factory=dict)  # configured port -> pty
    emulated_boards: dict[str, EmulatedDoorBoard] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop every RS-485 emulator thread and close its pty."""
        for bus in self.buses.values():
            bus.stop()


def emulate_locker(
    config: LockerConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
    close_after_s: float | None = 2.0,
    pace: bool = True,
) -> LockerEmulation:
    """Build (and start) the emulators a configuration describes; stop() them afterwards."""
    doors = {
        spec.id: PhysicalDoor(clock=clock, close_after_s=close_after_s)
        for spec in config.compartments
    }

    def door_at(board_id: str, number: int) -> PhysicalDoor:
        # A board's input n senses a compartment's door; else its lock n drives one; else a
        # door that nobody uses, so the emulated board has one per channel as hardware does.
        for spec in config.compartments:
            if spec.door is not None and (spec.door.board, spec.door.input) == (board_id, number):
                return doors[spec.id]
        for spec in config.compartments:
            if (spec.board, spec.channel) == (board_id, number):
                return doors[spec.id]
        return PhysicalDoor(clock=clock, close_after_s=close_after_s)

    emulation = LockerEmulation(doors)
    for n, board in enumerate(b for b in config.boards if b.kind == USBRELAY):
        relay_doors = []
        for channel in range(1, board.channels + 1):
            spec = next(
                (s for s in config.compartments if (s.board, s.channel) == (board.id, channel)),
                None,
            )
            relay_doors.append(doors[spec.id] if spec else PhysicalDoor(clock=clock))
        emulation.relay_boards[board.id] = EmulatedRelayBoard(
            board.serial or f"EMU{n:02d}", relay_doors, bus=1, address=2 + n, clock=clock
        )
    if emulation.relay_boards:
        emulation.relay_backend = UsbRelayBackend(list(emulation.relay_boards.values()))
    by_port: dict[str, dict[int, list[PhysicalDoor]]] = {}
    for board in (b for b in config.boards if b.kind == RS485):
        assert board.port is not None and board.address is not None
        by_port.setdefault(board.port, {})[board.address] = [
            door_at(board.id, n) for n in range(1, board.channels + 1)
        ]
    try:
        for port, boards in by_port.items():
            baudrate = next(b.baudrate for b in config.boards if b.port == port)
            emulation.buses[port] = Rs485BoardEmulator(boards, baudrate=baudrate, pace=pace).start()
    except BaseException:
        emulation.stop()
        raise
    emulation.emulated_boards = {
        b.id: EmulatedDoorBoard(
            b.channels,
            name=f"emulated {b.id}",
            clock=clock,
            close_after_s=close_after_s,
            doors=[door_at(b.id, n) for n in range(1, b.channels + 1)],
        )
        for b in config.boards
        if b.kind == EMULATED
    }
    return emulation


def build_boards(config: LockerConfig, emulation: LockerEmulation | None = None) -> BoardSet:
    """The drivers a configuration names; on `emulation`'s emulators when one is given.

    Nothing is opened here: each driver reaches its device on first use, so a missing
    board shows up as a LockFault (and in `allhours doctor`), not as a crash at start-up.
    """
    boards: dict[str, LockPort] = {}
    wires: dict[str, str] = {}
    try:
        for board in config.boards:
            if board.kind == USBRELAY:
                backend = emulation.relay_backend if emulation else None
                serial = board.serial
                if emulation is not None:
                    serial = emulation.relay_boards[board.id].serial
                boards[board.id] = UsbRelayBoard(serial, backend=backend)
            elif board.kind == RS485:
                assert board.port is not None and board.address is not None
                port = emulation.buses[board.port].port_path if emulation else board.port
                boards[board.id] = Rs485LockBoard(
                    port, board.address, channels=board.channels, baudrate=board.baudrate
                )
                wires[board.id] = f"serial:{board.port}"
            elif emulation is not None:
                boards[board.id] = emulation.emulated_boards[board.id]
            elif board.doors:
                boards[board.id] = EmulatedDoorBoard(board.channels, name=f"emulated {board.id}")
            else:
                boards[board.id] = EmulatedLockBoard(board.channels, name=f"emulated {board.id}")
    except BaseException:
        for driver in boards.values():
            close = getattr(driver, "close", None)
            if close is not None:
                close()
        raise
    return BoardSet(boards, wires=wires)
