"""Staff service mode behind a credential: load results, collect deposits, device diagnostics."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from terminal.flows.session import FlowError
from terminal.ui.screens.base import KeypadScreen, KioskScreen
from terminal.ui.widgets import Keypad

MAX_PIN_TRIES = 3


class StaffLoginScreen(KeypadScreen):
    title_key = "staff.login_title"

    def build(self) -> None:
        self.error = self.label("", tone="danger")
        self.keypad = Keypad(max_len=12, masked=True, labels=self.t)
        self.keypad_page(self.keypad, self.label("staff.login_hint"), self.error)
        self.nav_buttons(self.cancel_button(), self.button("staff.enter", self.confirm))
        self.tries = 0

    def confirm(self) -> None:
        pin, self.keypad.value = self.keypad.value, ""
        if self.tries < MAX_PIN_TRIES and self.k.staff_check(pin):
            self.tries = 0
            self.k.staff = self.k.node.staff()
            self.k.go("staff")
            return
        self.tries += 1
        key = "staff.locked" if self.tries >= MAX_PIN_TRIES else "staff.wrong_pin"
        self.say(self.error, key)


class StaffScreen(KioskScreen):
    title_key = "staff.title"

    def build(self) -> None:
        row = BoxLayout(spacing=16)
        self.loads = BoxLayout(orientation="vertical", spacing=10)
        self.deposits = BoxLayout(orientation="vertical", spacing=10)
        self.diagnostics = self.label("", "hint")
        for w in (self.loads, self.deposits):
            row.add_widget(w)
        self.body.add_widget(row)
        self.body.add_widget(self.diagnostics)
        self.message = self.label("", tone="danger")
        self.body.add_widget(self.message)
        self.nav_buttons(
            self.button("staff.refresh", self.render, "secondary"),
            self.button("staff.leave", lambda: self.k.end_session("finish")),
        )
        self.open_loads: set[str] = set()

    def enter(self, **kw: object) -> None:
        self.open_loads = set()
        self.render()

    def render(self) -> None:
        staff = self.k.staff
        self.loads.clear_widgets()
        self.deposits.clear_widgets()
        if staff is None:
            return
        self.loads.add_widget(self.label("staff.loads"))
        for slot in staff.pending_loads():
            load = slot.load_id or ""
            if load in self.open_loads:
                b = self.button(
                    lambda c=slot.id: self.t("staff.confirm_loaded", compartment=c),
                    lambda x=load: self.confirm(x),
                )
            else:
                b = self.button(
                    lambda c=slot.id: self.t("staff.open_load", compartment=c),
                    lambda x=load: self.open(x),
                    "key",
                )
            self.loads.add_widget(b)
        self.deposits.add_widget(self.label("staff.deposits"))
        for slot in staff.deposits():
            self.deposits.add_widget(
                self.button(
                    lambda c=slot.id: self.t("staff.collect", compartment=c),
                    lambda c=slot.id: self.collect(c),
                    "key",
                )
            )
        node = self.k.node
        lock = node.devices.lock.diagnostics()
        summary = node.locker.summary()
        backlog = node.outbox.backlog()
        t = self.k.t
        self.say(
            self.diagnostics,
            lambda: t(
                "staff.diagnostics",
                online=t("staff.online" if self.k.online else "staff.offline"),
                backlog=backlog,
                lock=t("staff.ok" if lock.get("connected", True) else "staff.fault"),
                free=summary.get("empty", 0),
                out_of_service=summary.get("out_of_service", 0),
            ),
        )
        self.loads.add_widget(Widget())
        self.deposits.add_widget(Widget())
        self.k.style(self.page)

    def _run(self, name: str, job) -> None:
        def failed(exc: BaseException) -> None:
            if isinstance(exc, FlowError):
                self.say(self.message, "staff.failed")
                self.render()
            else:
                self.k.fatal(exc)

        self.k.run(name, job, lambda _r: self.render(), failed)

    def open(self, load_id: str) -> None:
        staff = self.k.staff
        if staff is not None:
            self.open_loads.add(load_id)
            self._run("staff-open", lambda: staff.open_for_load(load_id))

    def confirm(self, load_id: str) -> None:
        staff = self.k.staff
        if staff is not None:
            self.open_loads.discard(load_id)
            self._run("staff-loaded", lambda: staff.confirm_loaded(load_id))

    def collect(self, compartment_id: str) -> None:
        staff = self.k.staff
        if staff is not None:
            self._run("staff-collect", lambda: staff.collect_deposit(compartment_id))

    def wipe(self) -> None:
        self.loads.clear_widgets()
        self.deposits.clear_widgets()
        self.unsay(self.diagnostics)
        self.unsay(self.message)
        self.open_loads = set()
