"""The identity-reader port: whatever the reader, the terminal gets an IdentityDocument."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

from privacy import mask_document

if TYPE_CHECKING:
    from .emrtd.mrz import MrzKey


class IdentityReadError(Exception):
    """The document could not be read. `str()` is for the technician; the kiosk tells the citizen
    what to do next from its catalogs, by the error's type (terminal.flows.identity)."""


class NoDocument(IdentityReadError):
    """No document was placed on the reader in time."""


@dataclass(frozen=True)
class IdentityDocument:
    """What a document chip yields. Personal data: repr shows no name, number, birth date,
    address or photo.

    `photo` is the chip's face image as stored (JPEG or JPEG 2000 for eMRTD DG2; for a
    second-generation ID card a decoded image, or None when no WLT decoder is installed).
    `authenticity` says how far the data was checked: "issuer_verified" (as chip_verified,
    and the signer chains to a trusted issuing state), "chip_verified" (data-group hashes
    matched the document security object), "chip_read" (read from the chip, not verified),
    or "unverified".

    `chip_proof` says, for a travel-document chip, whether it proved it is the chip the state
    made and not a copy (Chip Authentication with its DG14 key, else Active Authentication
    with its DG15 key): "passed", "not offered" (the chip holds no such key: older passports),
    or "not run" (it offers one this reader cannot use, so a copy would go unnoticed). None
    for documents without such a proof (a resident ID card).
    """

    document_type: str  # "cn_resident_id" | "passport" | "other", as in the wire contract
    name: str = field(repr=False)
    number: str = field(repr=False)
    birth_date: date | None = field(default=None, repr=False)
    expiry_date: date | None = None
    photo: bytes | None = field(default=None, repr=False)
    sex: str | None = None  # "M" | "F" | None
    nationality: str | None = None  # ICAO code for eMRTD; ethnic group (民族) for a CN ID card
    issuer: str | None = None  # issuing state or issuing authority (签发机关)
    valid_from: date | None = None
    address: str | None = field(default=None, repr=False)
    authenticity: str = "unverified"
    chip_proof: str | None = None  # "passed" | "not offered" | "not run" (eMRTD only)

    @property
    def masked_number(self) -> str:
        """The number as it may appear in logs, masked by the rule for its kind of document."""
        return mask_document(self.document_type, self.number)


class IdentityReader(Protocol):
    """A reader of identity documents (second-generation ID card, eMRTD, ...).

    `needs_mrz_key` says whether a document opens only with the key printed in its
    machine-readable zone (a passport chip: Basic Access Control or PACE). Such a reader is an
    `MrzKeyedReader`: its `read` takes the key the citizen typed or the camera read.
    """

    needs_mrz_key: bool

    def read(self, timeout_s: float) -> IdentityDocument:
        """Block until a document is read; NoDocument or IdentityReadError otherwise."""
        ...

    def diagnostics(self) -> dict[str, object]:
        """Device facts for `allhours doctor`."""
        ...


class MrzKeyedReader(IdentityReader, Protocol):
    """A reader whose documents open with their MRZ key (`needs_mrz_key` is True)."""

    def read(self, timeout_s: float, mrz_key: MrzKey | None = None) -> IdentityDocument:
        """Read with `mrz_key`; without one, with the key the reader was configured with."""
        ...
