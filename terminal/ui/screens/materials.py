"""The materials checklist of the chosen item: what is needed, what is in hand."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout

from terminal.catalog import MaterialSpec
from terminal.flows.session import FlowError
from terminal.flows.submission import Step
from terminal.ui.screens.base import KioskScreen


class MaterialsScreen(KioskScreen):
    """The checklist: what is needed, what is scanned; tap a line to scan it."""

    title_key = "materials.title"

    def build(self) -> None:
        self.body.add_widget(self.label("materials.hint", "hint", tone="muted"))
        self.rows = BoxLayout(orientation="vertical", spacing=12)
        self.body.add_widget(self.rows)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.nav_buttons(self.cancel_button(), self.button("nav.next", self.confirm))
        self.row_buttons = {}

    def enter(self, **kw: object) -> None:
        self.unsay(self.error)
        self.render()

    def render(self) -> None:
        flow = self.k.submission
        self.rows.clear_widgets()
        self.row_buttons = {}
        if flow is None or flow.item is None:
            return
        t = self.k.t
        for spec in flow.item.materials:
            scanned = flow.scanned.get(spec.code)

            def text(s: MaterialSpec = spec, done=scanned) -> str:
                name = t.pick(s.name_zh, s.name_en)
                if done:
                    return f"✓ {name}: {t('materials.scanned', pages=done.pages)}"
                state = "materials.needed" if s.required else "materials.optional"
                return f"{name}: {t(state)}"

            b = self.button(
                text,
                lambda c=spec.code: self.k.go("scan", code=c),
                "secondary" if scanned else "key",
            )
            self.row_buttons[spec.code] = b
            self.rows.add_widget(b)
        self.k.style(self.rows)

    def confirm(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        try:
            flow.finish_materials()
        except FlowError:
            self.say(self.error, "materials.missing")
            return
        self.k.go("deposit" if flow.step == Step.DEPOSIT else "review")

    def retranslate(self) -> None:
        super().retranslate()
        self.render()

    def wipe(self) -> None:
        self.rows.clear_widgets()
        self.row_buttons = {}
        self.unsay(self.error)
