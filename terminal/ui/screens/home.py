"""The start screen with the big choices, and the screen that apologises after a failure."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.uix.gridlayout import GridLayout

from terminal.ui.screens.base import KioskScreen


class HomeScreen(KioskScreen):
    title_key = "home.title"

    def build(self) -> None:
        self.body.add_widget(self.label("home.subtitle", "body", tone="muted"))
        grid = GridLayout(cols=2, spacing=20)
        self.choices = {
            "submit": self.button("home.submit", self.k.begin_submission),
            "pickup": self.button("home.pickup", self.k.begin_pickup),
            "query": self.button("home.query", self.k.begin_query),
            # 补交材料 with the ID card (the card screen also leads to the number and phone way).
            "supplement": self.button("home.supplement", self.k.begin_supplement),
            "guide": self.button("home.guide", self.k.begin_guide),
        }
        for b in self.choices.values():
            grid.add_widget(b)
        self.body.add_widget(grid)
        self.staff_button = self.button("home.staff", self.k.begin_staff, "secondary")
        self.staff_button.size_hint_x = 0.3
        self.nav_buttons(self.staff_button)


class ErrorScreen(KioskScreen):
    """Shown after the session was wiped because something failed; returns home by itself."""

    title_key = "error.title"
    back_after_s = 15.0

    def build(self) -> None:
        self.message = self.label("error.fatal")
        self.body.add_widget(self.message)
        self.nav_buttons(self.button("nav.home", lambda: self.k.go("home")))
        self._event = None

    def enter(self, key: str = "error.fatal", **kw: object) -> None:
        self.say(self.message, key)
        self.prompt_key = key
        self._event = Clock.schedule_once(lambda _dt: self._back(), self.back_after_s)

    def _back(self) -> None:
        if self.k.current == self.name:
            self.k.go("home")

    def leave(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None
