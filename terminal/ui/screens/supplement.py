"""Bring a missing material (补交材料): the owed materials of one application, scanned and sent.

Reached two ways (`terminal.flows.supplement`): from the progress query's answer when the
application still owes materials (the number and phone tail the citizen typed there find it
again), or from the home page with the ID card: after the card and face screens, the citizen's
applications that owe something are listed, and they tap one. Each owed material opens the
kiosk's scan screen (document camera, page checks) or, when the terminal has a USB port, the
USB import screen; both come back here. "Send" queues them for the application. Only what the
backend said is owed can be supplied.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from terminal.coded import CitizenError
from terminal.flows.supplement import Owed, Step, SupplementReceipt
from terminal.owing import OwingCase
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
        # By card with nothing to list: the number and phone tail may still find the application.
        self.by_number_button = self.button("supplement.by_number", self.k.begin_query, "secondary")
        self.row_buttons: dict[str, object] = {}
        self.usb_buttons: dict[str, object] = {}
        self.case_buttons: dict[str, object] = {}  # by card: application number -> its button
        self.busy = False

    def enter(self, number: str = "", tail: str = "", by_card: bool = False, **kw: object) -> None:
        flow = self.k.supplement
        if not number and not by_card and flow is not None and flow.owed:
            self._show(list(flow.owed.values()))  # back from the scan or USB screen
            return
        self._clear_rows()
        self.unsay(self.error)
        self.say(self.hint, "supplement.asking")
        self.nav_buttons(self.cancel_button())
        self.busy = True
        if by_card:  # card and face passed: which of their applications owe something
            if flow is None:
                return
            self.k.run("supplement-list", flow.list_owing, self._show_cases, self._failed)
            return
        flow = self.k.supplement = self.k.node.supplement()
        self.k.run("supplement-find", lambda: flow.find(number, tail), self._show, self._failed)

    def _clear_rows(self) -> None:
        self.rows.clear_widgets()
        self.row_buttons, self.usb_buttons, self.case_buttons = {}, {}, {}

    def _show_cases(self, cases: list[OwingCase]) -> None:
        """The citizen's applications that owe something, the most urgent first: tap one."""
        self.busy = False
        flow = self.k.supplement
        if flow is None:
            return
        self.say(self.hint, "supplement.choose" if not flow.more else "supplement.choose_more")
        self._clear_rows()
        for case in cases:
            b = self.button(lambda c=case: self._case_text(c), lambda c=case: self.choose(c))
            self.case_buttons[case.application_no] = b
            self.rows.add_widget(b)
        self.nav_buttons(self.cancel_button())
        self.k.style(self.page)

    def _case_text(self, case: OwingCase) -> str:
        item = next((i for i in self.k.node.parts.catalog if i.code == case.item_code), None)
        name = self.k.t.pick(item.name_zh, item.name_en) if item else case.item_code
        return self.t(
            "supplement.case",
            item=name,
            number=case.application_no,
            date=case.submitted_on.isoformat(),
            count=len({x.material_code for x in (*case.supplements, *case.requested)}),
        )

    def choose(self, case: OwingCase) -> None:
        flow = self.k.supplement
        if flow is None or self.busy:
            return
        try:
            owed = flow.choose(case.application_no)
        except CitizenError as exc:
            self.say(self.error, exc.key, **exc.params)
            return
        self.unsay(self.error)
        self._show(owed)

    def _show(self, owed: list[Owed]) -> None:
        self.busy = False
        flow = self.k.supplement
        if flow is None:
            return
        self.say(self.hint, lambda: self.t("supplement.hint", number=flow.application_no))
        self._clear_rows()
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
        if flow is not None and item.spec.code in flow.scanned:
            return self.t("supplement.row_done", material=name)
        if item.reason is not None:  # staff asked for it (补正): why, from the fixed list
            reason = self.t(f"reason.supplement.{item.reason}")
            return self.t("supplement.row_requested", material=name, reason=reason)
        assert item.due_on is not None
        return self.t("supplement.row", material=name, date=item.due_on.isoformat())

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
        self._clear_rows()
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
        if not self.row_buttons and not self.case_buttons:
            self.unsay(self.hint)
        flow = self.k.supplement
        if flow is not None and flow.step == Step.CHOOSE and not self.case_buttons:
            self.nav_buttons(self.cancel_button(), self.by_number_button)

    def wipe(self) -> None:
        self._clear_rows()
        self.unsay(self.hint)
        self.unsay(self.error)
        self.busy = False
