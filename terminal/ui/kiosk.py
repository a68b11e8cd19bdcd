"""The kiosk controller: screens, the citizen's session, language, look, idle wipe, offline.

`Kiosk` needs no running App: tests, `allhours screenshots` and the benchmark build one,
put `kiosk.root` into the window and drive Kivy's event loop themselves; `KioskApp` runs it
fullscreen for real.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.uix.widget import Widget

from terminal.flows.pickup import PickupFlow
from terminal.flows.staff import StaffMember, StaffServiceFlow
from terminal.flows.submission import SubmissionFlow
from terminal.flows.supplement import SupplementFlow
from terminal.node import TerminalNode
from terminal.ui.i18n import DEFAULT_LANGUAGE, Translator
from terminal.ui.idle import IdleWatch
from terminal.ui.speech import Speaker
from terminal.ui.theme import DEFAULT_DPI, LARGE, NORMAL, Theme
from terminal.ui.widgets import Banner, KButton, KLabel, Panel, paint
from terminal.ui.worker import Worker

log = logging.getLogger(__name__)

# A typed one-time code -> the staff member it signs in, or SignInRefused.
StaffSignIn = Callable[[str], StaffMember]

# `end_session`'s reason when the citizen pressed Cancel: the only end at which a compartment
# with their papers opens again (they stand there to take them back).
CITIZEN_CANCEL = "cancel"


def walk(widget: Widget):
    """The widget and all its descendants."""
    yield widget
    for child in widget.children:
        yield from walk(child)


class KioskRoot(FloatLayout):
    """Top bar, banner and screens; a touch anywhere counts as the citizen being there."""

    def __init__(self, kiosk: Kiosk, **kw):
        super().__init__(**kw)
        self.kiosk = kiosk

    def on_touch_down(self, touch):
        self.kiosk.idle.touch()
        handled = super().on_touch_down(touch)
        self.kiosk.hide_idle_dialog()
        return handled


class IdleDialog(Panel):
    """ "Are you still there?" with the seconds left and a button to go on."""

    def __init__(self, kiosk: Kiosk):
        super().__init__(size_hint=(0.7, 0.5), pos_hint={"center_x": 0.5, "center_y": 0.5})
        self.kiosk = kiosk
        self.question = KLabel("title", halign="center")
        self.countdown = KLabel("body", halign="center")
        self.more = KButton("primary", on_press=kiosk.still_here)
        for w in (self.question, self.countdown, self.more):
            self.add_widget(w)

    def update(self, seconds: int) -> None:
        t = self.kiosk.t
        self.question.text = t("idle.question")
        self.countdown.text = t("idle.countdown", seconds=seconds)
        self.more.text = t("idle.more_time")


class Kiosk:
    """One kiosk screen set bound to one terminal node."""

    def __init__(
        self,
        node: TerminalNode,
        *,
        lang: str = DEFAULT_LANGUAGE,
        strict_i18n: bool = False,
        dpi: float = DEFAULT_DPI,
        idle: IdleWatch | None = None,
        speaker: Speaker | None = None,
        printer: Any = None,
        staff_sign_in: StaffSignIn | None = None,
        large: bool = False,
        training: bool = False,
        card_poll_s: float = 0.3,
        preview_fps: float = 15.0,
        office_hours: dict[str, str] | None = None,
        hotline: str | None = None,
    ):
        self.node = node
        self.t = Translator(lang, strict=strict_i18n)
        self.dpi = dpi
        self.idle = idle or IdleWatch()
        self.speaker = speaker or Speaker(enabled=False)
        self.printer = printer
        # Emulated devices (settings: emulate = true): every screen says it is training.
        self.training = training
        # The backend answers by default; screenshots and offline UI tests pass their own.
        self.staff_sign_in: StaffSignIn = staff_sign_in or node.staff_sign_in.sign_in
        self.theme: Theme = LARGE if large else NORMAL
        self.card_poll_s = card_poll_s
        self.preview_fps = preview_fps
        # The counter the out-of-service page sends citizens to (settings; a bundle may change
        # them while the kiosk runs): its office hours by language, and the hotline.
        self.office_hours: dict[str, str] = dict(office_hours or {})
        self.hotline = hotline
        self.worker = Worker()
        self.submission: SubmissionFlow | None = None
        self.pickup: PickupFlow | None = None
        self.staff: StaffServiceFlow | None = None
        self.supplement: SupplementFlow | None = None  # 补交材料: owed materials brought later
        self.online = False
        self.mrz_key: object | None = None  # a passport's MRZ, typed by the citizen
        self._events: list[Any] = []
        self._build()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        from terminal.ui.screens.registry import SCREENS

        self.root = KioskRoot(self)
        self._bg = paint(self.root, self.theme.background)
        column = BoxLayout(orientation="vertical")
        bar = BoxLayout(size_hint_y=None, height=96, spacing=12, padding=(16, 8))
        self._bar_fill = paint(bar, self.theme.surface)
        self.bar_title = KLabel("button", fixed_height=True)
        self.lang_button = KButton("secondary", on_press=self.toggle_language, size_hint_x=0.22)
        self.large_button = KButton("secondary", on_press=self.toggle_large, size_hint_x=0.22)
        for w in (self.bar_title, self.lang_button, self.large_button):
            bar.add_widget(w)
        self.banner = Banner()
        self.sm = ScreenManager(transition=NoTransition())
        self.screens = {}
        for name, cls in SCREENS.items():
            screen = cls(self, name=name)
            self.screens[name] = screen
            self.sm.add_widget(screen)
        for w in (bar, self.banner, self.sm):
            column.add_widget(w)
        self.root.add_widget(column)
        self.idle_dialog = IdleDialog(self)
        self.dialog_layer = FloatLayout()
        self.root.add_widget(self.dialog_layer)
        self._retranslate_bar()
        self.apply_theme()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Kiosk:
        self._events = [Clock.schedule_interval(self._tick, 0.25)]
        self.go("home")
        self._tick(0)
        return self

    def stop(self) -> None:
        for ev in self._events:
            ev.cancel()
        self._events = []
        self.end_session("stop", go_home=False)
        self.worker.stop()
        self.speaker.stop()

    def _tick(self, _dt: float) -> None:
        online = bool(self.node.parts.online())
        if online != self.online or _dt == 0:
            self.online = online
            if online or self.sm.current == "out_of_service":
                self.banner.hide()  # offline, it says submissions still work: not there
            else:
                self.banner.show(self.t("banner.offline"))
        self._follow_service_state()
        state = self.idle.state()
        if state == "expired":
            self.end_session("idle")
        elif state == "warn":
            if self.idle_dialog.parent is None:
                self.dialog_layer.add_widget(self.idle_dialog)
                self.speak(self.t("idle.question"))
            self.idle_dialog.update(int(self.idle.remaining_s() + 0.99))
        elif self.idle_dialog.parent is not None:
            self.dialog_layer.remove_widget(self.idle_dialog)

    def _follow_service_state(self) -> None:
        """An operator's out of service or back in service shows as soon as no citizen is
        mid-session: a session under way finishes, then the page changes."""
        out = self.node.out_of_service() is not None
        if self.sm.current == "out_of_service":
            if out:
                self.screens["out_of_service"].refresh()
            else:
                self.go("home")
        elif out and self.sm.current == "home":
            self.go("out_of_service")

    def still_here(self) -> None:
        self.idle.touch()
        self.hide_idle_dialog()

    def hide_idle_dialog(self) -> None:
        if self.idle_dialog.parent is not None and self.idle.state() == "ok":
            self.dialog_layer.remove_widget(self.idle_dialog)

    # ------------------------------------------------------------------ navigation

    @property
    def current(self) -> str:
        return self.sm.current

    def go(self, name: str, **kw: object) -> None:
        if name == "home" and self.node.out_of_service() is not None:
            name = "out_of_service"  # the start page of a terminal out of service
        old = self.screens.get(self.sm.current)
        if old is not None and old.name != name:
            old.leave()
        screen = self.screens[name]
        self.sm.current = name
        screen.enter(**kw)
        self.idle.touch()
        prompt = screen.prompt_key or screen.title_key
        if prompt:
            self.speak(self.t(prompt))

    def speak(self, text: str) -> None:
        self.speaker.say(text, self.t.lang)

    def material_flow(self) -> SubmissionFlow | SupplementFlow | None:
        """The flow the scan and USB screens take a material for: a submission or a supplement."""
        return self.supplement or self.submission

    def run(self, name: str, job, on_done=None, on_error=None) -> None:
        """A blocking call in a worker; a failure nobody handles is fatal to the session."""
        self.worker.run(name, job, on_done, on_error or self.fatal)

    # ------------------------------------------------------------------ sessions

    def begin_submission(self) -> None:
        if self.node.out_of_service() is not None:
            self.go("out_of_service")  # no new submission (terminal.service_state)
            return
        self.end_session("new", go_home=False)
        self.submission = self.node.submission()
        self.idle.start()
        self.go("card")

    def begin_pickup(self) -> None:
        if not self.node.pickups_open():
            self.go("out_of_service")
            return
        self.end_session("new", go_home=False)
        self.pickup = self.node.pickup()
        self.idle.start()
        self.go("pickup_code")

    def begin_supplement(self) -> None:
        """补交材料 with the ID card: card, face, then the applications that owe something."""
        if self.node.out_of_service() is not None:
            self.go("out_of_service")  # as for a submission: no new business here
            return
        self.end_session("new", go_home=False)
        self.supplement = self.node.supplement(by_card=True)
        self.idle.start()
        self.go("card")

    def begin_query(self) -> None:
        self.end_session("new", go_home=False)
        self.idle.start()
        self.go("query")

    def begin_guide(self) -> None:
        self.end_session("new", go_home=False)
        self.idle.start()
        self.go("catalog")

    def begin_staff(self) -> None:
        self.end_session("new", go_home=False)
        self.idle.start()
        self.go("staff_login")

    def end_session(self, reason: str, *, go_home: bool = True) -> None:
        """Forget the citizen: flows cancelled, every screen wiped, late results dropped."""
        self.worker.forget()
        flow, self.submission = self.submission, None
        pickup, self.pickup = self.pickup, None
        self.staff = None
        supplement, self.supplement = self.supplement, None
        if supplement is not None:
            supplement.cancel()  # files not sent are dropped with the citizen
        self.mrz_key = None
        problem = None
        if flow is not None:
            if reason == CITIZEN_CANCEL:
                try:
                    flow.cancel()  # the citizen is here: deposited papers are handed back
                except Exception as exc:  # the flow's words are for the citizen
                    problem = exc
            else:
                try:
                    # Nobody at the locker (idle, fatal, stop): no door opens; deposited
                    # papers stay locked in for staff, who are alerted.
                    flow.abandon(reason)
                except Exception:
                    log.exception("submission could not be abandoned cleanly (%s)", reason)
            flow.forget()
        abandon = getattr(pickup, "abandon", None)
        if abandon is not None:
            try:
                abandon()  # a door question left unanswered: the locker alerts staff
            except Exception:
                log.exception("pickup could not be abandoned cleanly")
        for screen in self.screens.values():
            screen.leave()
            screen.wipe()
            screen.prune_texts()
        if self.idle_dialog.parent is not None:
            self.dialog_layer.remove_widget(self.idle_dialog)
        self.dialog_layer.clear_widgets()
        self.idle.stop()
        self.speaker.stop()
        if reason != "new":
            log.info("session ended (%s)", reason)
        if go_home:
            if problem is not None:
                self.go("error", key="error.papers_stuck")
            else:
                self.go("home")

    def fatal(self, exc: BaseException) -> None:
        """Something nobody expected: say sorry, forget the citizen, start over."""
        log.error("kiosk session aborted: %s", type(exc).__name__, exc_info=exc)
        self.end_session("fatal", go_home=False)
        self.go("error", key="error.fatal")

    # ------------------------------------------------------------------ language and look

    def toggle_language(self) -> None:
        self.set_language("en" if self.t.lang == "zh" else "zh")

    def set_language(self, lang: str) -> None:
        self.t.set_language(lang)
        self._retranslate_bar()
        for screen in self.screens.values():
            screen.retranslate()
        if not self.online and self.sm.current != "out_of_service":
            self.banner.show(self.t("banner.offline"))

    def _retranslate_bar(self) -> None:
        self.bar_title.text = self.t("app.title_training" if self.training else "app.title")
        self.lang_button.text = self.t("app.other_language")
        self.large_button.text = self.t(
            "app.normal_text" if self.theme is LARGE else "app.large_text"
        )

    def toggle_large(self) -> None:
        self.theme = NORMAL if self.theme is LARGE else LARGE
        self._retranslate_bar()
        self.apply_theme()

    def apply_theme(self) -> None:
        self._bg.rgba = self.theme.background
        self._bar_fill.rgba = self.theme.surface
        for tree in (self.root, self.idle_dialog, *self.screens.values()):
            self.style(tree)

    def style(self, tree: Widget) -> Widget:
        """Give a (new) subtree the current look."""
        for widget in walk(tree):
            apply = getattr(widget, "apply_theme", None)
            if apply is not None:
                apply(self.theme, self.dpi)
        return tree
