"""What every flow shares: the terminal's parts, and errors worded for the citizen."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import ServiceItem, builtin_catalog
from cloud_bridge.local_db import LocalDatabase
from cloud_bridge.outbox import Outbox
from devices.camera.port import FrameSource
from devices.identity.port import IdentityReader
from devices.identity.remote_verify.port import RemoteIdentityVerifier
from devices.storage.port import RemovableMedia
from face.decision import FaceVerifier
from locker.bank import LockerBank
from terminal.coded import CitizenError
from terminal.store import TerminalStore

if TYPE_CHECKING:
    from terminal.materials.on_file import OnFileLookup


class FlowError(CitizenError):
    """A step the citizen must redo or a state the flow cannot leave.

    `key` names the citizen's text in the catalogs, `params` fill it; str() is the English.
    """


class WrongStep(FlowError):
    """An action that does not belong to the flow's current step (a UI or script bug).

    The citizen is told to start again; `detail` says what went wrong, for the log.
    """

    def __init__(self, detail: str) -> None:
        super().__init__("flow.wrong_step")
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


@dataclass
class TerminalParts:
    """The devices and services a flow may use; the composition root builds one."""

    terminal_id: str
    db: LocalDatabase  # the terminal's database: flows open their units of work on it
    outbox: Outbox
    store: TerminalStore
    locker: LockerBank
    identity_reader: IdentityReader
    face_verifier: FaceVerifier
    face_camera: FrameSource
    document_camera: Callable[[str, int], FrameSource]
    catalog: tuple[ServiceItem, ...] = field(default_factory=lambda: builtin_catalog().items)
    # The version of the catalog those items come from, sent with each submission (the backend
    # takes the item's step days from it); None: not a catalog document's (a test's own items).
    catalog_version: str | None = field(default_factory=lambda: builtin_catalog().version)
    clock: Callable[[], datetime] = m.utcnow
    online: Callable[[], bool] = field(default=lambda: False)
    # The kiosk's face step: a live check (random blink/turn challenge, then the match) when
    # True; False keeps the single-frame FaceVerifier port, for flow tests and scripted demos.
    live_face_check: bool = False
    face_rng: random.Random | None = None  # None: the system's randomness
    # Matches the live face for cards read without a photo (no WLT decoder installed).
    remote_verifier: RemoteIdentityVerifier | None = None
    on_file: OnFileLookup | None = None  # materials the backend holds; None: no reuse
    removable_media: RemovableMedia | None = None  # USB sticks; None: no USB import
    # The fleet's applicant key (ADR 0003): a pickup that asks for the holder's identity
    # compares the card's applicant digest with the load's holder. None: no such pickups here.
    applicant_key: bytes | None = field(default=None, repr=False)
