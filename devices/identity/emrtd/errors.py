"""Errors of the eMRTD reader, with a technician-facing str(); the kiosk words each type for the
citizen from its catalogs (card.error.<type>)."""

from __future__ import annotations

from devices.identity.port import IdentityReadError, NoDocument

__all__ = [
    "AccessDenied",
    "CardRemoved",
    "ChipAuthenticationFailed",
    "CorruptData",
    "IdentityReadError",
    "NoDocument",
    "PassportNotVerified",
    "ReaderFault",
    "SecureMessagingError",
    "TlvError",
    "UnsupportedDocument",
]


class CardRemoved(IdentityReadError):
    """The document left the reader while it was being read."""


class AccessDenied(IdentityReadError):
    """The chip refused the access key (BAC or PACE): the MRZ key does not match this document."""


class CorruptData(IdentityReadError):
    """The chip's data is malformed or does not match its security object."""


class PassportNotVerified(CorruptData):
    """EF.SOD does not vouch for what the chip holds: a data group differs from its hash, or the
    document signer's signature over EF.SOD is wrong. The kiosk refuses such a passport for
    identity with the same words as one it cannot trace to an issuing state (no EF.SOD, a signer
    no configured CSCA issued: `terminal.flows.identity.travel_document_refusal`)."""


class TlvError(CorruptData):
    """A BER-TLV structure is truncated or malformed."""


class SecureMessagingError(CorruptData):
    """A secure-messaging response failed its MAC or was not protected as required."""


class ChipAuthenticationFailed(CorruptData):
    """The chip could not prove it holds the key of its DG14 (or DG15): it may be a copy."""


class UnsupportedDocument(IdentityReadError):
    """The document uses an application, protocol or algorithm this reader does not support."""


class ReaderFault(IdentityReadError):
    """The PC/SC service or the reader itself is not working; a technician is needed."""
