"""The service catalog a terminal offers: items, their materials and their pickup policy.

A later issue brings the catalog with the terminal's configuration bundle; this built-in one
is what a fresh terminal and the demo offer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MaterialSpec:
    """One material an item asks for."""

    code: str
    name_zh: str
    name_en: str
    required: bool = True
    pages: int = 1


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
            MaterialSpec("id-card-copy", "身份证复印件", "Copy of ID card"),
            MaterialSpec("household-register", "户口簿", "Household register", pages=2),
        ),
        promised_days=3,
        originals_size="S",
        result_size="S",
    ),
    ServiceItem(
        code="SB-0203",
        name_zh="社保参保证明",
        name_en="Social insurance enrolment certificate",
        materials=(MaterialSpec("id-card-copy", "身份证复印件", "Copy of ID card"),),
        promised_days=1,
    ),
    ServiceItem(
        code="GS-0307",
        name_zh="个体工商户营业执照变更",
        name_en="Sole-proprietor business licence change",
        materials=(
            MaterialSpec("application-form", "变更登记申请书", "Change application form", pages=2),
            MaterialSpec("licence-original", "营业执照正副本", "Business licence, both copies"),
            MaterialSpec("lease", "经营场所证明", "Proof of premises", required=False),
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
