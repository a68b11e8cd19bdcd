"""Bring a missing material (补交材料): the owed materials of one application, scanned and sent.

Reached from the progress query's answer when the application still owes materials: the
number and phone tail the citizen typed there find it again (`terminal.flows.supplement`).
Each owed material opens the kiosk's scan screen (document camera, page checks) or, when the
terminal has a USB port, the USB import screen; both come back here. "Send" queues them for
the application. Only what the backend said is owed can be supplied.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from terminal.coded import CitizenError
from terminal.flows.supplement import Owed, SupplementReceipt
from terminal.progress import BadQuery
from terminal.ui.screens.base import KioskScreen


class SupplementScreen(KioskScreen):
    title_key = "supplement.title"

    def build(self) -> None:
        self.hint = self.label("", "body")
        self.rows = BoxLayout(orientation="vertical", spacing=10)
        self.error = self.label("", tone="danger")
        for w in (self.hint, self.rows, self.error, Widget()):
            self.body.add_widget(w)
        self.send_button = self.button("supplement.send", self.send)
        self.finish_button = self.button("nav.finish", lambda: self.k.end_session("finish"))
        self.row_buttons: dict[str, object] = {}
        self.usb_buttons: dict[str, object] = {}
        self.busy = False

    def enter(self, number: str = "", tail: str = "", **kw: object) -> None:
        flow = self.k.supplement
        if not number and flow is not None and flow.owed:
            self._show(list(flow.owed.values()))  # back from the scan or USB screen
            return
        self.rows.clear_widgets()
        self.row_buttons = {}
        self.unsay(self.error)
        self.say(self.hint, "supplement.asking")
        self.nav_buttons(self.cancel_button())
        flow = self.k.supplement = self.k.node.supplement()
        self.busy = True
        self.k.run("supplement-find", lambda: flow.find(number, tail), self._show, self._failed)

    def _show(self, owed: list[Owed]) -> None:
        self.busy = False
        flow = self.k.supplement
        if flow is None:
            return
        self.say(self.hint, lambda: self.t("supplement.hint", number=flow.application_no))
        self.rows.clear_widgets()
        self.row_buttons, self.usb_buttons = {}, {}
        usb = self.k.node.parts.removable_media is not None
        for item in owed:
            code = item.spec.code
            line = BoxLayout(spacing=10)
            b = self.button(lambda i=item: self._row_text(i), lambda c=code: self.scan(c), "key")
            self.row_buttons[code] = b
            line.add_widget(b)
            if usb:
                u = self.button("supplement.usb", lambda c=code: self.usb(c), "secondary")
                u.size_hint_x = 0.3
                self.usb_buttons[code] = u
                line.add_widget(u)
            self.rows.add_widget(line)
        self.nav_buttons(self.cancel_button(), self.send_button)
        self.k.style(self.page)

    def _row_text(self, item: Owed) -> str:
        flow = self.k.supplement
        name = self.k.t.pick(item.spec.name_zh, item.spec.name_en)
        done = flow is not None and item.spec.code in flow.scanned
        key = "supplement.row_done" if done else "supplement.row"
        return self.t(key, material=name, date=item.due_on.isoformat())

    def scan(self, code: str) -> None:
        if self.k.supplement is not None and not self.busy:
            self.k.go("scan", code=code)

    def usb(self, code: str) -> None:
        if self.k.supplement is not None and not self.busy:
            self.k.go("usb_import", code=code)

    def send(self) -> None:
        flow = self.k.supplement
        if flow is None or self.busy:
            return
        self.busy = True
        self.k.run("supplement-send", flow.send, self._sent, self._failed)

    def _sent(self, receipt: SupplementReceipt) -> None:
        self.busy = False
        self.rows.clear_widgets()
        self.row_buttons, self.usb_buttons = {}, {}
        key = "supplement.sent" if receipt.sent_now else "supplement.sent_later"
        self.say(self.hint, lambda: self.t(key, number=receipt.application_no))
        self.k.speak(self.hint.text)
        self.nav_buttons(self.finish_button)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        if isinstance(exc, BadQuery):
            self.say(self.error, "supplement.error.not_found")
        elif isinstance(exc, CitizenError):
            self.say(self.error, lambda: self.t(exc.key, **exc.params))
        else:
            self.k.fatal(exc)
            return
        if not self.row_buttons:
            self.unsay(self.hint)

    def wipe(self) -> None:
        self.rows.clear_widgets()
        self.row_buttons, self.usb_buttons = {}, {}
        self.unsay(self.hint)
        self.unsay(self.error)
        self.busy = False
