"""The progress query (查询办理进度): number, phone tail, then the state in big letters.

The citizen types the application number (letters keypad), then the last 4 digits of the
phone number given when applying (our numeric keypad). The answer comes from the backend
(`terminal.progress`); when it cannot be reached the screen says so plainly and asks to try
again later, showing nothing of this terminal's own record (nobody checked the tail).
"""

from __future__ import annotations

from datetime import date, datetime

from kivy.uix.widget import Widget

from cloud_bridge.contract.messages import SERVICE_TZ
from terminal.progress import BadQuery, Progress, check_number
from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import Keypad

NUMBER, TAIL, ASKING, RESULT = "number", "tail", "asking", "result"


class QueryScreen(KioskScreen):
    """Asks the backend what became of an application; the state comes first, in big text."""

    title_key = "query.title"

    def build(self) -> None:
        self.hint = self.label("query.hint", "hint", tone="muted")
        self.error = self.label("", "body", tone="danger")
        self.keypad = Keypad(max_len=24, letters=True, labels=self.t)
        self.tail_keypad = Keypad(max_len=4, labels=self.t, size_hint_x=0.6)
        self.state_line = self.label("", "title")
        self.details = self.label("")
        self.filler = Widget()  # keeps the texts at the top of the page
        self.back_button = self.button("nav.back", self.to_number, "secondary")
        self.next_button = self.button("nav.next", self.to_tail)
        self.search_button = self.button("query.search", self.lookup)
        self.again_button = self.button("query.again", self.to_number, "secondary")
        self.finish_button = self.button("nav.finish", lambda: self.k.end_session("finish"))
        # 容缺: when the application still owes materials, they can be brought here and now.
        self.bring_button = self.button("query.bring", self.bring)
        self.number = ""
        self.tail = ""
        self.progress: Progress | None = None
        self.step = NUMBER
        self._show_step(NUMBER)

    # ------------------------------------------------------------------ steps

    def enter(self, **kw: object) -> None:
        if self.progress is None and self.step != ASKING:
            self._show_step(NUMBER)

    def to_number(self) -> None:
        self.progress = None
        self.unsay(self.state_line)
        self.unsay(self.details)
        self.tail_keypad.clear()
        self._show_step(NUMBER)

    def to_tail(self) -> None:
        try:
            # Only the number's shape is checked here; whether it exists only the centre knows.
            number = check_number(self.keypad.value)
        except BadQuery:
            self.say(self.error, "query.bad_number")
            return
        self.number = number
        self._show_step(TAIL)

    def lookup(self) -> None:
        tail = self.tail_keypad.value
        if len(tail) != 4:
            self.say(self.error, "query.bad_tail")
            return
        number, lookup = self.number, self.k.node.progress
        self.tail = tail
        self._show_step(ASKING)
        self.k.run("query", lambda: lookup.ask(number, tail), self._show, self._failed)

    def bring(self) -> None:
        """On to bringing the owed materials, for the number and tail just typed."""
        if self.progress is not None:
            self.k.go("supplement", number=self.progress.application_no, tail=self.tail)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, BadQuery):
            self._show_step(TAIL if exc.field == "tail" else NUMBER)
            self.say(self.error, f"query.bad_{exc.field}")
            return
        self.k.fatal(exc)

    def _show_step(self, step: str) -> None:
        self.step = step
        self.unsay(self.error)
        self.body.clear_widgets()
        for w in (self.hint, self.error, self.keypad, self.tail_keypad, self.state_line):
            if w.parent is not None:  # still in the last step's column
                w.parent.remove_widget(w)
        if step == NUMBER:
            self.say(self.hint, "query.hint")
            self.keypad_page(self.keypad, self.hint, self.error)
            self.nav_buttons(self.cancel_button(), self.next_button)
        elif step == TAIL:
            self.say(self.hint, lambda: self.t("query.tail_hint", number=self.number))
            self.keypad_page(self.tail_keypad, self.hint, self.error)
            self.nav_buttons(self.back_button, self.search_button)
        elif step == ASKING:
            self.say(self.hint, "query.asking")
            for w in (self.hint, self.filler):
                self.body.add_widget(w)
            self.nav_buttons(self.cancel_button())
        else:
            for w in (self.state_line, self.details, self.filler):
                self.body.add_widget(w)
            p = self.progress
            owes = p is not None and p.reached and p.found and bool(p.supplements or p.requested)
            extra = (self.bring_button,) if owes else ()
            self.nav_buttons(self.again_button, *extra, self.finish_button)
        self.k.style(self.body)

    # ------------------------------------------------------------------ the answer

    def _show(self, progress: Progress) -> None:
        self.progress = progress
        self.keypad.clear()
        self.tail_keypad.clear()
        self._show_step(RESULT)
        t = self.k.t
        if not progress.reached:
            self.say(self.state_line, "query.offline")
            self.say(self.details, "query.offline_later")
        elif not progress.found:
            self.say(self.state_line, "query.none_found")
            self.say(self.details, "query.check_input")
        else:
            self.say(self.state_line, lambda: t(f"query.state.{progress.state}"))
            self.say(self.details, lambda: self._found_text(progress))
        self.k.speak(self.state_line.text)

    def _item_name(self, code: str | None) -> str:
        item = next((i for i in self.k.node.parts.catalog if i.code == code), None)
        return self.k.t.pick(item.name_zh, item.name_en) if item else str(code or "")

    def _material_name(self, code: str) -> str:
        for item in self.k.node.parts.catalog:
            for spec in item.materials:
                if spec.code == code:
                    return self.k.t.pick(spec.name_zh, spec.name_en)
        return code

    def _found_text(self, p: Progress) -> str:
        t = self.k.t
        lines = [t("query.number", number=p.application_no)]
        if p.item_code:
            lines.append(t("query.item", item=self._item_name(p.item_code)))
        if p.state == "ready_for_pickup" and p.pickup_terminal_id:
            here = p.pickup_terminal_id == self.k.node.terminal_id
            key = "query.pickup_here" if here else "query.pickup_at"
            lines.append(t(key, terminal=p.pickup_terminal_id, at=_when(p.since)))
        elif p.since:
            lines.append(t("query.since", at=_when(p.since)))
        for owed in p.supplements:
            name = self._material_name(owed.material_code)
            lines.append(t("query.supplement", material=name, date=_day(owed.due_on)))
        for asked in p.requested:
            name = self._material_name(asked.material_code)
            reason = t(f"reason.supplement.{asked.reason}")
            lines.append(t("query.requested", material=name, reason=reason))
        if p.state == "refused":
            lines.append(t("query.refused_hint"))
        elif p.state == "at_the_office":
            lines.append(t("query.office_hint"))
        if p.submitted_on:
            lines.append(t("query.submitted_on", date=_day(p.submitted_on)))
        if p.promised_by and p.state in ("received", "under_review", "supplement_needed"):
            lines.append(t("query.promised_by", date=_day(p.promised_by)))
        return "\n".join(lines)

    # ------------------------------------------------------------------ language, wipe

    def retranslate(self) -> None:
        super().retranslate()
        self.keypad.retranslate()
        self.tail_keypad.retranslate()

    def wipe(self) -> None:
        self.keypad.clear()
        self.tail_keypad.clear()
        self.number = ""
        self.tail = ""
        self.progress = None
        for w in (self.error, self.state_line, self.details):
            self.unsay(w)
        self._show_step(NUMBER)


def _day(value: date) -> str:
    return value.isoformat()


def _when(value: datetime | None) -> str:
    return value.astimezone(SERVICE_TZ).strftime("%Y-%m-%d %H:%M") if value else ""
