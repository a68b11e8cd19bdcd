"""The materials checklist of one application: what the item asks for and where each stands.

The submission flow and the screens share one `Checklist`. Each material of the service item
is `missing`, `scanned` (document camera), `imported` (USB stick), `reused` (a file the
backend already holds for this applicant, 材料复用) or `tolerated` (容缺: a required material
the applicant will supply within a number of working days). `can_submit()` is true once no
required material is missing; `still_needed()` says which are, in the citizen's words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from cloud_bridge.contract.catalog import MaterialSpec, ServiceItem
from terminal.coded import CitizenError


class MaterialStatus(StrEnum):
    MISSING = "missing"
    SCANNED = "scanned"
    IMPORTED = "imported"
    REUSED = "reused"
    TOLERATED = "tolerated"


PROVIDED_BY_FILE = (MaterialStatus.SCANNED, MaterialStatus.IMPORTED)


class ChecklistError(CitizenError, ValueError):
    """A checklist change the item's rules do not allow; `key` words it for the citizen."""


@dataclass(frozen=True)
class OnFile:
    """A material the backend holds for this applicant, as offered in its response."""

    material_code: str
    reference: str
    pages: int
    valid_until: date
    captured_on: date
    content_type: str = "application/pdf"


@dataclass
class ChecklistEntry:
    """One material of the item and where it stands."""

    spec: MaterialSpec
    status: MaterialStatus = MaterialStatus.MISSING
    offer: OnFile | None = None  # what the backend holds, if anything may be reused

    @property
    def needed(self) -> bool:
        return self.spec.required and self.status == MaterialStatus.MISSING


@dataclass
class Checklist:
    """The state of every material of one application."""

    item: ServiceItem
    entries: dict[str, ChecklistEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.entries:
            self.entries = {s.code: ChecklistEntry(s) for s in self.item.materials}

    def entry(self, code: str) -> ChecklistEntry:
        try:
            return self.entries[code]
        except KeyError:
            raise ChecklistError("materials.error.not_in_item", code=code) from None

    # ---------------------------------------------------------------- reuse offers

    def reusable_codes(self) -> list[str]:
        """The codes worth asking the backend about: materials with a reuse policy."""
        return [s.code for s in self.item.materials if s.reuse is not None]

    def take_offers(self, on_file: Iterable[OnFile], today: date) -> list[OnFile]:
        """Keep the backend's offers that fit: a reusable material of this item, valid today.

        One offer per material, the one valid longest; returns what is now on offer.
        """
        for entry in self.entries.values():
            entry.offer = None
        for offer in on_file:
            entry = self.entries.get(offer.material_code)
            if entry is None or entry.spec.reuse is None or offer.valid_until < today:
                continue
            if entry.offer is None or offer.valid_until > entry.offer.valid_until:
                entry.offer = offer
        return self.offers()

    def offers(self) -> list[OnFile]:
        return [e.offer for e in self.entries.values() if e.offer is not None]

    # ---------------------------------------------------------------- changes

    def provided(self, code: str, status: MaterialStatus) -> None:
        """A file for `code` was scanned or imported."""
        if status not in PROVIDED_BY_FILE:
            raise ValueError(f"{status} is not provided by a file")
        entry = self.entry(code)
        form = "scan" if status == MaterialStatus.SCANNED else "usb"
        if form not in entry.spec.forms:
            raise ChecklistError(
                f"materials.error.cannot_be_{form}",
                name_zh=entry.spec.name_zh,
                name_en=entry.spec.name_en,
            )
        entry.status = status

    def reuse(self, code: str) -> OnFile:
        """The citizen accepts the material the backend holds."""
        entry = self.entry(code)
        if entry.offer is None:
            raise ChecklistError(
                "materials.error.none_on_file",
                name_zh=entry.spec.name_zh,
                name_en=entry.spec.name_en,
            )
        entry.status = MaterialStatus.REUSED
        return entry.offer

    def tolerate(self, code: str) -> int:
        """The citizen will supply `code` later; returns the working days allowed."""
        entry = self.entry(code)
        if not entry.spec.tolerable:
            raise ChecklistError(
                "materials.error.required_now",
                name_zh=entry.spec.name_zh,
                name_en=entry.spec.name_en,
            )
        entry.status = MaterialStatus.TOLERATED
        return entry.spec.tolerated_days or 0

    def clear(self, code: str) -> None:
        """Back to missing (the citizen changed their mind)."""
        self.entry(code).status = MaterialStatus.MISSING

    # ---------------------------------------------------------------- verdicts

    def still_needed(self) -> list[ChecklistEntry]:
        """Required materials with no file, no reuse and no tolerance yet."""
        return [e for e in self.entries.values() if e.needed]

    def can_submit(self) -> bool:
        return not self.still_needed()

    def with_status(self, *statuses: MaterialStatus) -> list[ChecklistEntry]:
        return [e for e in self.entries.values() if e.status in statuses]

    def reused(self) -> list[tuple[str, str]]:
        """(material code, backend reference) of every reused material."""
        return [
            (e.spec.code, e.offer.reference)
            for e in self.with_status(MaterialStatus.REUSED)
            if e.offer is not None
        ]

    def tolerated(self) -> list[tuple[MaterialSpec, int]]:
        """(spec, working days) of every tolerated material."""
        return [
            (e.spec, e.spec.tolerated_days or 0) for e in self.with_status(MaterialStatus.TOLERATED)
        ]
