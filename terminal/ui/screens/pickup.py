"""Pickup at the keypad and the open compartment.

A result handed over to the applicant in person goes code -> card -> face -> open: the code
screen sends the citizen to the identity screens, and the face screen calls `open_for_holder`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloud_bridge.contract import pickup_code
from terminal.flows.pickup import PickupFlow, PickupRefused, PickupStep
from terminal.ui.screens.base import KeypadScreen, KioskScreen
from terminal.ui.widgets import Keypad

if TYPE_CHECKING:
    from terminal.ui.kiosk import Kiosk

CODE_LENGTH = pickup_code.CODE_DIGITS
TAIL_LENGTH = 4
LONG_WAIT_S = 900  # the streak's longest delay; beyond it the wait is not worth counting down


def open_for_holder(kiosk: Kiosk, flow: PickupFlow) -> None:
    """After the holder's face check: open, or back to the keypad with the reason."""

    def refused(exc: BaseException) -> None:
        if not isinstance(exc, PickupRefused):
            kiosk.fatal(exc)
        elif kiosk.pickup is not flow:
            return  # the session ended meanwhile
        elif flow.step == PickupStep.OUT_OF_SERVICE:
            kiosk.go("pickup_open")  # the door stayed shut: staff will hand the result over
        else:
            kiosk.go("pickup_code", refusal=exc)

    kiosk.run(
        "pickup-holder",
        flow.open_for_holder,
        lambda opened: kiosk.go("pickup_open", compartment=opened.compartment_id),
        refused,
    )


class PickupCodeScreen(KeypadScreen):
    """The code from the SMS, then the last four digits of the applicant's phone (ADR 0011).

    Every citizen is asked for both: asking only for some results would say which ones.
    """

    title_key = "pickup.title"

    def build(self) -> None:
        self.hint = self.label("pickup.hint")
        self.error = self.label("", tone="danger")
        self.keypad = Keypad(max_len=CODE_LENGTH, masked=True, labels=self.t)
        self.tail_keypad = Keypad(max_len=TAIL_LENGTH, labels=self.t, size_hint_x=0.6)
        self.next_button = self.button("nav.next", self.to_tail)
        self.back_button = self.button("nav.back", self.to_code, "secondary")
        self.open_button = self.button("pickup.open", self.confirm)
        self._show_code()

    def retranslate(self) -> None:
        super().retranslate()
        self.tail_keypad.retranslate()

    def enter(self, refusal: PickupRefused | None = None, **kw: object) -> None:
        self.open_button.disabled = False
        self._show_code()
        if refusal is not None:
            self.refuse(refusal)

    def wipe(self) -> None:
        super().wipe()
        self.tail_keypad.clear()
        self._show_code()

    def to_code(self) -> None:
        """Back to the code, keeping what was typed there."""
        self.tail_keypad.clear()
        self._show_code()

    def to_tail(self) -> None:
        """The code has its length: ask for the phone's last four digits."""
        if len(self.keypad.value) != CODE_LENGTH:
            self.say(self.error, "pickup.short", digits=CODE_LENGTH)
            return
        self.unsay(self.error)
        self._show_step(self.tail_keypad, "pickup.tail_hint", self.back_button, self.open_button)

    def refuse(self, exc: PickupRefused) -> None:
        """Say why nothing opened, in the citizen's language."""
        wait = int(exc.retry_after_s + 0.99)
        reason = exc.reason
        if reason == "locked_out" and wait > LONG_WAIT_S:
            reason = "keypad_closed"  # the day's budget is spent: hours, not seconds (ADR 0011)
        self.say(self.error, f"pickup.refused.{reason}", seconds=wait)
        self.k.speak(self.error.text)

    def confirm(self) -> None:
        flow = self.k.pickup
        if flow is None or self.open_button.disabled:
            return
        code, tail = self.keypad.value, self.tail_keypad.value
        if len(tail) != TAIL_LENGTH:
            self.say(self.error, "pickup.tail_short", digits=TAIL_LENGTH)
            return
        self.open_button.disabled = True
        self.keypad.clear()
        self.tail_keypad.clear()
        self._show_code()

        def refused(exc: BaseException) -> None:
            if not isinstance(exc, PickupRefused):
                self.k.fatal(exc)
                return
            if flow.step == PickupStep.OUT_OF_SERVICE:
                self.k.go("pickup_open")  # the door stayed shut: staff will hand it over
                return
            self.open_button.disabled = False
            self.refuse(exc)

        def checked(opened) -> None:
            if opened is None:  # the result is for the applicant in person: card, then face
                self.unsay(self.error)
                self.k.go("card")
            else:
                self.k.go("pickup_open", compartment=opened.compartment_id)

        self.k.run("pickup", lambda: flow.enter_code(code, tail), checked, refused)

    def _show_code(self) -> None:
        self._show_step(self.keypad, "pickup.hint", self.cancel_button(), self.next_button)

    def _show_step(self, keypad: Keypad, hint: str, *buttons) -> None:
        self.body.clear_widgets()
        for w in (self.hint, self.error, self.keypad, self.tail_keypad):
            if w.parent is not None:  # still in the last step's column
                w.parent.remove_widget(w)
        self.say(self.hint, hint)
        self.keypad_page(keypad, self.hint, self.error)
        self.nav_buttons(*buttons)
        self.k.style(self.body)


class PickupOpenScreen(KioskScreen):
    """The compartment opened; without a door sensor the citizen first says whether it did."""

    title_key = "pickup.opened_title"

    def build(self) -> None:
        self.message = self.label("", "title", halign="center")
        self.body.add_widget(self.message)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.done_button = self.button("pickup.done", self.done)
        self.yes_button = self.button("door.yes", lambda: self.answer(True))
        self.no_button = self.button("door.no", lambda: self.answer(False), "secondary")
        self.compartment = ""

    def enter(self, compartment: str = "", **kw: object) -> None:
        self.compartment = compartment
        self.unsay(self.error)
        self.prompt_key = ""
        self.render()

    def render(self) -> None:
        flow = self.k.pickup
        if flow is not None and flow.step == PickupStep.CONFIRM_DOOR:
            self.say(self.message, "door.question", compartment=self.compartment)
            self.nav_buttons(self.no_button, self.yes_button)
        elif flow is not None and flow.step == PickupStep.OUT_OF_SERVICE:
            self.say(self.message, "pickup.refused.jammed")
            self.nav_buttons(self.button("nav.finish", lambda: self.k.end_session("finish")))
        else:
            self.say(self.message, "pickup.opened", compartment=self.compartment)
            self.nav_buttons(self.done_button)
        self.k.speak(self.message.text)

    def answer(self, yes: bool) -> None:
        flow = self.k.pickup
        if flow is None:
            return

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, PickupRefused):
                self.k.fatal(exc)
                return
            self.say(self.error, f"pickup.refused.{exc.reason}", seconds=0)
            self.render()

        self.k.run("pickup-door", lambda: flow.door_opened(yes), lambda _o: self.render(), failed)

    def done(self) -> None:
        flow = self.k.pickup
        if flow is not None and flow.step == PickupStep.OPEN:
            flow.door_closed()
        self.k.end_session("finish")

    def wipe(self) -> None:
        self.unsay(self.message)
        self.unsay(self.error)
        self.compartment = ""
