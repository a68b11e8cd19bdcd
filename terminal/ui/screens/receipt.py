"""The receipt (on screen and printed, with a QR code of the application number) and rating."""

from __future__ import annotations

import logging

import numpy as np
from kivy.clock import Clock
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from cloud_bridge.contract.messages import SERVICE_TZ
from terminal.flows.submission import SubmissionReceipt
from terminal.rating import ASK_REASONS_AT, REASONS, SCORES
from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import KButton, Preview

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
        self.receipt: SubmissionReceipt | None = None

    def enter(self, receipt: SubmissionReceipt | None = None, **kw: object) -> None:
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

    def print(self, receipt: SubmissionReceipt) -> None:
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


def material_notes(receipt: SubmissionReceipt, t) -> list[str]:
    """Materials reused from what the backend holds, and each one owed (容缺) with its days."""
    notes = [t("receipt.reused", count=receipt.reused)] if receipt.reused else []
    for owed in receipt.owed:
        name = t.pick(owed.name_zh, owed.name_en)
        notes.append(t("receipt.owed", days=owed.working_days, name=name))
    return notes


def printed_receipt(receipt: SubmissionReceipt, t):
    """The printer port's receipt for this application, in the citizen's language."""
    from devices.printer.port import PrintedTicket

    submitted = receipt.submitted_at.astimezone(SERVICE_TZ)
    lines = [
        t.pick(receipt.item_name_zh, receipt.item_name_en),
        t("receipt.submitted_at", at=f"{submitted:%Y-%m-%d %H:%M}"),
        t("receipt.promised", days=receipt.promised_days),
    ]
    lines.extend(material_notes(receipt, t))
    if receipt.deposit_compartment:
        lines.append(t("receipt.deposit", compartment=receipt.deposit_compartment))
    lines.append(t("receipt.sent_now" if receipt.sent_now else "receipt.sent_later"))
    return PrintedTicket(
        title=t("receipt.title"),
        lines=tuple(lines),
        application_no=receipt.application_no,
        qr_payload=receipt.application_no,
        footer=t("receipt.sms"),
    )


class RatingScreen(KioskScreen):
    """How satisfied was the citizen (好差评)? One tap; a low score may say why from a list.

    The rating is an `event.service_rated` in the outbox (`terminal.rating`), tied to the
    application just receipted, so it reaches the backend even after a restart.
    """

    title_key = "rating.title"
    finish_after_s = 4.0

    def build(self) -> None:
        self.thanks = self.label("")
        self.why = self.label("", "hint", tone="muted")
        self.choices = []
        # One row of five answers, so the reasons fit below them even in large text.
        row = BoxLayout(spacing=12)
        for score in SCORES:
            b = self.button(f"rating.{score}", lambda s=score: self.rate(s), "key")
            self.choices.append(b)
            row.add_widget(b)
        self.body.add_widget(row)
        self.body.add_widget(self.why)
        self.reason_row = GridLayout(cols=3, spacing=12, size_hint_y=None, height=0)
        self.reason_buttons: dict[str, KButton] = {}
        for reason in REASONS:
            b = self.button(
                f"rating.reason.{reason.value}",
                lambda r=reason.value: self.toggle_reason(r),
                "secondary",
            )
            self.reason_buttons[reason.value] = b
        self.body.add_widget(self.reason_row)
        self.body.add_widget(self.thanks)
        self.send_button = self.button("rating.send", self.send)
        self.finish_button = self.button("nav.finish", self.finish)
        self.nav_buttons(self.finish_button)
        self.application_no: str | None = None
        self.score: int | None = None
        self.reasons: set[str] = set()
        self.sent = False
        self._event = None

    def enter(self, application_no: str | None = None, **kw: object) -> None:
        receipt = self.k.screens["receipt"].receipt if "receipt" in self.k.screens else None
        self.application_no = application_no or (receipt.application_no if receipt else None)
        self._reset()

    def _reset(self) -> None:
        self.score, self.reasons, self.sent = None, set(), False
        self.unsay(self.thanks)
        self.unsay(self.why)
        self._show_reasons(False)
        for b in self.choices:
            b.disabled = False
        self.nav_buttons(self.finish_button)

    def rate(self, score: int) -> None:
        self.score = score
        for b, s in zip(self.choices, SCORES, strict=True):
            b.disabled = s != score
        if score <= ASK_REASONS_AT:
            self.say(self.why, "rating.why")
            self._show_reasons(True)
            self.nav_buttons(self.finish_button, self.send_button)
        else:
            self.send()

    def toggle_reason(self, reason: str) -> None:
        self.reasons ^= {reason}
        button = self.reason_buttons[reason]
        button.role = "primary" if reason in self.reasons else "secondary"
        button.apply_theme(self.k.theme, self.k.dpi)

    def send(self) -> None:
        if self.score is None or self.sent:
            return
        self.sent = True
        number, score, reasons = self.application_no, self.score, sorted(self.reasons)
        ratings = self.k.node.ratings
        if number is not None:
            # Off the UI thread; the job finishes even if the citizen walks away meanwhile.
            self.k.run(
                "rating",
                lambda: ratings.rate(number, score, reasons),
                on_error=lambda exc: log.error("rating not kept: %s", type(exc).__name__),
            )
        for b in self.choices:
            b.disabled = True
        self._show_reasons(False)
        self.unsay(self.why)
        self.say(self.thanks, "rating.thanks")
        self.nav_buttons(self.finish_button)
        self._event = Clock.schedule_once(
            lambda _dt: self.k.end_session("finish") if self.k.current == self.name else None,
            self.finish_after_s,
        )

    def finish(self) -> None:
        # A score tapped but not sent still counts; the reasons chosen so far go with it.
        self.send()
        self.k.end_session("finish")

    def _show_reasons(self, shown: bool) -> None:
        self.reason_row.clear_widgets()
        if shown:
            for reason, b in self.reason_buttons.items():
                b.role = "primary" if reason in self.reasons else "secondary"
                self.say(b, f"rating.reason.{reason}")  # bound again: a wipe prunes hidden ones
                self.reason_row.add_widget(b)
            self.k.style(self.reason_row)
        self.reason_row.height = 200 if shown else 0

    def leave(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def wipe(self) -> None:
        self.application_no = None
        self._reset()
