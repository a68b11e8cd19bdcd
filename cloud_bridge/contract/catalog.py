"""The service catalog a terminal offers: classes, items, their materials, fees and pickup policy.

The catalog is data, not code: a TOML or JSON document of the shape `CatalogDocument` checks
(`catalog_data/catalog.toml` beside this module is the starting one a fresh terminal runs). A
configuration bundle from the backend carries the same document, so the catalog is part of the
wire contract: the backend checks a bundle, and its console's editor each save, with the same
`parse_catalog` the terminal runs. It refuses a document with an unknown field, a dangling
material, an item outside its class or a promise beyond the legal limit, naming the place, so a
bad catalog never reaches the kiosk. `allhours catalog check FILE` runs it on files.

An item may give its own step days (`step_days = {accept = 1, review = 20, decide = 30}`): the
working days from the submission by which the case is accepted (受理), taken into review (审核)
and decided (决定), as its service guide states them. The result (出件) is always due with the
whole promise. The backend's step deadlines use them; an item without them gets the default
split of its promised days (backend/step_deadlines.py).
"""

from __future__ import annotations

import calendar
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUILTIN_PATH = Path(__file__).parent / "catalog_data" / "catalog.toml"
# The steps an item's `step_days` may name, in order; the result step is the promised days.
STEP_KEYS = ("accept", "review", "decide")


class Form(StrEnum):
    """How a citizen may hand a material in."""

    SCAN = "scan"  # on the document camera
    USB = "usb"  # a PDF, JPG or PNG from a USB stick
    ORIGINAL = "original"  # the paper itself, deposited in a compartment


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (31 Aug + 6 months = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ReusePolicy:
    """How long a material, once given, may be offered again to the same applicant (材料复用)."""

    valid_months: int | None = None  # counted from the day it was given
    until_document_expiry: bool = False  # a copy of the ID card is good while the card is

    def valid_until(self, given_on: date, document_expiry: date | None) -> date | None:
        """The last day it may be reused, or None if it may not be."""
        limits = []
        if self.valid_months:
            limits.append(add_months(given_on, self.valid_months))
        if self.until_document_expiry and document_expiry is not None:
            limits.append(document_expiry)
        return min(limits) if limits else None


@dataclass(frozen=True)
class MaterialSpec:
    """One material an item asks for."""

    code: str
    name_zh: str
    name_en: str
    required: bool = True
    pages: int = 1
    forms: frozenset[Form] = frozenset({Form.SCAN, Form.USB})
    # 容缺: a required material the applicant may supply later, within this many working days.
    tolerated_days: int | None = None
    reuse: ReusePolicy | None = None

    @property
    def tolerable(self) -> bool:
        return self.required and bool(self.tolerated_days)


@dataclass(frozen=True)
class ServiceClass:
    """One of the catalog's classes (户籍, 社会保险...); an item's code starts with its code."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class ServiceItem:
    """One service a citizen can apply for at the terminal."""

    code: str
    name_zh: str
    name_en: str
    materials: tuple[MaterialSpec, ...]
    promised_days: int  # 承诺办结时限, working days
    service_class: ServiceClass
    legal_days: int  # 法定办结时限, working days
    fee_fen: int = 0  # 0: free
    fee_basis: str = ""  # what the fee is for and by which rule (收费依据), shown with it
    originals_size: str | None = None  # compartment size for paper originals, None: none asked
    result_size: str = "S"
    pickup_needs_identity: bool = False
    frequent: bool = False  # listed first, before a citizen chooses a class
    # The service guide's step days, cumulative from the submission: (("accept", 1), ...).
    step_days: tuple[tuple[str, int], ...] = ()

    @property
    def free(self) -> bool:
        return self.fee_fen == 0

    @property
    def fee_yuan(self) -> str:
        """The fee in yuan with its fen: 20.00."""
        return f"{self.fee_fen // 100}.{self.fee_fen % 100:02d}"


@dataclass(frozen=True)
class Catalog:
    """A whole catalog: its version, its classes and its items in the order the kiosk lists them."""

    version: str
    classes: tuple[ServiceClass, ...]
    items: tuple[ServiceItem, ...]


class CatalogError(ValueError):
    """The catalog document is malformed; the message names the place."""


# --- The document's schema --------------------------------------------------------------------

_CODE = r"^[A-Z]{2}-[0-9]{4}$"
_SLUG = r"^[a-z0-9][a-z0-9-]{0,47}$"
_NAME = {"min_length": 1, "max_length": 80}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassDoc(_Strict):
    code: str = Field(pattern=r"^[A-Z]{2}$")
    name_zh: str = Field(**_NAME)
    name_en: str = Field(**_NAME)


class ReuseDoc(_Strict):
    valid_months: int | None = Field(default=None, ge=1, le=240)
    until_document_expiry: bool = False


class MaterialDoc(_Strict):
    name_zh: str = Field(**_NAME)
    name_en: str = Field(**_NAME)
    pages: int = Field(default=1, ge=1, le=50)
    forms: list[Form] = Field(default_factory=lambda: [Form.SCAN, Form.USB], min_length=1)
    reuse: ReuseDoc | None = None


class MaterialUse(_Strict):
    ref: str = Field(pattern=_SLUG)
    required: bool = True
    pages: int | None = Field(default=None, ge=1, le=50)
    tolerated_days: int | None = Field(default=None, ge=1, le=60)


class PickupDoc(_Strict):
    needs_identity: bool = False
    result_size: str = Field(default="S", pattern=r"^[SML]$")


class StepDaysDoc(_Strict):
    """Working days from the submission by which each step is due; each one optional."""

    accept: int | None = Field(default=None, ge=1, le=365)
    review: int | None = Field(default=None, ge=1, le=365)
    decide: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="before")
    @classmethod
    def _no_result(cls, data: Any) -> Any:
        if isinstance(data, dict) and "result" in data:
            raise ValueError("result: the result step is due with promised_days, leave it out")
        return data

    @model_validator(mode="after")
    def _some(self) -> StepDaysDoc:
        if not self.given():
            raise ValueError("give at least one of accept, review, decide, or leave it out")
        return self

    def given(self) -> tuple[tuple[str, int], ...]:
        return tuple((k, v) for k in STEP_KEYS if (v := getattr(self, k)) is not None)


class ItemDoc(_Strict):
    code: str = Field(pattern=_CODE)
    name_zh: str = Field(**_NAME)
    name_en: str = Field(**_NAME)
    fee_fen: int = Field(ge=0, le=10_000_000)
    fee_basis: str = Field(default="", max_length=200)
    legal_days: int = Field(ge=1, le=365)
    promised_days: int = Field(ge=1, le=365)
    originals_size: str | None = Field(default=None, pattern=r"^[SML]$")
    materials: list[MaterialUse] = Field(min_length=1, max_length=30)
    pickup: PickupDoc = PickupDoc()
    frequent: bool = False
    step_days: StepDaysDoc | None = None
    disabled: bool = False  # kept in the document for the editor, not offered at the kiosk


class CatalogDocument(_Strict):
    """The catalog as a file or a bundle carries it."""

    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    class_: list[ClassDoc] = Field(alias="class", min_length=1, max_length=50)
    material: dict[str, MaterialDoc] = Field(max_length=500)
    item: list[ItemDoc] = Field(min_length=1, max_length=1000)


def _where(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """A pydantic location as a reader finds it: item HJ-0101 materials[1].ref."""
    parts = [str(p) for p in loc]
    if len(loc) >= 2 and loc[0] in ("item", "class") and isinstance(loc[1], int):
        try:
            parts[:2] = [f"{loc[0]} {raw[loc[0]][loc[1]]['code']}"]
        except (KeyError, IndexError, TypeError):
            parts[:2] = [f"{loc[0]} #{loc[1] + 1}"]
    return ".".join(parts)


def parse_catalog(raw: dict[str, Any]) -> Catalog:
    """Check a catalog document and build the catalog; CatalogError names what is wrong."""
    try:
        doc = CatalogDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")
        raise CatalogError(f"{_where(first['loc'], raw)}: {msg}{more}") from None
    classes: dict[str, ServiceClass] = {}
    for c in doc.class_:
        if c.code in classes:
            raise CatalogError(f"class {c.code}: listed twice")
        classes[c.code] = ServiceClass(c.code, c.name_zh, c.name_en)
    for code in doc.material:
        if not _slug_ok(code):
            raise CatalogError(f"material {code!r}: codes are lower-case letters, digits and -")
    items: list[ServiceItem] = []
    seen: set[str] = set()
    for it in doc.item:
        where = f"item {it.code}"
        if it.code in seen:
            raise CatalogError(f"{where}: listed twice")
        seen.add(it.code)
        cls = classes.get(it.code[:2])
        if cls is None:
            raise CatalogError(f"{where}: no class {it.code[:2]} in this catalog")
        if it.fee_basis and not it.fee_fen:
            raise CatalogError(f"{where}: fee_basis given for a free item")
        if it.promised_days > it.legal_days:
            raise CatalogError(
                f"{where}: promised {it.promised_days} days, beyond the legal {it.legal_days}"
            )
        step_days = _step_days(where, it)
        specs = []
        for use in it.materials:
            mat = doc.material.get(use.ref)
            if mat is None:
                raise CatalogError(f"{where}: material {use.ref!r} is not defined")
            if use.tolerated_days and not use.required:
                raise CatalogError(f"{where}: {use.ref} is optional, so it cannot be tolerated")
            specs.append(
                MaterialSpec(
                    use.ref,
                    mat.name_zh,
                    mat.name_en,
                    required=use.required,
                    pages=use.pages or mat.pages,
                    forms=frozenset(mat.forms),
                    tolerated_days=use.tolerated_days,
                    reuse=ReusePolicy(mat.reuse.valid_months, mat.reuse.until_document_expiry)
                    if mat.reuse
                    else None,
                )
            )
        if len({s.code for s in specs}) != len(specs):
            raise CatalogError(f"{where}: a material is listed twice")
        takes_paper = any(Form.ORIGINAL in s.forms for s in specs)
        if takes_paper and not it.originals_size:
            raise CatalogError(f"{where}: takes paper originals but has no originals_size")
        if it.originals_size and not takes_paper:
            raise CatalogError(f"{where}: has an originals_size but no material taken as paper")
        if it.disabled:
            continue
        items.append(
            ServiceItem(
                code=it.code,
                name_zh=it.name_zh,
                name_en=it.name_en,
                materials=tuple(specs),
                promised_days=it.promised_days,
                service_class=cls,
                legal_days=it.legal_days,
                fee_fen=it.fee_fen,
                fee_basis=it.fee_basis,
                originals_size=it.originals_size,
                result_size=it.pickup.result_size,
                pickup_needs_identity=it.pickup.needs_identity,
                frequent=it.frequent,
                step_days=step_days,
            )
        )
    if not items:
        raise CatalogError("item: every item is disabled, the kiosk would offer nothing")
    used = {it.code[:2] for it in items}
    return Catalog(doc.version, tuple(c for c in classes.values() if c.code in used), tuple(items))


def _step_days(where: str, it: ItemDoc) -> tuple[tuple[str, int], ...]:
    """An item's step days, each within its promise and none before the step ahead of it."""
    if it.step_days is None:
        return ()
    given = it.step_days.given()
    ahead: tuple[str, int] | None = None
    for step, days in given:
        if days > it.promised_days:
            raise CatalogError(
                f"{where}: step_days.{step} {days} is beyond promised_days {it.promised_days}"
            )
        if ahead is not None and days < ahead[1]:
            raise CatalogError(
                f"{where}: step_days.{step} {days} is before step_days.{ahead[0]} {ahead[1]}"
            )
        ahead = (step, days)
    return given


def _slug_ok(code: str) -> bool:
    return re.fullmatch(_SLUG, code) is not None


def read_document(path: Path) -> dict[str, Any]:
    """A catalog file's document: TOML by its suffix, else JSON."""
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError: the parsers' errors and invalid UTF-8. RecursionError: thousands of
        # nested arrays or tables exhaust either parser.
        kind = path.suffix.lstrip(".") or "JSON"
        raise CatalogError(f"{path.name}: not valid {kind}: {exc}") from None


def load_catalog(path: Path) -> Catalog:
    return parse_catalog(read_document(path))


@cache
def builtin_catalog() -> Catalog:
    """The starting catalog shipped with the terminal."""
    return load_catalog(BUILTIN_PATH)


class UnknownItem(LookupError):
    """The item code is not in this terminal's catalog."""


def find_item(code: str, catalog: tuple[ServiceItem, ...] | None = None) -> ServiceItem:
    for item in builtin_catalog().items if catalog is None else catalog:
        if item.code == code:
            return item
    raise UnknownItem(f"service item {code!r} is not offered at this terminal")
