"""After-hours submission as a state machine: identity, item, phone, materials, deposit, submit.

Nothing reaches the backend before `submit()`, which writes the local record, the
ApplicationSubmitted event, every material's chunks and the deposit event in one transaction.
Only after that commit does the citizen get a receipt, so a network or broker outage loses
nothing: the outbox sends it all when the link is back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import MaterialSpec, ServiceItem, UnknownItem, find_item
from cloud_bridge.outbox import BlobRef
from devices.identity.port import IdentityDocument
from face.check import FaceCheck
from face.decision import FaceDecision
from locker.bank import DoorCheck
from locker.errors import (
    CompartmentOutOfService,
    DoorJammed,
    DoorStillOpen,
    LockerError,
    NoCompartmentFree,
    OpeningUnconfirmed,
)
from locker.layout import Size
from terminal.flows.identity import IdentitySteps
from terminal.flows.session import FlowError, TerminalParts, WrongStep
from terminal.materials.capture import full_resolution_grab
from terminal.materials.checklist import Checklist, ChecklistError, MaterialStatus, OnFile
from terminal.materials.pdf import material_content
from terminal.materials.pipeline import PageResult, process_frame
from terminal.materials.quality import REASONS
from terminal.materials.usb_import import ImportedFile, pages_to_pdf

log = logging.getLogger(__name__)

PHONE = re.compile(r"^1[3-9][0-9]{9}$")

# Compartments one session may take out of service: a door that stays shut (or, without a
# sensor, two "No, it did not open") ends the deposit. Without a limit one citizen answering
# "No" walked the whole bank out of service, each door really opening twice.
DEPOSIT_JAMS_PER_SESSION = 1


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


def deposit_error_key(exc: LockerError) -> str:
    """What the citizen is told when the deposit compartment cannot be had or opened."""
    if isinstance(exc, NoCompartmentFree):
        return "deposit.error.none_free"
    if isinstance(exc, CompartmentOutOfService):
        return "deposit.error.out_of_service"
    return "deposit.error.fault"


class PageRefused(FlowError):
    """A scanned page failed a quality check; `reason` is a code of the pipeline's REASONS table
    (no_page, cut_off, too_small, skewed, blurred, glare), worded there in zh and en."""

    def __init__(self, page: int, reason: str, material: str):
        self.page = page
        self.reason = reason
        self.material = material
        super().__init__(
            f"scan.reason.{reason}" if reason in REASONS else "scan.reason.unreadable", page=page
        )


@dataclass(frozen=True)
class ScannedMaterial:
    code: str
    blob: BlobRef
    pages: int


@dataclass(frozen=True)
class OwedMaterial:
    """A material tolerated missing (容缺): the citizen supplies it within `working_days`."""

    code: str
    name_zh: str
    name_en: str
    working_days: int


@dataclass(frozen=True)
class SubmissionReceipt:
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
    reused: int = 0  # materials taken from what the backend holds for the applicant
    owed: tuple[OwedMaterial, ...] = ()  # to supply later, each within its working days


@dataclass
class SubmissionFlow(IdentitySteps):
    """One citizen's submission, from card to receipt."""

    IDENTITY_STEP = Step.IDENTITY
    RETURN_SCREEN = "materials"  # where the scan and USB screens go back to
    FACE_STEP = Step.FACE
    VERIFIED_STEP = Step.ITEM
    STAFF_STEP = Step.STAFF_ASSIST

    parts: TerminalParts
    step: Step = Step.IDENTITY
    document: IdentityDocument | None = field(default=None, repr=False)
    face: FaceDecision | None = None
    face_attempts: int = 0
    item: ServiceItem | None = None
    phone: str | None = field(default=None, repr=False)
    application_no: str | None = None
    scanned: dict[str, ScannedMaterial] = field(default_factory=dict)  # scanned or imported
    checklist: Checklist | None = None
    deposit_compartment: str | None = None
    deposit_confirmed: bool = False
    # How the deposit door's opening was confirmed; UNSENSED/SENSOR_FAILED: ask the citizen.
    deposit_door: DoorCheck | None = None
    # Compartments this session jammed (DEPOSIT_JAMS_PER_SESSION at most), and whether the
    # reserved compartment's door may have opened (a pulse went out): then papers may be in it.
    deposit_jams: int = 0
    deposit_door_pulsed: bool = False
    receipt: SubmissionReceipt | None = None
    _face_check: FaceCheck | None = field(default=None, init=False, repr=False)

    # ---------------------------------------------------------------- item and phone

    def choose_item(self, code: str) -> ServiceItem:
        self._expect_step(Step.ITEM)
        try:
            self.item = find_item(code, self.parts.catalog)
        except UnknownItem as exc:
            raise FlowError("flow.item_unknown") from exc
        self.application_no = self.parts.store.next_application_no(self.parts.clock())
        self.checklist = Checklist(self.item)
        self.step = Step.PHONE
        return self.item

    def enter_phone(self, phone: str) -> None:
        self._expect_step(Step.PHONE)
        phone = phone.strip().replace(" ", "")
        if not PHONE.match(phone):
            raise FlowError("phone.invalid")
        self.phone = phone
        self.step = Step.MATERIALS

    # ---------------------------------------------------------------- materials

    def missing_materials(self) -> list[str]:
        """Codes of the required materials with no file, no reuse and no tolerance yet."""
        assert self.checklist is not None
        return [e.spec.code for e in self.checklist.still_needed()]

    def material_spec(self, code: str) -> MaterialSpec:
        """The item's material `code`, for the scan and USB screens."""
        assert self.item is not None
        return next(s for s in self.item.materials if s.code == code)

    def _spec(self, code: str) -> MaterialSpec:
        assert self.checklist is not None
        try:
            return self.checklist.entry(code).spec
        except ChecklistError as exc:
            raise FlowError(exc.key, **exc.params) from exc

    def _drop_file(self, code: str) -> None:
        if code in self.scanned:  # replaced: the earlier file is no longer wanted
            self.parts.outbox.discard_staged(self.scanned.pop(code).blob.sha256)

    def _keep_file(
        self, code: str, data: bytes, pages: int, how: MaterialStatus
    ) -> ScannedMaterial:
        assert self.checklist is not None
        try:
            self.checklist.provided(code, how)
        except ChecklistError as exc:
            raise FlowError(exc.key, **exc.params) from exc
        blob = self.parts.outbox.stage_blob(data, "application/pdf")
        self._drop_file(code)
        scanned = ScannedMaterial(code, blob, pages)
        self.scanned[code] = scanned
        return scanned

    def offer_reuse(self) -> list[OnFile]:
        """Ask the backend which of this item's materials it holds for the citizen.

        Blocks up to the lookup's timeout (run it off the UI thread). Offline or unanswered:
        nothing is offered and every material is scanned as usual.
        """
        self._expect_step(Step.MATERIALS)
        assert self.checklist and self.document and self.application_no
        lookup = self.parts.on_file
        codes = self.checklist.reusable_codes()
        if lookup is None or not lookup.enabled or not codes:
            return []
        held = lookup.ask(
            f"{self.application_no}#on-file",
            self.document.document_type,
            self.document.number,
            codes,
        )
        # Validity is counted in the service's calendar days, as the backend counts them.
        today = self.parts.clock().astimezone(m.SERVICE_TZ).date()
        return self.checklist.take_offers(held or [], today)

    def reuse_material(self, code: str) -> OnFile:
        """The citizen takes the file the backend holds instead of scanning it again."""
        self._expect_step(Step.MATERIALS)
        assert self.checklist is not None
        try:
            offer = self.checklist.reuse(code)
        except ChecklistError as exc:
            raise FlowError(exc.key, **exc.params) from exc
        self._drop_file(code)
        return offer

    def tolerate_material(self, code: str) -> int:
        """The citizen will supply `code` later (容缺); returns the working days allowed."""
        self._expect_step(Step.MATERIALS)
        assert self.checklist is not None
        try:
            days = self.checklist.tolerate(code)
        except ChecklistError as exc:
            raise FlowError(exc.key, **exc.params) from exc
        self._drop_file(code)
        return days

    def scan_material(self, code: str) -> ScannedMaterial:
        """Capture each page of one material from the document camera into one PDF.

        Each page is one full-resolution grab (the citizen pressed "capture") through the page
        pipeline: found, judged, straightened, turned upright and enhanced. A page that fails a
        check is refused with the reason in the citizen's words, and nothing of the material is
        kept, so they can place it again.
        """
        self._expect_step(Step.MATERIALS)
        spec = self._spec(code)
        grab = full_resolution_grab(self.parts.document_camera(spec.name_en, spec.pages))
        pages = []
        for number in range(1, spec.pages + 1):
            page = process_frame(grab())
            if page.reasons:
                raise PageRefused(number, page.reasons[0], spec.name_en)
            pages.append(page)
        content = material_content(pages)
        return self._keep_file(code, content.data, content.pages, MaterialStatus.SCANNED)

    def add_scanned_pages(self, code: str, pages: Sequence[PageResult]) -> ScannedMaterial:
        """One material from pages the kiosk's auto-capture already took and judged.

        Every page must have passed the pipeline (a refused or unfinished one raises
        PageRefused), and there must be as many as the material has.
        """
        self._expect_step(Step.MATERIALS)
        spec = self._spec(code)
        if len(pages) != spec.pages:
            raise FlowError(
                "scan.error.page_count",
                name_zh=spec.name_zh,
                name_en=spec.name_en,
                pages=spec.pages,
                taken=len(pages),
            )
        for number, page in enumerate(pages, 1):
            if page.reasons or page.page is None:
                raise PageRefused(number, (page.reasons or ("no_page",))[0], spec.name_en)
        content = material_content(pages)
        return self._keep_file(code, content.data, content.pages, MaterialStatus.SCANNED)

    def import_material(self, code: str, files: Sequence[ImportedFile]) -> ScannedMaterial:
        """One material from files the citizen picked on a USB stick (after the preview)."""
        self._expect_step(Step.MATERIALS)
        self._spec(code)
        pages = [page for f in files for page in f.pages]
        if not pages:
            raise FlowError("usb.error.no_file")
        return self._keep_file(code, pages_to_pdf(pages), len(pages), MaterialStatus.IMPORTED)

    def finish_materials(self) -> None:
        self._expect_step(Step.MATERIALS)
        assert self.item is not None and self.checklist is not None
        needed = self.checklist.still_needed()
        if needed:
            raise FlowError(
                "materials.error.still_needed",
                names_zh="、".join(e.spec.name_zh for e in needed),
                names_en=", ".join(f"{e.spec.name_en} ({e.spec.code})" for e in needed),
            )
        self.step = Step.DEPOSIT if self.item.originals_size else Step.REVIEW

    # ---------------------------------------------------------------- deposit

    def open_deposit(self) -> str:
        """Reserve and open a compartment for the paper originals.

        If `deposit_door_unconfirmed` afterwards, the compartment has no door sensor (or it
        did not answer): the screen asks "Did the door open?" and calls `deposit_door_opened`.
        Once the session jammed a compartment nothing more opens (`deposit_can_open`): the
        citizen goes on without depositing.
        """
        self._expect_step(Step.DEPOSIT)
        assert self.item and self.item.originals_size and self.application_no
        if not self.deposit_can_open:
            raise FlowError("deposit.error.no_more")
        try:
            if self.deposit_compartment is None:
                slot = self.parts.locker.reserve_for_deposit(
                    self.application_no, Size(self.item.originals_size)
                )
                self.deposit_compartment = slot.id
            self.deposit_door = self.parts.locker.open(self.deposit_compartment, reason="deposit")
            self.deposit_door_pulsed = True
        except DoorJammed as exc:
            raise self._deposit_jammed() from exc
        except OpeningUnconfirmed as exc:
            self.deposit_door_pulsed = True  # the board failed after a pulse: it may have opened
            raise FlowError(deposit_error_key(exc)) from exc
        except LockerError as exc:
            raise FlowError(deposit_error_key(exc)) from exc
        return self.deposit_compartment

    @property
    def deposit_can_open(self) -> bool:
        """Whether a compartment may still be opened for the originals in this session."""
        return self.deposit_jams < DEPOSIT_JAMS_PER_SESSION

    @property
    def deposit_door_unconfirmed(self) -> bool:
        """Whether the citizen must say if the deposit compartment's door opened."""
        return self.deposit_door is not None and self.deposit_door.awaiting

    def deposit_door_opened(self, yes: bool) -> None:
        """The citizen's answer for a door without a sensor: No pulses once more, then gives up."""
        self._expect_step(Step.DEPOSIT)
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
            raise FlowError(deposit_error_key(exc)) from exc

    def _deposit_jammed(self) -> FlowError:
        # The jammed compartment is out of service (its reservation on record; the locker raised
        # the lock_fault alarm). That was this session's one: no other compartment opens, the
        # citizen continues without depositing (or cancels).
        self.deposit_compartment = None
        self.deposit_door = None
        self.deposit_door_pulsed = False
        self.deposit_jams += 1
        return FlowError("deposit.error.jammed")

    def skip_deposit(self) -> None:
        """Go on without depositing originals (none free, or the citizen has none with them).

        The backend sees `deposit_expected = false` and can ask for a supplement.
        """
        self._expect_step(Step.DEPOSIT)
        if self.deposit_compartment is not None:
            raise WrongStep("a compartment is already open for the originals; close it first")
        self.step = Step.REVIEW

    def close_deposit(self) -> None:
        """The citizen closed the door on their originals."""
        self._expect_step(Step.DEPOSIT)
        if self.deposit_compartment is None:
            raise WrongStep("no compartment was opened")
        if self.deposit_door_unconfirmed:
            # "I put my papers in and closed the door" says the door did open.
            self.deposit_door_opened(True)
        try:
            self.parts.locker.confirm_deposit(self.deposit_compartment)
        except DoorStillOpen as exc:
            raise FlowError("deposit.error.still_open", compartment=exc.compartment_id) from exc
        self.deposit_confirmed = True
        self.step = Step.REVIEW

    # ---------------------------------------------------------------- submit

    def submit(self) -> SubmissionReceipt:
        """Write everything durably, then hand out the receipt."""
        self._expect_step(Step.REVIEW)
        assert self.document and self.face and self.item and self.phone and self.application_no
        assert self.checklist is not None
        p = self.parts
        now = p.clock()
        expiry = self.document.expiry_date
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
                    valid_until=self._valid_until(s.code, now, expiry),
                )
                for s in self.scanned.values()
            ],
            reused_materials=[
                m.ReusedMaterial(material_code=code, reference=ref)
                for code, ref in self.checklist.reused()
            ],
            tolerated_missing=[
                m.ToleratedMaterial(material_code=spec.code, working_days=days)
                for spec, days in self.checklist.tolerated()
            ],
            deposit_expected=self.deposit_confirmed,
            submitted_at=now,
            promised_days=self.item.promised_days,
            catalog_version=p.catalog_version,
        )
        with p.db.unit_of_work() as uow:
            p.store.record_submission(
                uow,
                self.application_no,
                self.item.code,
                self.document.masked_number,
                now,
                self.deposit_compartment,
                len(self.scanned),
            )
            p.outbox.add(uow, event)
            for s in self.scanned.values():
                p.outbox.add_blob(uow, s.blob)
            if self.deposit_confirmed and self.deposit_compartment:
                p.outbox.add(
                    uow,
                    m.MaterialsDeposited(
                        terminal_id=p.terminal_id,
                        operation_id=self.application_no,
                        application_no=self.application_no,
                        compartment_id=self.deposit_compartment,
                        deposited_at=now,
                    ),
                )
        log.info("application %s recorded (%d materials)", self.application_no, len(self.scanned))
        self.receipt = SubmissionReceipt(
            application_no=self.application_no,
            item_code=self.item.code,
            item_name_zh=self.item.name_zh,
            item_name_en=self.item.name_en,
            submitted_at=now,
            materials=len(self.scanned),
            deposit_compartment=self.deposit_compartment,
            promised_days=self.item.promised_days,
            sent_now=p.online(),
            reused=len(self.checklist.reused()),
            owed=tuple(
                OwedMaterial(spec.code, spec.name_zh, spec.name_en, days)
                for spec, days in self.checklist.tolerated()
            ),
        )
        self.step = Step.DONE
        self.forget()
        return self.receipt

    def _valid_until(self, code: str, now: datetime, expiry: date | None) -> date | None:
        spec = self._spec(code)
        given_on = now.astimezone(m.SERVICE_TZ).date()  # the service's calendar day
        return spec.reuse.valid_until(given_on, expiry) if spec.reuse else None

    # ---------------------------------------------------------------- leaving

    def cancel(self) -> None:
        """The citizen pressed Cancel: they stand at the kiosk, so deposited papers are given
        back (the door opens once more) and the compartment freed; forget them.

        Only for the citizen's own Cancel. A session that ends with nobody there (idle, a fatal
        error, the kiosk stopping) calls `abandon`, which opens nothing.
        """
        if self.step == Step.DONE:
            return
        self._drop_scans()
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
            raise FlowError("deposit.error.not_returned")

    def abandon(self, why: str) -> None:
        """The session ended with nobody at the locker: the citizen walked away (`why` "idle"),
        the kiosk failed ("fatal") or is stopping ("stop"). Forget them; open nothing.

        A compartment whose door opened for the originals (deposited, or opened and never
        confirmed) keeps them: the locker holds it as an abandoned deposit, out of allocation,
        tied to the would-be application number, and alarms staff, who collect the papers in
        service mode. Opening it here would leave someone's household register behind an open
        door in the lobby. A reserved compartment whose door never opened is simply released.
        """
        if self.step in (Step.DONE, Step.CANCELLED):
            return
        compartment = self.deposit_compartment
        try:
            self._drop_scans()
            if compartment and (self.deposit_confirmed or self.deposit_door_pulsed):
                self.parts.locker.abandon_deposit(compartment, why)
                log.warning("session ended (%s): compartment %s kept for staff", why, compartment)
            elif compartment:
                self.parts.locker.release(compartment)  # never opened: empty and shut
        finally:
            self.step = Step.CANCELLED
            self.forget()

    def _drop_scans(self) -> None:
        for scanned in self.scanned.values():
            self.parts.outbox.discard_staged(scanned.blob.sha256)
        self.scanned.clear()

    def forget(self) -> None:
        """Drop every trace of the citizen from memory (the receipt keeps no personal data)."""
        self.phone = None
        self.forget_identity()
