"""The receipt-printer port: print one receipt, and say whether the printer can."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from privacy import mask_text

Paper = Literal["ok", "low", "out"]


@dataclass(frozen=True)
class PrintedTicket:
    """What the citizen takes home; lines are masked on construction, so none holds a phone."""

    title: str
    application_no: str
    qr_payload: str
    lines: tuple[str, ...] = ()
    footer: str = ""

    def __post_init__(self) -> None:
        if not self.application_no:
            raise ValueError("a receipt needs its application number")
        if not self.qr_payload:
            raise ValueError("a receipt needs a QR payload")
        object.__setattr__(self, "lines", tuple(mask_text(line) for line in self.lines))
        object.__setattr__(self, "footer", mask_text(self.footer))
        object.__setattr__(self, "title", mask_text(self.title))


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer reported about itself."""

    online: bool
    paper: Paper
    cover_open: bool = False
    raw: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def can_print(self) -> bool:
        """Paper in, cover shut, online."""
        return self.online and self.paper != "out" and not self.cover_open


class PrinterError(Exception):
    """The receipt was not printed; `alarm` names the fleet alarm the caller should raise."""

    alarm = "device_fault"


class PrinterOffline(PrinterError):
    """No connection to the printer, or it does not answer status requests."""


class PaperOut(PrinterError):
    """The paper roll is empty."""

    alarm = "low_paper"


class CoverOpen(PrinterError):
    """The printer's cover is open."""


class ReceiptPrinter(Protocol):
    """A printer of citizen receipts."""

    def print_receipt(self, receipt: PrintedTicket) -> None:
        """Print and cut one receipt; PrinterError if it was not printed."""
        ...

    def status(self) -> PrinterStatus:
        """Ask the printer for its state; PrinterError if it does not answer."""
        ...

    def diagnostics(self) -> dict[str, object]:
        """Device facts for `allhours doctor`."""
        ...
