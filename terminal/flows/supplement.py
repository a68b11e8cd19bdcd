"""Bring a missing material (补交材料): at any terminal, to the application that owes it.

What is owed: materials tolerated missing at submission (容缺, each with its last day) and
materials a staff supplement request (补正) names (each with its reason). The citizen finds the
application one of two ways:

- by its number and the phone number's last 4 digits: the same `request.application_status`
  as the progress query, with the same refusal for an unknown number or a wrong tail and the
  same limits on guessing;
- by their ID card (or passport) and the live face check, the same identity steps a submission
  runs (`IdentitySteps`): then `request.owing_applications` lists their open applications that
  owe something, named by the card's keyed digest, and they pick one.

They scan (document camera) or import (USB) each owed material; "Send" queues one
`event.supplement_provided` with the files in the outbox, carrying the proof they gave (the
tail, or the card's digest with the face check's decision), and the backend attaches them to
that application. Nothing else can be supplied here: only materials the backend said are owed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import MaterialSpec, ServiceItem
from devices.identity.port import IdentityDocument
from face.check import FaceCheck
from face.decision import FaceDecision
from terminal.flows.identity import IdentitySteps
from terminal.flows.session import FlowError, TerminalParts
from terminal.flows.submission import PageRefused, ScannedMaterial
from terminal.materials.capture import full_resolution_grab
from terminal.materials.pdf import material_content
from terminal.materials.pipeline import PageResult, process_frame
from terminal.materials.usb_import import ImportedFile, pages_to_pdf
from terminal.owing import OwingCase, OwingLookup
from terminal.progress import ProgressLookup, Requested, Supplement

log = logging.getLogger(__name__)


class Step(StrEnum):
    FIND = "find"  # by application number and phone tail
    IDENTITY = "identity"  # by ID card: the card, then the face
    FACE = "face"
    CHOOSE = "choose"  # card and face passed: one of the applications that owe something
    MATERIALS = "materials"
    DONE = "done"
    STAFF_ASSIST = "staff_assist"  # the face did not match: staff check identity in office hours


@dataclass(frozen=True)
class Owed:
    """One material the application still owes, with its names and either its last day
    (tolerated missing) or the reason staff asked for it (a supplement request)."""

    spec: MaterialSpec
    due_on: date | None = None
    reason: str | None = None  # a code of the office's fixed list (reason.supplement.*)


@dataclass(frozen=True)
class SupplementReceipt:
    application_no: str
    materials: tuple[str, ...]  # material codes
    provided_at: datetime
    sent_now: bool


@dataclass
class SupplementFlow(IdentitySteps):
    """One citizen bringing owed materials for one application."""

    RETURN_SCREEN = "supplement"  # where the scan and USB screens go back to
    IDENTITY_STEP = Step.IDENTITY
    FACE_STEP = Step.FACE
    VERIFIED_STEP = Step.CHOOSE
    STAFF_STEP = Step.STAFF_ASSIST

    parts: TerminalParts
    progress: ProgressLookup
    owing: OwingLookup | None = None
    step: Step = Step.FIND
    document: IdentityDocument | None = field(default=None, repr=False)
    face: FaceDecision | None = None
    face_attempts: int = 0
    _face_check: FaceCheck | None = field(default=None, repr=False)
    cases: tuple[OwingCase, ...] = ()  # by card: the applications that owe something
    more: bool = False  # ... and others owe too (the answer lists a few only)
    application_no: str | None = None
    item: ServiceItem | None = None
    owed: dict[str, Owed] = field(default_factory=dict)
    scanned: dict[str, ScannedMaterial] = field(default_factory=dict)
    _tail: str | None = field(default=None, repr=False)
    _applicant_ref: str | None = field(default=None, repr=False)
    _identity: m.IdentityDecision | None = None

    @classmethod
    def by_card(cls, parts: TerminalParts, progress: ProgressLookup, owing: OwingLookup):
        """The flow that starts at the card reader instead of the number and tail."""
        return cls(parts, progress, owing, step=Step.IDENTITY)

    def find(self, typed_number: str, phone_tail: str) -> list[Owed]:
        """What the application owes; FlowError if it cannot be asked, found, or owes nothing.

        BadQuery (from the lookup) for a number or tail that cannot be one.
        """
        self._expect_step(Step.FIND)
        answer = self.progress.ask(typed_number, phone_tail)
        if not answer.reached:
            raise FlowError("supplement.error.offline")
        if not answer.found:
            raise FlowError("supplement.error.not_found")
        owed = self._take(
            answer.application_no, answer.item_code, answer.supplements, answer.requested
        )
        self._tail = phone_tail
        return owed

    def list_owing(self) -> list[OwingCase]:
        """By card, after the face matched: the citizen's applications that owe something.

        The card's digest is kept for the event and the card itself forgotten here. FlowError
        when the centre cannot be asked or none of their applications owes anything.
        """
        self._expect_step(Step.CHOOSE)
        if self._applicant_ref is None:
            assert self.document is not None and self.face is not None
            key = self.parts.applicant_key
            if not key or self.owing is None:  # enrolled without the fleet's applicant key
                raise FlowError("supplement.error.no_card_lookup")
            self._applicant_ref = applicant_ref.digest(
                key, self.document.document_type, self.document.number
            )
            self._identity = m.IdentityDecision(
                method=m.IdentityMethod.FACE,
                verified=self.face.verified,
                face_distance=self.face.distance,
                threshold=self.face.threshold,
                liveness_passed=self.face.liveness_passed,
            )
            self.forget_identity()  # the digest and the decision are all that is needed now
        assert self.owing is not None
        answer = self.owing.ask(self._applicant_ref)
        if not answer.reached:
            raise FlowError("supplement.error.offline")
        if not answer.cases:
            raise FlowError("supplement.error.none_owing")
        self.cases, self.more = answer.cases, answer.more
        return list(answer.cases)

    def choose(self, application_no: str) -> list[Owed]:
        """One of the listed applications: what it owes."""
        self._expect_step(Step.CHOOSE)
        case = next((c for c in self.cases if c.application_no == application_no), None)
        if case is None:
            raise FlowError("supplement.error.not_found")
        return self._take(case.application_no, case.item_code, case.supplements, case.requested)

    def _take(
        self,
        application_no: str,
        item_code: str | None,
        supplements: Sequence[Supplement],
        requested: Sequence[Requested],
    ) -> list[Owed]:
        item = next((i for i in self.parts.catalog if i.code == item_code), None)
        specs = {s.code: s for s in item.materials} if item else {}

        def spec(code: str) -> MaterialSpec:
            return specs.get(code) or MaterialSpec(code, code, code)

        owed = {x.material_code: Owed(spec(x.material_code), due_on=x.due_on) for x in supplements}
        for x in requested:
            if x.material_code in owed:  # tolerated and now asked for: one file answers both
                owed[x.material_code] = Owed(
                    owed[x.material_code].spec, owed[x.material_code].due_on, x.reason
                )
            else:
                owed[x.material_code] = Owed(spec(x.material_code), reason=x.reason)
        if not owed:
            raise FlowError("supplement.error.nothing_owed")
        self.application_no, self.item, self.owed = application_no, item, owed
        self.step = Step.MATERIALS
        return list(owed.values())

    def _owed(self, code: str) -> MaterialSpec:
        if self.step != Step.MATERIALS or code not in self.owed:
            raise FlowError("supplement.error.not_owed")
        return self.owed[code].spec

    def material_spec(self, code: str) -> MaterialSpec:
        """An owed material, for the scan and USB screens; FlowError if it is not owed."""
        return self._owed(code)

    def add_scanned_pages(self, code: str, pages: Sequence[PageResult]) -> ScannedMaterial:
        """One owed material from pages the kiosk's auto-capture already took and judged."""
        spec = self._owed(code)
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
        return self._keep(code, content.data, content.pages)

    def scan_material(self, code: str) -> ScannedMaterial:
        """Each page of one owed material from the document camera, into one PDF."""
        spec = self._owed(code)
        grab = full_resolution_grab(self.parts.document_camera(spec.name_en, spec.pages))
        pages = []
        for number in range(1, spec.pages + 1):
            page = process_frame(grab())
            if page.reasons:
                raise PageRefused(number, page.reasons[0], spec.name_en)
            pages.append(page)
        content = material_content(pages)
        return self._keep(code, content.data, content.pages)

    def import_material(self, code: str, files: Sequence[ImportedFile]) -> ScannedMaterial:
        """One owed material from files the citizen picked on a USB stick."""
        self._owed(code)
        pages = [page for f in files for page in f.pages]
        if not pages:
            raise FlowError("usb.error.no_file")
        return self._keep(code, pages_to_pdf(pages), len(pages))

    def _keep(self, code: str, data: bytes, pages: int) -> ScannedMaterial:
        blob = self.parts.outbox.stage_blob(data, "application/pdf")
        if code in self.scanned:  # taken again: the earlier file is no longer wanted
            self.parts.outbox.discard_staged(self.scanned.pop(code).blob.sha256)
        scanned = ScannedMaterial(code, blob, pages)
        self.scanned[code] = scanned
        return scanned

    def send(self) -> SupplementReceipt:
        """Queue what was scanned, with its files, for the application; then forget the citizen."""
        if self.step != Step.MATERIALS or not self.scanned or not self.application_no:
            raise FlowError("supplement.error.nothing_scanned")
        if not self._tail and not self._applicant_ref:
            raise FlowError("supplement.error.nothing_scanned")
        p = self.parts
        now = p.clock()
        event = m.SupplementProvided(
            terminal_id=p.terminal_id,
            operation_id="SUP-" + secrets.token_hex(8),
            application_no=self.application_no,
            # The proof the citizen gave: the phone tail, or the card's digest and the face.
            phone_tail=None if self._applicant_ref else self._tail,
            applicant_ref=self._applicant_ref,
            identity=self._identity if self._applicant_ref else None,
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
            provided_at=now,
        )
        with p.db.unit_of_work() as uow:
            p.outbox.add(uow, event)
            for s in self.scanned.values():
                p.outbox.add_blob(uow, s.blob)
        receipt = SupplementReceipt(
            self.application_no, tuple(self.scanned), now, sent_now=p.online()
        )
        log.info(
            "supplement for %s queued (%d materials)", self.application_no, len(receipt.materials)
        )
        self.scanned.clear()  # the outbox owns the files now
        self.step = Step.DONE
        self.forget()
        return receipt

    def cancel(self) -> None:
        """The citizen gave up or walked away: drop the files and forget them."""
        for scanned in self.scanned.values():
            self.parts.outbox.discard_staged(scanned.blob.sha256)
        self.scanned.clear()
        self.forget()

    def forget(self) -> None:
        self._tail = None
        self._applicant_ref = None
        self._identity = None
        self.cases = ()
        self.forget_identity()
