"""Errors of the eMRTD reader: each one has citizen wording and a technician-facing str()."""

from __future__ import annotations

from devices.identity.port import IdentityReadError, NoDocument

__all__ = [
    "AccessDenied",
    "CardRemoved",
    "ChipAuthenticationFailed",
    "CorruptData",
    "IdentityReadError",
    "NoDocument",
    "ReaderFault",
    "SecureMessagingError",
    "TlvError",
    "UnsupportedDocument",
]


class CardRemoved(IdentityReadError):
    """The document left the reader while it was being read."""

    citizen_message = (
        "The passport was moved away from the reader. Please place it on the reader again "
        "and keep it still until the reading is finished."
    )


class AccessDenied(IdentityReadError):
    """The chip refused the access key (BAC or PACE): the MRZ key does not match this document."""

    citizen_message = (
        "The passport did not accept the details entered. Please check the document number, "
        "birth date and expiry date, then try again."
    )


class CorruptData(IdentityReadError):
    """The chip's data is malformed or does not match its security object."""

    citizen_message = (
        "The passport chip returned data that could not be verified. "
        "Please use the staff-assisted identity check."
    )


class TlvError(CorruptData):
    """A BER-TLV structure is truncated or malformed."""


class SecureMessagingError(CorruptData):
    """A secure-messaging response failed its MAC or was not protected as required."""

    citizen_message = (
        "The connection to the passport chip was disturbed. Please place the passport on "
        "the reader again."
    )


class ChipAuthenticationFailed(CorruptData):
    """The chip could not prove it holds the key of its DG14 (or DG15): it may be a copy."""

    citizen_message = (
        "This passport's chip could not be confirmed as genuine. "
        "Please use the staff-assisted identity check."
    )


class UnsupportedDocument(IdentityReadError):
    """The document uses an application, protocol or algorithm this reader does not support."""

    citizen_message = (
        "This document cannot be read at this terminal. Please use the staff-assisted "
        "identity check."
    )


class ReaderFault(IdentityReadError):
    """The PC/SC service or the reader itself is not working; a technician is needed."""

    citizen_message = (
        "The document reader is out of service. Please use the staff-assisted identity check."
    )
