"""The receipt (on screen and printed, with a QR code of the application number) and rating."""

from __future__ import annotations

import logging

import numpy as np
from kivy.clock import Clock

from terminal.flows.submission import Receipt
from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import Preview

log = logging.getLogger(__name__)


def qr_frame(payload: str) -> np.ndarray | None:
    """The payload as a QR code picture (RGB), or None if the qrcode library is missing."""
    try:
        import qrcode
    except ImportError:
        return None
    qr = qrcode.QRCode(border=2, box_size=8)
    qr.add_data(payload)
    qr.make(fit=True)
    return np.asarray(qr.make_image().convert("RGB"))


class ReceiptScreen(KioskScreen):
    title_key = "receipt.title"

    def build(self) -> None:
        self.number = self.label("", "title", halign="center")
        self.body.add_widget(self.number)
        self.lines = self.label("")
        self.body.add_widget(self.lines)
        self.qr = Preview(size_hint_y=0.6)
        self.body.add_widget(self.qr)
        self.printing = self.label("", "hint", tone="muted")
        self.body.add_widget(self.printing)
        self.nav_buttons(self.button("nav.next", lambda: self.k.go("rating")))
        self.receipt: Receipt | None = None

    def enter(self, receipt: Receipt | None = None, **kw: object) -> None:
        self.receipt = receipt
        if receipt is None:
            return
        t = self.k.t
        self.say(self.number, lambda: t("receipt.number", number=receipt.application_no))
        sent = "receipt.sent_now" if receipt.sent_now else "receipt.sent_later"
        self.say(
            self.lines,
            lambda: "\n".join(
                (
                    t.pick(receipt.item_name_zh, receipt.item_name_en),
                    t("receipt.promised", days=receipt.promised_days),
                    *material_notes(receipt, t),
                    t(sent),
                    t("receipt.sms"),
                )
            ),
        )
        frame = qr_frame(receipt.application_no)
        if frame is not None:
            self.qr.show_frame(frame)
        self.print(receipt)

    def print(self, receipt: Receipt) -> None:
        printer = self.k.printer
        if printer is None:
            self.say(self.printing, "receipt.no_printer")
            return
        self.say(self.printing, "receipt.printing")

        def failed(exc: BaseException) -> None:
            log.warning("receipt printer failed: %s", type(exc).__name__)
            key = f"receipt.print_failed.{type(exc).__name__}"
            self.say(self.printing, key if self.k.t.has(key) else "receipt.print_failed")

        self.k.run(
            "print",
            lambda: printer.print_receipt(printed_receipt(receipt, self.k.t)),
            lambda _r: self.say(self.printing, "receipt.printed"),
            failed,
        )

    def wipe(self) -> None:
        self.receipt = None
        self.unsay(self.number)
        self.unsay(self.lines)
        self.unsay(self.printing)
        self.qr.clear()


def material_notes(receipt: Receipt, t) -> list[str]:
    """Materials reused from what the backend holds, and each one owed (容缺) with its days."""
    notes = [t("receipt.reused", count=receipt.reused)] if receipt.reused else []
    for owed in receipt.owed:
        name = t.pick(owed.name_zh, owed.name_en)
        notes.append(t("receipt.owed", days=owed.working_days, name=name))
    return notes


def printed_receipt(receipt: Receipt, t):
    """The printer port's receipt for this application, in the citizen's language."""
    from devices.printer.port import Receipt as Ticket

    lines = [
        t.pick(receipt.item_name_zh, receipt.item_name_en),
        t("receipt.submitted_at", at=receipt.submitted_at.astimezone().strftime("%Y-%m-%d %H:%M")),
        t("receipt.promised", days=receipt.promised_days),
    ]
    lines.extend(material_notes(receipt, t))
    if receipt.deposit_compartment:
        lines.append(t("receipt.deposit", compartment=receipt.deposit_compartment))
    lines.append(t("receipt.sent_now" if receipt.sent_now else "receipt.sent_later"))
    return Ticket(
        title=t("receipt.title"),
        lines=tuple(lines),
        application_no=receipt.application_no,
        qr_payload=receipt.application_no,
        footer=t("receipt.sms"),
    )


class RatingScreen(KioskScreen):
    """How satisfied was the citizen? One tap, then everything is forgotten."""

    title_key = "rating.title"
    finish_after_s = 4.0

    def build(self) -> None:
        self.thanks = self.label("")
        self.choices = []
        for score in (5, 4, 3, 2, 1):
            b = self.button(f"rating.{score}", lambda s=score: self.rate(s), "key")
            self.choices.append(b)
            self.body.add_widget(b)
        self.body.add_widget(self.thanks)
        self.nav_buttons(self.button("nav.finish", lambda: self.k.end_session("finish")))
        self._event = None

    def enter(self, **kw: object) -> None:
        self.unsay(self.thanks)
        for b in self.choices:
            b.disabled = False

    def rate(self, score: int) -> None:
        # Counted only: a rating is not tied to the application or the person.
        self.k.ratings[score] = self.k.ratings.get(score, 0) + 1
        for b in self.choices:
            b.disabled = True
        self.say(self.thanks, "rating.thanks")
        self._event = Clock.schedule_once(
            lambda _dt: self.k.end_session("finish") if self.k.current == self.name else None,
            self.finish_after_s,
        )

    def leave(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def wipe(self) -> None:
        self.unsay(self.thanks)
