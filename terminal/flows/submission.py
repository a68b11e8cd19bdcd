"""After-hours submission as a state machine: identity, item, phone, materials, deposit, submit.

Nothing reaches the backend before `submit()`, which writes the local record, the
ApplicationSubmitted event, every material's chunks and the deposit event in one transaction.
Only after that commit does the citizen get a receipt, so a network or broker outage loses
nothing: the outbox sends it all when the link is back.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from PIL import Image

from cloud_bridge.contract import messages as m
from cloud_bridge.outbox import BlobRef
from devices.identity.port import IdentityDocument, IdentityReadError
from face.decision import FaceDecision
from locker.bank import DoorCheck
from locker.errors import DoorJammed, LockerError
from locker.layout import Size
from terminal.catalog import ServiceItem, UnknownItem, find_item
from terminal.flows.session import FlowError, TerminalParts, WrongStep

log = logging.getLogger(__name__)

MAX_FACE_ATTEMPTS = 3
PHONE = re.compile(r"^1[3-9][0-9]{9}$")


class Step(StrEnum):
    IDENTITY = "identity"
    FACE = "face"
    ITEM = "item"
    PHONE = "phone"
    MATERIALS = "materials"
    DEPOSIT = "deposit"
    REVIEW = "review"
    DONE = "done"
    CANCELLED = "cancelled"
    STAFF_ASSIST = "staff_assist"


@dataclass(frozen=True)
class ScannedMaterial:
    code: str
    blob: BlobRef
    pages: int


@dataclass(frozen=True)
class Receipt:
    """What the citizen takes home; printed by the kiosk."""

    application_no: str
    item_code: str
    item_name_zh: str
    item_name_en: str
    submitted_at: datetime
    materials: int
    deposit_compartment: str | None
    promised_days: int
    sent_now: bool  # False: recorded here and sent when the network is back


@dataclass
class SubmissionFlow:
    """One citizen's submission, from card to receipt."""

    parts: TerminalParts
    step: Step = Step.IDENTITY
    document: IdentityDocument | None = field(default=None, repr=False)
    face: FaceDecision | None = None
    face_attempts: int = 0
    item: ServiceItem | None = None
    phone: str | None = field(default=None, repr=False)
    application_no: str | None = None
    scanned: dict[str, ScannedMaterial] = field(default_factory=dict)
    deposit_compartment: str | None = None
    deposit_confirmed: bool = False
    # How the deposit door's opening was confirmed; UNSENSED/SENSOR_FAILED: ask the citizen.
    deposit_door: DoorCheck | None = None
    receipt: Receipt | None = None

    def _expect(self, *steps: Step) -> None:
        if self.step not in steps:
            raise WrongStep(f"cannot do that at step {self.step}")

    # ---------------------------------------------------------------- identity

    def read_identity(self, timeout_s: float = 30.0) -> IdentityDocument:
        """Read the citizen's document from the reader."""
        self._expect(Step.IDENTITY)
        try:
            self.document = self.parts.identity_reader.read(timeout_s)
        except IdentityReadError as exc:
            raise FlowError(exc.citizen_message) from exc
        self.step = Step.FACE
        return self.document

    def verify_face(self) -> FaceDecision:
        """Match the live face to the document photo; after 3 failures offer staff help."""
        self._expect(Step.FACE)
        assert self.document is not None
        frames = [self.parts.face_camera.capture()]
        decision = self.parts.face_verifier.verify(self.document.photo, frames)
        self.face_attempts += 1
        self.face = decision
        if decision.verified:
            self.step = Step.ITEM
        elif self.face_attempts >= MAX_FACE_ATTEMPTS:
            self.step = Step.STAFF_ASSIST
            raise FlowError(
                "Your face could not be matched to your card. A staff-assisted check is "
                "available during office hours."
            )
        else:
            raise FlowError("Your face did not match yet. Please look at the camera and try again.")
        return decision

    # ---------------------------------------------------------------- item and phone

    def choose_item(self, code: str) -> ServiceItem:
        self._expect(Step.ITEM)
        try:
            self.item = find_item(code, self.parts.catalog)
        except UnknownItem as exc:
            raise FlowError(str(exc)) from exc
        self.application_no = self.parts.store.next_application_no(self.parts.clock())
        self.step = Step.PHONE
        return self.item

    def enter_phone(self, phone: str) -> None:
        self._expect(Step.PHONE)
        phone = phone.strip().replace(" ", "")
        if not PHONE.match(phone):
            raise FlowError("Please enter an 11-digit mobile number starting with 1.")
        self.phone = phone
        self.step = Step.MATERIALS

    # ---------------------------------------------------------------- materials

    def missing_materials(self) -> list[str]:
        assert self.item is not None
        return [s.code for s in self.item.materials if s.required and s.code not in self.scanned]

    def scan_material(self, code: str) -> ScannedMaterial:
        """Capture each page of one material from the document camera into one PDF."""
        self._expect(Step.MATERIALS)
        assert self.item is not None
        spec = next((s for s in self.item.materials if s.code == code), None)
        if spec is None:
            raise FlowError(f"{code} is not a material of this service item.")
        camera = self.parts.document_camera(spec.name_en, spec.pages)
        pages = [Image.fromarray(camera.capture()) for _ in range(spec.pages)]
        buf = io.BytesIO()
        pages[0].save(buf, "PDF", resolution=150.0, save_all=True, append_images=pages[1:])
        blob = self.parts.outbox.stage_blob(buf.getvalue(), "application/pdf")
        if code in self.scanned:  # scanned again: the earlier file is no longer wanted
            self.parts.outbox.discard_staged(self.scanned[code].blob.sha256)
        scanned = ScannedMaterial(code, blob, spec.pages)
        self.scanned[code] = scanned
        return scanned

    def finish_materials(self) -> None:
        self._expect(Step.MATERIALS)
        missing = self.missing_materials()
        if missing:
            raise FlowError(f"Still needed: {', '.join(missing)}.")
        assert self.item is not None
        self.step = Step.DEPOSIT if self.item.originals_size else Step.REVIEW

    # ---------------------------------------------------------------- deposit

    def open_deposit(self) -> str:
        """Reserve and open a compartment for the paper originals.

        If `deposit_door_unconfirmed` afterwards, the compartment has no door sensor (or it
        did not answer): the screen asks "Did the door open?" and calls `deposit_door_opened`.
        """
        self._expect(Step.DEPOSIT)
        assert self.item and self.item.originals_size and self.application_no
        try:
            if self.deposit_compartment is None:
                slot = self.parts.locker.reserve_for_deposit(
                    self.application_no, Size(self.item.originals_size)
                )
                self.deposit_compartment = slot.id
            self.deposit_door = self.parts.locker.open(self.deposit_compartment, reason="deposit")
        except DoorJammed as exc:
            raise self._deposit_jammed() from exc
        except LockerError as exc:
            raise FlowError(str(exc)) from exc
        return self.deposit_compartment

    @property
    def deposit_door_unconfirmed(self) -> bool:
        """Whether the citizen must say if the deposit compartment's door opened."""
        return self.deposit_door is not None and self.deposit_door.awaiting

    def deposit_door_opened(self, yes: bool) -> None:
        """The citizen's answer for a door without a sensor: No pulses once more, then gives up."""
        self._expect(Step.DEPOSIT)
        if not self.deposit_door_unconfirmed or self.deposit_compartment is None:
            raise WrongStep("no door question is pending")
        try:
            if yes:
                self.parts.locker.confirm_opening(self.deposit_compartment)
                self.deposit_door = DoorCheck.CITIZEN
            else:
                self.deposit_door = self.parts.locker.report_not_opened(self.deposit_compartment)
        except DoorJammed as exc:
            raise self._deposit_jammed() from exc
        except LockerError as exc:
            raise FlowError(str(exc)) from exc

    def _deposit_jammed(self) -> FlowError:
        # The jammed compartment is out of service (empty; the locker raised the alarm). The
        # citizen may try another one: open_deposit reserves a new compartment.
        self.deposit_compartment = None
        self.deposit_door = None
        return FlowError(
            "That compartment did not open and has been taken out of service. Tap Open to "
            "get another compartment, or continue without depositing the originals."
        )

    def skip_deposit(self) -> None:
        """Go on without depositing originals (none free, or the citizen has none with them).

        The backend sees `deposit_expected = false` and can ask for a supplement.
        """
        self._expect(Step.DEPOSIT)
        if self.deposit_compartment is not None:
            raise WrongStep("a compartment is already open for the originals; close it first")
        self.step = Step.REVIEW

    def close_deposit(self) -> None:
        """The citizen closed the door on their originals."""
        self._expect(Step.DEPOSIT)
        if self.deposit_compartment is None:
            raise WrongStep("no compartment was opened")
        if self.deposit_door_unconfirmed:
            # "I put my papers in and closed the door" says the door did open.
            self.deposit_door_opened(True)
        self.parts.locker.confirm_deposit(self.deposit_compartment)
        self.deposit_confirmed = True
        self.step = Step.REVIEW

    # ---------------------------------------------------------------- submit

    def submit(self) -> Receipt:
        """Write everything durably, then hand out the receipt."""
        self._expect(Step.REVIEW)
        assert self.document and self.face and self.item and self.phone and self.application_no
        p = self.parts
        now = p.clock()
        event = m.ApplicationSubmitted(
            terminal_id=p.terminal_id,
            operation_id=self.application_no,
            application_no=self.application_no,
            item_code=self.item.code,
            applicant=m.Applicant(
                name=self.document.name,
                id_document_type=self.document.document_type,
                id_number=self.document.number,
                phone=self.phone,
            ),
            identity=m.IdentityDecision(
                method=m.IdentityMethod.FACE,
                verified=self.face.verified,
                face_distance=self.face.distance,
                threshold=self.face.threshold,
                liveness_passed=self.face.liveness_passed,
            ),
            materials=[
                m.MaterialRef(
                    material_code=s.code,
                    sha256=s.blob.sha256,
                    size=s.blob.size,
                    content_type=s.blob.content_type,
                    pages=s.pages,
                )
                for s in self.scanned.values()
            ],
            deposit_expected=self.deposit_confirmed,
            submitted_at=now,
        )
        with p.outbox.transaction() as tx:
            p.store.record_submission(
                tx,
                self.application_no,
                self.item.code,
                m.mask_id_number(self.document.number),
                now,
                self.deposit_compartment,
                len(self.scanned),
            )
            tx.add(event)
            for s in self.scanned.values():
                tx.add_blob(s.blob, p.terminal_id)
            if self.deposit_confirmed and self.deposit_compartment:
                tx.add(
                    m.MaterialsDeposited(
                        terminal_id=p.terminal_id,
                        operation_id=self.application_no,
                        application_no=self.application_no,
                        compartment_id=self.deposit_compartment,
                        deposited_at=now,
                    )
                )
        log.info("application %s recorded (%d materials)", self.application_no, len(self.scanned))
        self.receipt = Receipt(
            application_no=self.application_no,
            item_code=self.item.code,
            item_name_zh=self.item.name_zh,
            item_name_en=self.item.name_en,
            submitted_at=now,
            materials=len(self.scanned),
            deposit_compartment=self.deposit_compartment,
            promised_days=self.item.promised_days,
            sent_now=p.online(),
        )
        self.step = Step.DONE
        self.forget()
        return self.receipt

    # ---------------------------------------------------------------- leaving

    def cancel(self) -> None:
        """The citizen gave up or walked away: give back the compartment, forget them."""
        if self.step == Step.DONE:
            return
        for scanned in self.scanned.values():
            self.parts.outbox.discard_staged(scanned.blob.sha256)
        self.scanned.clear()
        stuck = False
        if self.deposit_compartment and not self.deposit_confirmed:
            self.parts.locker.abandon_opening(self.deposit_compartment)
            self.parts.locker.release(self.deposit_compartment)
        elif self.deposit_compartment:
            # Papers are inside: open once more so the citizen can take them back. If the lock
            # will not open, the compartment stays recorded as holding them (the locker has
            # raised a lock_fault alarm) and staff return them.
            try:
                self.parts.locker.open(self.deposit_compartment, reason="deposit returned")
                self.parts.locker.abandon_opening(self.deposit_compartment)
            except LockerError:
                log.error("compartment %s did not reopen on cancel", self.deposit_compartment)
                stuck = True
            else:
                self.parts.locker.release(self.deposit_compartment)
        self.step = Step.CANCELLED
        self.forget()
        if stuck:
            raise FlowError(
                "The compartment could not be opened to give your papers back. Staff have "
                "been alerted and will return them; please keep your application number."
            )

    def forget(self) -> None:
        """Drop every trace of the citizen from memory (the receipt keeps no personal data)."""
        self.document = None
        self.phone = None
        self.face = None
