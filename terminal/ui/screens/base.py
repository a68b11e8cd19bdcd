"""What every kiosk screen shares: a titled page, translated texts, and forgetting."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from terminal.ui.widgets import KButton, KLabel, Panel

if TYPE_CHECKING:
    from terminal.ui.kiosk import Kiosk

TextSpec = str | Callable[[], str]


class KioskScreen(Screen):
    """A page with a title, a body and a row of navigation buttons.

    Texts are bound to catalog keys with `say()`, so a language switch re-renders every
    screen, shown or not. `wipe()` removes whatever the screen showed of a citizen.
    """

    title_key = ""
    prompt_key = ""  # spoken when the screen appears; defaults to the title

    def __init__(self, kiosk: Kiosk, **kw):
        super().__init__(**kw)
        self.k = kiosk
        self._texts: dict[Widget, tuple[TextSpec, dict[str, object]]] = {}
        self.page = Panel()
        self.title = KLabel("title")
        if self.title_key:
            self.say(self.title, self.title_key)
            self.page.add_widget(self.title)
        self.body = BoxLayout(orientation="vertical", spacing=16)
        self.page.add_widget(self.body)
        self.nav = BoxLayout(size_hint_y=None, height=110, spacing=16)
        self.page.add_widget(self.nav)
        self.add_widget(self.page)
        self.build()
        if all(c.size_hint_y is None for c in self.body.children):
            self.body.add_widget(Widget())  # texts start at the top, not the bottom

    # ------------------------------------------------------------------ subclass hooks

    def build(self) -> None:
        """Create the screen's widgets."""

    def enter(self, **kw: object) -> None:
        """The screen is about to be shown for the current flow state."""

    def leave(self) -> None:
        """The screen is no longer shown; stop its loops."""

    def wipe(self) -> None:
        """Drop everything this screen shows of a citizen."""

    # ------------------------------------------------------------------ helpers

    def t(self, key: str, **params: object) -> str:
        return self.k.t(key, **params)

    def say(self, widget: Widget, spec: TextSpec, **params: object) -> Widget:
        """Show a catalog text (or a computed one) on a widget, again after a language switch."""
        self._texts[widget] = (spec, params)
        widget.text = spec() if callable(spec) else self.t(spec, **params)
        return widget

    def unsay(self, widget: Widget) -> None:
        self._texts.pop(widget, None)
        widget.text = ""

    def prune_texts(self) -> None:
        """Drop bindings of widgets no longer on the screen (their texts may name a citizen).

        Widgets the screen keeps as attributes (buttons shown only at some steps) stay bound.
        """
        kept = {id(v) for v in vars(self).values() if isinstance(v, Widget)}
        for widget in [w for w in self._texts if w.parent is None and id(w) not in kept]:
            del self._texts[widget]

    def retranslate(self) -> None:
        self.prune_texts()
        for widget, (spec, params) in list(self._texts.items()):
            widget.text = spec() if callable(spec) else self.t(spec, **params)

    def button(
        self, key: TextSpec, action: Callable[[], None], role: str = "primary", **kw
    ) -> KButton:
        b = KButton(role, on_press=action, **kw)
        self.say(b, key)
        return b

    def label(self, key: TextSpec = "", role: str = "body", **kw) -> KLabel:
        lab = KLabel(role, **kw)
        if key:
            self.say(lab, key)
        return lab

    def keypad_page(self, keypad, *left: Widget) -> BoxLayout:
        """Words on the left, our keypad on the right with the full height of the page."""
        row = BoxLayout(spacing=32)
        column = BoxLayout(orientation="vertical", spacing=16, size_hint_x=0.45)
        for w in left:
            column.add_widget(w)
        column.add_widget(Widget())
        row.add_widget(column)
        row.add_widget(keypad)
        self.body.add_widget(row)
        return column

    def nav_buttons(self, *buttons: KButton) -> None:
        self.nav.clear_widgets()
        for b in buttons:
            self.nav.add_widget(b)

    def cancel_button(self) -> KButton:
        return self.button("nav.cancel", lambda: self.k.end_session("cancel"), "secondary")


class KeypadScreen(KioskScreen):
    """A screen around one of our keypads (`self.keypad`) with an error line (`self.error`):
    the keypad follows the language, and both are cleared by the wipe."""

    def retranslate(self) -> None:
        super().retranslate()
        self.keypad.retranslate()

    def wipe(self) -> None:
        self.keypad.clear()
        self.unsay(self.error)
