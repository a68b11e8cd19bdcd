"""The progress query: what became of an application."""

from __future__ import annotations

from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import Keypad


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
