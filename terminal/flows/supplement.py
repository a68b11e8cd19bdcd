"""Bring a missing material (补交材料, 容缺): at any terminal, to the application that owes it.

The citizen finds the application with its number and the phone number's last 4 digits: the
same `request.application_status` as the progress query, with the same refusal for an unknown
number or a wrong tail and the same limits on guessing. Its `supplements` say what is still
owed. They scan (document camera) or import (USB) each owed material; "Send" queues one
`event.supplement_provided` with the files in the outbox, which the backend attaches to that
application. Nothing else can be supplied here: only materials the backend said are owed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from cloud_bridge.contract import messages as m
from terminal.catalog import MaterialSpec, ServiceItem
from terminal.flows.session import FlowError, TerminalParts
from terminal.flows.submission import PageRefused, ScannedMaterial
from terminal.materials.capture import full_resolution_grab
from terminal.materials.pdf import material_content
from terminal.materials.pipeline import PageResult, process_frame
from terminal.materials.usb_import import ImportedFile, pages_to_pdf
from terminal.progress import ProgressLookup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owed:
    """One material the application still owes, with its names and last day."""

    spec: MaterialSpec
    due_on: date


@dataclass(frozen=True)
class SupplementReceipt:
    application_no: str
    materials: tuple[str, ...]  # material codes
    provided_at: datetime
    sent_now: bool


@dataclass
class SupplementFlow:
    """One citizen bringing owed materials for one application."""

    RETURN_SCREEN = "supplement"  # where the scan and USB screens go back to

    parts: TerminalParts
    progress: ProgressLookup
    application_no: str | None = None
    item: ServiceItem | None = None
    owed: dict[str, Owed] = field(default_factory=dict)
    scanned: dict[str, ScannedMaterial] = field(default_factory=dict)
    _tail: str | None = field(default=None, repr=False)
    done: bool = False

    def find(self, typed_number: str, phone_tail: str) -> list[Owed]:
        """What the application owes; FlowError if it cannot be asked, found, or owes nothing.

        BadQuery (from the lookup) for a number or tail that cannot be one.
        """
        answer = self.progress.ask(typed_number, phone_tail)
        if not answer.reached:
            raise FlowError("supplement.error.offline")
        if not answer.found:
            raise FlowError("supplement.error.not_found")
        item = next((i for i in self.parts.catalog if i.code == answer.item_code), None)
        specs = {s.code: s for s in item.materials} if item else {}
        owed = {
            x.material_code: Owed(
                specs.get(x.material_code)
                or MaterialSpec(x.material_code, x.material_code, x.material_code),
                x.due_on,
            )
            for x in answer.supplements
        }
        if not owed:
            raise FlowError("supplement.error.nothing_owed")
        self.application_no, self.item, self.owed = answer.application_no, item, owed
        self._tail = phone_tail
        return list(owed.values())

    def _owed(self, code: str) -> MaterialSpec:
        if self.done or code not in self.owed:
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
        if self.done or not self.scanned or not self.application_no or not self._tail:
            raise FlowError("supplement.error.nothing_scanned")
        p = self.parts
        now = p.clock()
        event = m.SupplementProvided(
            terminal_id=p.terminal_id,
            operation_id="SUP-" + secrets.token_hex(8),
            application_no=self.application_no,
            phone_tail=self._tail,
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
        self.done = True
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
