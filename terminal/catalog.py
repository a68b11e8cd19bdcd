"""The service catalog a terminal offers: items, their materials and their pickup policy.

A later issue brings the catalog with the terminal's configuration bundle; this built-in one
is what a fresh terminal and the demo offer.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


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


ID_CARD_COPY = MaterialSpec(
    "id-card-copy",
    "身份证复印件",
    "Copy of ID card",
    # Valid while the card is; a long-term card (长期) has no expiry, so ten years at most.
    reuse=ReusePolicy(valid_months=120, until_document_expiry=True),
)


@dataclass(frozen=True)
class ServiceItem:
    """One service a citizen can apply for at the terminal."""

    code: str
    name_zh: str
    name_en: str
    materials: tuple[MaterialSpec, ...]
    promised_days: int
    originals_size: str | None = None  # compartment size for paper originals, None: none asked
    result_size: str = "S"
    pickup_needs_identity: bool = False


DEFAULT_CATALOG: tuple[ServiceItem, ...] = (
    ServiceItem(
        code="HJ-0101",
        name_zh="户籍证明开具",
        name_en="Household registration certificate",
        materials=(
            ID_CARD_COPY,
            MaterialSpec(
                "household-register",
                "户口簿",
                "Household register",
                pages=2,
                forms=frozenset({Form.SCAN, Form.USB, Form.ORIGINAL}),
                reuse=ReusePolicy(valid_months=6),
            ),
        ),
        promised_days=3,
        originals_size="S",
        result_size="S",
    ),
    ServiceItem(
        code="SB-0203",
        name_zh="社保参保证明",
        name_en="Social insurance enrolment certificate",
        materials=(ID_CARD_COPY,),
        promised_days=1,
    ),
    ServiceItem(
        code="GS-0307",
        name_zh="个体工商户营业执照变更",
        name_en="Sole-proprietor business licence change",
        materials=(
            ID_CARD_COPY,
            MaterialSpec("application-form", "变更登记申请书", "Change application form", pages=2),
            MaterialSpec(
                "licence-original",
                "营业执照正副本",
                "Business licence, both copies",
                forms=frozenset({Form.SCAN, Form.ORIGINAL}),
            ),
            MaterialSpec(
                "lease",
                "经营场所证明",
                "Proof of premises",
                forms=frozenset({Form.SCAN, Form.USB, Form.ORIGINAL}),
                tolerated_days=5,
                reuse=ReusePolicy(valid_months=12),
            ),
            MaterialSpec(
                "authorization",
                "委托书",
                "Letter of authorization",
                required=False,
                forms=frozenset({Form.SCAN, Form.USB}),
            ),
        ),
        promised_days=5,
        originals_size="M",
        result_size="M",
        pickup_needs_identity=True,
    ),
)


class UnknownItem(LookupError):
    """The item code is not in this terminal's catalog."""


def find_item(code: str, catalog: tuple[ServiceItem, ...] = DEFAULT_CATALOG) -> ServiceItem:
    for item in catalog:
        if item.code == code:
            return item
    raise UnknownItem(f"service item {code!r} is not offered at this terminal")
