"""The materials checklist of the chosen item: what is needed, how each can be given, what is in.

Each material is one row: its name, whether it is needed, where it stands, and a big button
for each way the citizen may give it: scan it, take it from a USB stick, use the copy the
backend already holds (材料复用), or bring it later (容缺). Choosing another way replaces the
earlier one; "Undo" takes back a reuse or a "later".
"""

from __future__ import annotations

import logging
from datetime import date

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from cloud_bridge.contract.catalog import Form, MaterialSpec
from terminal.flows.session import FlowError
from terminal.flows.submission import Step
from terminal.materials.checklist import ChecklistEntry, MaterialStatus, OnFile
from terminal.ui.screens.base import KioskScreen
from terminal.ui.theme import Theme
from terminal.ui.widgets import KButton, KLabel

log = logging.getLogger(__name__)


def day_text(t, day: date) -> str:
    """A date as the citizen reads it (2036年3月1日 / 1 Mar 2036)."""
    return t("materials.date", year=day.year, month=day.month, day=day.day)


class MaterialRow(BoxLayout):
    """One material: its name and state on the left, its big buttons on the right.

    The row is as tall as its tallest part: two lines of button text at least, more when a
    button's words or the state wrap (large text).
    """

    def __init__(self, name: KLabel, state: KLabel, **kw):
        super().__init__(size_hint_y=None, spacing=16, **kw)
        self.base = 110.0
        self.words = BoxLayout(orientation="vertical", size_hint_x=0.36, spacing=4)
        self.words.add_widget(name)
        self.words.add_widget(state)
        self.buttons = BoxLayout(spacing=12, size_hint_x=0.64)
        self.add_widget(self.words)
        self.add_widget(self.buttons)
        for lab in (name, state):
            lab.bind(height=self._fit)
        self._fit()

    def add_button(self, button: KButton) -> None:
        button.bind(texture_size=self._fit)
        self.buttons.add_widget(button)

    def _fit(self, *_) -> None:
        words = sum(w.height for w in self.words.children) + 4
        texts = [b.texture_size[1] + 28 for b in self.buttons.children]
        self.height = max(self.base, words, *texts)

    def apply_theme(self, theme: Theme, dpi: float) -> None:
        self.base = max(theme.touch_px(dpi), theme.button_px * 2.9)
        self._fit()


class MaterialsScreen(KioskScreen):
    """The checklist: one row per material with its state and what the citizen may do."""

    title_key = "materials.title"

    def build(self) -> None:
        self.body.add_widget(self.label("materials.hint", "hint", tone="muted"))
        self.checking = self.label("", tone="muted")
        self.body.add_widget(self.checking)
        self.rows = GridLayout(cols=1, spacing=18, size_hint_y=None)
        self.rows.bind(minimum_height=self.rows.setter("height"))
        self.scroll = ScrollView(do_scroll_x=False)
        self.scroll.add_widget(self.rows)
        self.body.add_widget(self.scroll)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.next_button = self.button("nav.next", self.confirm)
        self.nav_buttons(self.cancel_button(), self.next_button)
        self.row_buttons: dict[str, KButton] = {}  # code -> the button that scans it
        self.actions: dict[str, dict[str, KButton]] = {}  # code -> action -> button
        self.states: dict[str, KLabel] = {}
        self.asked_for: str | None = None  # the application whose reuse offers were asked

    # ------------------------------------------------------------------ entering

    def enter(self, **kw: object) -> None:
        self.unsay(self.error)
        flow = self.k.submission
        first = flow is not None and flow.step == Step.MATERIALS and flow.application_no
        if first and self.asked_for != flow.application_no:
            self.asked_for = flow.application_no
            self.ask_reuse()
        self.render()

    def ask_reuse(self) -> None:
        """Ask the backend what it holds, in a worker; offline or silent means no offers."""
        flow = self.k.submission
        if flow is None or flow.parts.on_file is None or not flow.parts.on_file.enabled:
            return
        self.say(self.checking, "materials.checking")
        self.next_button.disabled = True

        def ask():
            return flow.offer_reuse()

        def done(offers) -> None:
            self.unsay(self.checking)
            self.next_button.disabled = False
            if offers:
                self.say(self.checking, "materials.on_file_found", count=len(offers))
                # The rows gain their "use the one on file" buttons. Only then: rows drawn
                # again for nothing replaced the button under a finger landing at that moment
                # (a scripted tour tapped a row that was gone by the time the tap arrived).
                self.render()

        def failed(exc: BaseException) -> None:
            # A lookup that breaks costs the citizen nothing: they scan as usual.
            log.warning("materials on file not available: %s", type(exc).__name__)
            self.unsay(self.checking)
            self.next_button.disabled = False

        self.k.run("on-file", ask, done, failed)

    # ------------------------------------------------------------------ rows

    def render(self) -> None:
        flow = self.k.submission
        self.rows.clear_widgets()
        self.row_buttons, self.actions, self.states = {}, {}, {}
        self.prune_texts()
        if flow is None or flow.item is None or flow.checklist is None:
            return
        for spec in flow.item.materials:
            self.add_row(flow.checklist.entry(spec.code))
        self.k.style(self.rows)

    def add_row(self, entry: ChecklistEntry) -> None:
        t, spec = self.k.t, entry.spec
        need = "materials.needed" if spec.required else "materials.optional"
        name = self.label(lambda: f"{t.pick(spec.name_zh, spec.name_en)} · {t(need)}", "body")
        state = self.label(lambda: self.state_text(entry), "hint", tone="muted")
        self.states[spec.code] = state
        row = MaterialRow(name, state)
        buttons: dict[str, KButton] = {}
        status = entry.status
        has_file = status in (MaterialStatus.SCANNED, MaterialStatus.IMPORTED)
        if Form.SCAN in spec.forms:
            again = has_file
            buttons["scan"] = self.button(
                "materials.scan_again" if again else "materials.scan",
                lambda c=spec.code: self.k.go("scan", code=c),
                "secondary" if status != MaterialStatus.MISSING else "primary",
            )
        if Form.USB in spec.forms and self.k.node.parts.removable_media is not None:
            buttons["usb"] = self.button(
                "materials.usb", lambda c=spec.code: self.k.go("usb_import", code=c), "secondary"
            )
        offer = entry.offer
        if offer is not None and status != MaterialStatus.REUSED:
            buttons["reuse"] = self.button(
                lambda o=offer: t("materials.reuse", until=day_text(t, o.valid_until)),
                lambda c=spec.code: self.act(c, "reuse"),
                "secondary",
            )
        if spec.tolerable and status != MaterialStatus.TOLERATED:
            buttons["later"] = self.button(
                lambda s=spec: t("materials.later", days=s.tolerated_days),
                lambda c=spec.code: self.act(c, "later"),
                "secondary",
            )
        if status in (MaterialStatus.REUSED, MaterialStatus.TOLERATED):
            buttons["undo"] = self.button(
                "materials.undo", lambda c=spec.code: self.act(c, "undo"), "secondary"
            )
        for b in buttons.values():
            row.add_button(b)
        self.actions[spec.code] = buttons
        if "scan" in buttons:
            self.row_buttons[spec.code] = buttons["scan"]
        self.rows.add_widget(row)

    def state_text(self, entry: ChecklistEntry) -> str:
        t = self.k.t
        flow = self.k.submission
        status = entry.status
        if status in (MaterialStatus.SCANNED, MaterialStatus.IMPORTED):
            held = flow.scanned.get(entry.spec.code) if flow is not None else None
            pages = held.pages if held is not None else 0
            key = "materials.scanned" if status == MaterialStatus.SCANNED else "materials.imported"
            return "✓ " + t(key, pages=pages)
        if status == MaterialStatus.REUSED and entry.offer is not None:
            return "✓ " + self.on_file_text(entry.offer)
        if status == MaterialStatus.TOLERATED:
            return "✓ " + t("materials.tolerated", days=entry.spec.tolerated_days)
        if entry.offer is not None:
            return self.on_file_text(entry.offer)
        return t("materials.not_yet" if entry.spec.required else "materials.not_yet_optional")

    def on_file_text(self, offer: OnFile) -> str:
        t = self.k.t
        return t(
            "materials.on_file",
            pages=offer.pages,
            captured=day_text(t, offer.captured_on),
            until=day_text(t, offer.valid_until),
        )

    # ------------------------------------------------------------------ actions

    def act(self, code: str, action: str) -> None:
        flow = self.k.submission
        if flow is None or flow.checklist is None:
            return
        self.unsay(self.error)
        try:
            if action == "reuse":
                flow.reuse_material(code)
            elif action == "later":
                flow.tolerate_material(code)
            elif action == "undo":
                flow.checklist.clear(code)
        except FlowError:
            self.say(self.error, "materials.not_possible")
        self.render()

    def confirm(self) -> None:
        flow = self.k.submission
        if flow is None or flow.checklist is None or self.next_button.disabled:
            return
        needed = flow.checklist.still_needed()
        if needed:
            t = self.k.t
            specs: list[MaterialSpec] = [e.spec for e in needed]
            self.say(
                self.error,
                lambda: t(
                    "materials.still_needed",
                    names=t("materials.list_sep").join(t.pick(s.name_zh, s.name_en) for s in specs),
                ),
            )
            self.k.speak(self.error.text)
            return
        try:
            flow.finish_materials()
        except FlowError:
            self.say(self.error, "materials.missing")
            return
        self.k.go("deposit" if flow.step == Step.DEPOSIT else "review")

    # ------------------------------------------------------------------ language, forgetting

    def retranslate(self) -> None:
        super().retranslate()
        self.render()

    def wipe(self) -> None:
        self.rows.clear_widgets()
        self.row_buttons, self.actions, self.states = {}, {}, {}
        self.asked_for = None
        self.next_button.disabled = False
        self.unsay(self.checking)
        self.unsay(self.error)
