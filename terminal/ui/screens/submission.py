"""Submission after identity: phone, deposit of originals, review (materials: own modules)."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from privacy import mask_name, mask_phone
from terminal.flows.session import FlowError
from terminal.ui.screens.base import KeypadScreen, KioskScreen
from terminal.ui.widgets import Keypad


class PhoneScreen(KeypadScreen):
    title_key = "phone.title"

    def build(self) -> None:
        self.error = self.label("", tone="danger")
        self.keypad = Keypad(max_len=11, labels=self.t)
        self.keypad_page(self.keypad, self.label("phone.hint"), self.error)
        self.nav_buttons(self.cancel_button(), self.button("nav.next", self.confirm))

    def confirm(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        try:
            flow.enter_phone(self.keypad.value)
        except FlowError:
            self.say(self.error, "phone.invalid")
            return
        self.keypad.clear()
        self.unsay(self.error)
        self.k.go("materials")


class DepositScreen(KioskScreen):
    """Paper originals into a compartment: it opens, the citizen closes the door."""

    title_key = "deposit.title"

    def build(self) -> None:
        self.message = self.label("deposit.hint")
        self.body.add_widget(self.message)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.open_button = self.button("deposit.open", self.open)
        self.skip_button = self.button("deposit.skip", self.skip, "secondary")
        # After a jam: this session opens no other compartment (SubmissionFlow.deposit_can_open).
        self.continue_button = self.button("deposit.continue_without", self.skip)
        self.closed_button = self.button("deposit.closed", self.closed)
        self.yes_button = self.button("door.yes", lambda: self.answer(True))
        self.no_button = self.button("door.no", lambda: self.answer(False), "secondary")

    def enter(self, **kw: object) -> None:
        self.say(self.message, "deposit.hint")
        self.unsay(self.error)
        self._offer_choices()

    def _offer_choices(self) -> None:
        """Open a compartment or go on without; once a compartment jammed, only go on."""
        flow = self.k.submission
        if flow is not None and not flow.deposit_can_open:
            self.nav_buttons(self.cancel_button(), self.continue_button)
        else:
            self.nav_buttons(self.cancel_button(), self.skip_button, self.open_button)

    def open(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        self.k.run("deposit-open", flow.open_deposit, self._opened, self._failed)

    def _opened(self, cid: str) -> None:
        flow = self.k.submission
        self.unsay(self.error)
        if flow is not None and getattr(flow, "deposit_door_unconfirmed", False):
            # No door sensor: only the citizen can tell us whether it opened.
            self.say(self.message, "deposit.did_it_open", compartment=cid)
            self.nav_buttons(self.cancel_button(), self.no_button, self.yes_button)
        else:
            self.say(self.message, "deposit.opened", compartment=cid)
            self.nav_buttons(self.cancel_button(), self.closed_button)
        self.k.speak(self.message.text)

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, FlowError):
            self.k.fatal(exc)
            return
        self.say(self.error, exc.key, **exc.params)
        self._offer_choices()

    def answer(self, yes: bool) -> None:
        flow = self.k.submission
        if flow is None:
            return

        def ask():
            flow.deposit_door_opened(yes)
            return flow.deposit_compartment

        self.k.run("deposit-door", ask, self._opened, self._failed)

    def closed(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        self.k.run(
            "deposit-close", flow.close_deposit, lambda _r: self.k.go("review"), self._not_shut
        )

    def _not_shut(self, exc: BaseException) -> None:
        """The door still reads open: say so, and let the citizen shut it and tap again."""
        if not isinstance(exc, FlowError):
            self.k.fatal(exc)
            return
        self.say(self.error, exc.key, **exc.params)
        self.nav_buttons(self.cancel_button(), self.closed_button)
        self.k.speak(self.error.text)

    def skip(self) -> None:
        flow = self.k.submission
        if flow is not None:
            flow.skip_deposit()
            self.k.go("review")

    def wipe(self) -> None:
        self.say(self.message, "deposit.hint")
        self.unsay(self.error)


class ReviewScreen(KioskScreen):
    """Everything at a glance, masked, before the citizen submits."""

    title_key = "review.title"

    def build(self) -> None:
        self.lines = BoxLayout(orientation="vertical", spacing=8)
        self.body.add_widget(self.lines)
        self.submit_button = self.button("review.submit", self.submit)
        self.nav_buttons(self.cancel_button(), self.submit_button)

    def enter(self, **kw: object) -> None:
        self.submit_button.disabled = False
        self.render()

    def render(self) -> None:
        self.lines.clear_widgets()
        flow = self.k.submission
        if flow is None or flow.document is None or flow.item is None:
            return
        t = self.k.t
        doc, item, phone = flow.document, flow.item, flow.phone or ""
        name, number = mask_name(doc.name), doc.masked_number
        rows = [
            lambda: f"{t('review.name')}: {name}",
            lambda: f"{t('review.id_number')}: {number}",
            lambda: f"{t('review.phone')}: {mask_phone(phone)}",
            lambda: f"{t('review.item')}: {t.pick(item.name_zh, item.name_en)}",
            lambda: f"{t('review.materials')}: {len(flow.scanned)}",
            lambda: (
                f"{t('review.deposit')}: "
                + (flow.deposit_compartment if flow.deposit_confirmed else t("review.no_deposit"))
            ),
        ]
        for row in rows:
            self.lines.add_widget(self.label(row))
        self.lines.add_widget(Widget())  # lines start at the top
        self.k.style(self.lines)

    def submit(self) -> None:
        flow = self.k.submission
        if flow is None or self.submit_button.disabled:
            return
        self.submit_button.disabled = True
        self.k.run("submit", flow.submit, lambda receipt: self.k.go("receipt", receipt=receipt))

    def retranslate(self) -> None:
        super().retranslate()
        if self.k.current == self.name:
            self.render()

    def wipe(self) -> None:
        self.lines.clear_widgets()
