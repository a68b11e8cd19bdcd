"""Personal data as it may be shown, printed or logged: one masking rule per kind of datum.

A leaf package: the standard library only, so every package (devices, cloud_bridge, terminal,
backend, allhours) masks the same way. What each function keeps:

| datum | kept | example |
|---|---|---|
| ID number (resident ID card, 18 characters) | first 4, last 4 | 1101**********002X |
| document number (passport, travel document, any other) | first 2, last 2 | E1*****78 |
| phone number | first 3, last 4 | 138****8000 |
| name | the first character (the family name of a Chinese name) | 张* |

A value too short to keep anything and still hide most of it is all stars, of its own length.
An applicant's document number is masked by its type with `mask_document`: only a resident ID
card's number (`cn_resident_id`) keeps 4 and 4; a passport's, or any other document's, keeps 2
and 2 (the 4-and-4 rule would leave 8 of a passport's 9 characters readable: E123*5678).
`mask_text` finds phone and ID numbers standing alone in free text (a printed line) and masks
them with the same rules.
"""

from __future__ import annotations

import re

__all__ = [
    "mask_document",
    "mask_document_number",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "mask_text",
]

# The document type of a resident ID card, as in the wire contract (IdDocumentType).
_RESIDENT_ID = "cn_resident_id"


def _keep(value: str, head: int, tail: int) -> str:
    """``value`` with all but its first ``head`` and last ``tail`` characters starred.

    When fewer than ``head + tail + 1`` characters exist, everything is starred: a mask
    that shows the whole value, or all of it but one character, hides nothing.
    """
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str) -> str:
    """A resident ID card's number: first 4 (the region) and last 4 kept, 1101**********002X."""
    return _keep(value, 4, 4)


def mask_document_number(value: str) -> str:
    """A passport or travel-document number (8 or 9 characters): first 2 and last 2 kept."""
    return _keep(value, 2, 2)


def mask_document(document_type: str, number: str) -> str:
    """An applicant's document number, masked by the rule for its type (the wire contract's
    `id_document_type`): a resident ID card's as an ID number, any other as a document number.

    Whatever shows or stores an applicant's document number masked calls this (or
    `IdentityDocument.masked_number`, which does). The two rules are called by name only where
    the type cannot be another: a passport's MRZ, a resident ID card's remote check, an ID
    number found in free text.
    """
    if document_type == _RESIDENT_ID:
        return mask_id_number(number)
    return mask_document_number(number)


def mask_phone(value: str) -> str:
    """A phone number: first 3 and last 4 kept, 138****8000 (+86*******8000 with a prefix)."""
    return _keep(value, 3, 4)


def mask_name(value: str) -> str:
    """A name: its first character and a star for each other one (at least one), 张*."""
    if not value:
        return ""
    return value[:1] + "*" * max(1, len(value) - 1)


# A mainland mobile number, or an 18-character citizen ID number, standing alone in the text.
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_NUMBER = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")


def mask_text(text: str) -> str:
    """Free text with every ID number and mainland mobile number in it masked."""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m[0]), text)
    return _PHONE.sub(lambda m: mask_phone(m[0]), text)
