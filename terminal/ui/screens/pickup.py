"""Pickup at the keypad, the open compartment, and the progress query."""

from __future__ import annotations

from terminal.flows.pickup import PickupRefused, PickupStep
from terminal.ui.screens.base import KeypadScreen, KioskScreen
from terminal.ui.widgets import Keypad

CODE_LENGTH = 6


class PickupCodeScreen(KeypadScreen):
    title_key = "pickup.title"

    def build(self) -> None:
        self.error = self.label("", tone="danger")
        self.keypad = Keypad(max_len=CODE_LENGTH, masked=True, labels=self.t)
        self.keypad_page(self.keypad, self.label("pickup.hint"), self.error)
        self.open_button = self.button("pickup.open", self.confirm)
        self.nav_buttons(self.cancel_button(), self.open_button)

    def enter(self, **kw: object) -> None:
        self.open_button.disabled = False

    def confirm(self) -> None:
        flow = self.k.pickup
        if flow is None or self.open_button.disabled:
            return
        code = self.keypad.value
        if len(code) != CODE_LENGTH:
            self.say(self.error, "pickup.short", digits=CODE_LENGTH)
            return
        self.open_button.disabled = True
        self.keypad.clear()

        def refused(exc: BaseException) -> None:
            if not isinstance(exc, PickupRefused):
                self.k.fatal(exc)
                return
            self.open_button.disabled = False
            wait = int(exc.retry_after_s + 0.99)
            self.say(self.error, f"pickup.refused.{exc.reason}", seconds=wait)
            self.k.speak(self.error.text)

        self.k.run(
            "pickup",
            lambda: flow.enter_code(code),
            lambda opened: self.k.go("pickup_open", compartment=opened.compartment_id),
            refused,
        )


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


class QueryScreen(KioskScreen):
    """What this terminal recorded of an application; the review itself is reported by SMS."""

    title_key = "query.title"

    def build(self) -> None:
        self.body.add_widget(self.label("query.hint", "hint", tone="muted"))
        self.result = self.label("")
        self.body.add_widget(self.result)
        self.keypad = Keypad(max_len=24, letters=True, labels=self.t)
        self.body.add_widget(self.keypad)
        self.nav_buttons(self.cancel_button(), self.button("query.search", self.lookup))

    def lookup(self) -> None:
        typed = self.keypad.value.upper()
        store = self.k.node.store

        def find():
            return store.local_application(typed) or store.local_application(_dashed(typed))

        self.k.run("query", find, self._show)

    def _show(self, found) -> None:
        if not found:
            self.say(self.result, "query.not_found")
            return
        t = self.k.t
        catalog = {i.code: i for i in self.k.node.parts.catalog}
        item = catalog.get(str(found["item_code"]))

        def text() -> str:
            name = t.pick(item.name_zh, item.name_en) if item else str(found["item_code"])
            return "\n".join(
                (
                    t("query.found", number=found["application_no"]),
                    name,
                    t("query.submitted_at", at=str(found["submitted_at"])[:16].replace("T", " ")),
                    t("query.status_by_sms"),
                )
            )

        self.say(self.result, text)

    def retranslate(self) -> None:
        super().retranslate()
        self.keypad.retranslate()

    def wipe(self) -> None:
        self.keypad.clear()
        self.unsay(self.result)


def _dashed(typed: str) -> str:
    """AHT0001202611210001 -> AH-T0001-20261121-0001, as application numbers are printed."""
    if typed.startswith("AH") and "-" not in typed and len(typed) > 14:
        body = typed[2:]
        return f"AH-{body[:-12]}-{body[-12:-4]}-{body[-4:]}"
    return typed
