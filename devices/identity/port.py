"""The identity-reader port: whatever the reader, the terminal gets an IdentityDocument."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


class IdentityReadError(Exception):
    """The document could not be read; `citizen_message` says what to do next."""

    citizen_message = "The card could not be read. Please place it on the reader again."


class NoDocument(IdentityReadError):
    """No document was placed on the reader in time."""

    citizen_message = "Please place your ID card on the reader."


@dataclass(frozen=True)
class IdentityDocument:
    """What a document chip yields; personal data, so repr shows no number and no photo."""

    document_type: str  # "cn_resident_id" | "passport" | "other", as in the wire contract
    name: str
    number: str = field(repr=False)
    birth_date: date | None = None
    expiry_date: date | None = None
    photo: bytes | None = field(default=None, repr=False)


class IdentityReader(Protocol):
    """A reader of identity documents (second-generation ID card, eMRTD, ...)."""

    def read(self, timeout_s: float) -> IdentityDocument:
        """Block until a document is read; NoDocument or IdentityReadError otherwise."""
        ...

    def diagnostics(self) -> dict[str, object]:
        """Device facts for `allhours doctor`."""
        ...
