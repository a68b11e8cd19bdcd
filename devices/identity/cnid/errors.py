"""What can go wrong reading a resident ID card, worded for the technician.

`str(error)` is for logs and `allhours identity read` and never holds a name or a full ID
number; the kiosk words each type for the citizen from its catalogs (card.error.<type>).
"""

from __future__ import annotations

from devices.identity.port import IdentityReadError, NoDocument


class CnIdReadError(IdentityReadError):
    """A resident ID card read failed; `status` is the SAM's SW1 SW2 SW3 when it gave one."""

    def __init__(self, detail: str, *, status: str | None = None) -> None:
        super().__init__(detail)
        self.status = status


class CardNotFound(NoDocument, CnIdReadError):
    """No card came near the reader before the timeout (SAM status 80)."""


class CardSelectFailed(CnIdReadError):
    """The card was found but could not be selected (SAM status 81): it moved or is too far."""


class CardReadFailed(CnIdReadError):
    """Reading the card failed (SAM status 41 or 47): usually the card moved away mid-read."""


class CardAuthFailed(CnIdReadError):
    """The card and the SAM did not authenticate each other (SAM status 31, 32 or 33)."""


class WrongCardType(CnIdReadError):
    """The card is not a second-generation resident ID card (SAM status 40, or another type)."""


class InvalidCardData(CnIdReadError):
    """The card's data failed our checks (ID number check digit, dates, codes)."""


class ReaderFault(CnIdReadError):
    """The reader itself failed: no answer, a corrupt frame, a SAM fault, the port gone."""


class ReaderTimeout(ReaderFault):
    """The reader did not answer a command within its time limit."""


class ReaderFrameError(ReaderFault):
    """The reader's answer was not a valid frame (checksum, length, garbage)."""


class SamFault(ReaderFault):
    """The SAM answered with a status that means it or our command is at fault."""
