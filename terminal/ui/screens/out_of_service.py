"""The page a terminal an operator took out of service shows instead of the start screen.

It says what is off, why, and where to go instead: the counter, in its office hours, and the
service hotline, as the kiosk settings give them (`office_hours`, `hotline`). While the
out-of-service is `closed` and the locker is safe, results already inside can still be
collected: the pickup button stays. Staff can always sign in.
"""

from __future__ import annotations

from terminal.ui.screens.base import KioskScreen


class OutOfServiceScreen(KioskScreen):
    title_key = "out_of_service.title"

    def build(self) -> None:
        self.what = self.label("out_of_service.closed")
        self.why = self.label("", "hint")
        self.where = self.label(self._where)
        self.pickup_line = self.label("out_of_service.pickup_open", tone="muted")
        for w in (self.what, self.why, self.where, self.pickup_line):
            self.body.add_widget(w)
        self.pickup_button = self.button("home.pickup", self.k.begin_pickup)
        self.staff_button = self.button("home.staff", self.k.begin_staff, "secondary")
        self.staff_button.size_hint_x = 0.3
        self.pickups = None

    def enter(self, **kw: object) -> None:
        self.k.banner.hide()  # offline, it says submissions still work: not here
        self.refresh()

    def _where(self) -> str:
        """The counter, with its office hours and the hotline where the settings give them."""
        hours = self.k.office_hours.get(self.k.t.lang)
        parts = [
            self.t("out_of_service.where_hours", hours=hours)
            if hours
            else self.t("out_of_service.where")
        ]
        if self.k.hotline:
            parts.append(self.t("out_of_service.hotline", number=self.k.hotline))
        parts.append(self.t("out_of_service.sorry"))
        return ("" if self.k.t.lang == "zh" else " ").join(parts)  # Chinese sentences take no space

    def refresh(self) -> None:
        """Show the terminal's hold as it is now (the kiosk calls this on every tick)."""
        self.where.text = self._where()  # a bundle may have changed the settings
        node = self.k.node
        hold = node.out_of_service()
        if hold is not None:
            self.say(self.what, f"out_of_service.{hold.hold.value}")
            reason = f"service.reason.{hold.reason}"
            self.say(self.why, lambda: self.t("out_of_service.why", reason=self.t(reason)))
        pickups = node.pickups_open()
        if pickups == self.pickups:
            return
        self.pickups = pickups
        self.say(
            self.pickup_line,
            "out_of_service.pickup_open" if pickups else "out_of_service.pickup_closed",
        )
        buttons = [self.staff_button]
        if pickups:
            buttons.append(self.pickup_button)
        self.nav_buttons(*buttons)
        self.k.style(self.nav)

    def leave(self) -> None:
        self.pickups = None
        if not self.k.online:
            self.k.banner.show(self.t("banner.offline"))
