"""Staff service mode behind a one-time code: load results, collect deposits, diagnostics.

The code comes from the console, signed in as that staff member; the backend says whose it
is. A wrong code only says so: nothing locks, so nobody at the kiosk can lock staff out.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from terminal.flows.session import FlowError
from terminal.flows.staff import CODE, SignInRefused, StaffMember
from terminal.ui.screens.base import KeypadScreen, KioskScreen
from terminal.ui.widgets import Keypad

_REFUSALS = {
    "bad_code": "staff.bad_code",
    "refused": "staff.wrong_code",
    "offline": "staff.needs_link",
}


class StaffLoginScreen(KeypadScreen):
    title_key = "staff.login_title"

    def build(self) -> None:
        self.error = self.label("", tone="danger")
        self.keypad = Keypad(max_len=8, masked=True, labels=self.t)
        self.keypad_page(self.keypad, self.label("staff.login_hint"), self.error)
        self.enter_button = self.button("staff.enter", self.confirm)
        self.nav_buttons(self.cancel_button(), self.enter_button)
        self.asking = False

    def confirm(self) -> None:
        if self.asking:
            return
        code, self.keypad.value = self.keypad.value, ""
        if not CODE.fullmatch(code):
            self.say(self.error, "staff.bad_code")  # cannot be a code: nothing is asked
            return
        self.asking = True
        self.say(self.error, "staff.checking")

        def signed_in(member: StaffMember) -> None:
            self.asking = False
            self.unsay(self.error)
            self.k.staff = self.k.node.staff(member)
            self.k.go("staff")

        def refused(exc: BaseException) -> None:
            self.asking = False
            if isinstance(exc, SignInRefused):
                self.say(self.error, _REFUSALS.get(exc.reason, "staff.wrong_code"))
            else:
                self.k.fatal(exc)

        self.k.run("staff-sign-in", lambda: self.k.staff_sign_in(code), signed_in, refused)

    def wipe(self) -> None:
        super().wipe()
        self.asking = False


class StaffScreen(KioskScreen):
    title_key = "staff.title"

    def build(self) -> None:
        self.who = self.label("", "hint")
        self.body.add_widget(self.who)
        row = BoxLayout(spacing=16)
        self.loads = BoxLayout(orientation="vertical", spacing=10)
        self.deposits = BoxLayout(orientation="vertical", spacing=10)
        self.diagnostics = self.label("", "hint")
        for w in (self.loads, self.deposits):
            row.add_widget(w)
        self.body.add_widget(row)
        self.body.add_widget(self.diagnostics)
        self.service = self.label("", "hint")
        self.body.add_widget(self.service)
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
        member = staff.member
        self.say(self.who, "staff.signed_in_as", name=member.display_name or member.username)
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
            # Left by a session that ended unsubmitted (idle, a failure, a stop): see the alarm.
            key = "staff.collect_abandoned" if slot.abandoned_application_no else "staff.collect"
            self.deposits.add_widget(
                self.button(
                    lambda c=slot.id, k=key: self.t(k, compartment=c),
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
        self.say(self.service, self._service_text)
        self.loads.add_widget(Widget())
        self.deposits.add_widget(Widget())
        self.k.style(self.page)

    def _service_text(self) -> str:
        """What operators took out of service here (terminal.service_state)."""
        t, service = self.k.t, self.k.node.service
        whole = service.terminal()
        lines = [
            t("staff.service_in")
            if whole is None
            else t(
                "staff.service_out",
                hold=t(f"service.hold.{whole.hold}"),
                reason=t(f"service.reason.{whole.reason}"),
            )
        ]
        held = service.compartments()
        if held:
            listed = ", ".join(
                f"{cid} ({t(f'service.hold.{h.hold}')})" for cid, h in sorted(held.items())
            )
            lines.append(t("staff.service_compartments", compartments=listed))
        return " ".join(lines)

    def _run(self, name: str, job, done=None) -> None:
        def finished(_result) -> None:
            if done is not None:
                done()
            self.render()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, FlowError):
                self.say(self.message, exc.key, **exc.params)
                self.render()
            else:
                self.k.fatal(exc)

        self.k.run(name, job, finished, failed)

    def open(self, load_id: str) -> None:
        staff = self.k.staff
        if staff is not None:
            self.open_loads.add(load_id)
            self._run("staff-open", lambda: staff.open_for_load(load_id))

    def confirm(self, load_id: str) -> None:
        staff = self.k.staff
        if staff is not None:
            # Until it is taken as loaded, the button stays "loaded, door shut" (a door still
            # open is refused: shut it and tap again).
            self._run(
                "staff-loaded",
                lambda: staff.confirm_loaded(load_id),
                lambda: self.open_loads.discard(load_id),
            )

    def collect(self, compartment_id: str) -> None:
        staff = self.k.staff
        if staff is not None:
            self._run("staff-collect", lambda: staff.collect_deposit(compartment_id))

    def wipe(self) -> None:
        self.loads.clear_widgets()
        self.deposits.clear_widgets()
        self.unsay(self.diagnostics)
        self.unsay(self.service)
        self.unsay(self.who)
        self.unsay(self.message)
        self.open_loads = set()
