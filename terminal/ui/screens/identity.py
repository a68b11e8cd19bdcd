"""Identity: place the card (with animation), the MRZ of a passport, the live face check.

The same screens serve a submission (then the catalog), a pickup whose item asks for the
holder's identity (then the compartment opens, if the card is the applicant's), and bringing
a missing material by card (then the citizen's applications that owe something).
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from devices.identity.port import NoDocument
from terminal.flows.pickup import PickupFlow
from terminal.flows.session import FlowError
from terminal.flows.supplement import SupplementFlow
from terminal.ui.live import LiveFeed
from terminal.ui.screens.base import KioskScreen
from terminal.ui.screens.pickup import open_for_holder
from terminal.ui.widgets import KButton, Keypad, Preview

log = logging.getLogger(__name__)


def identity_flow(kiosk):
    """The flow whose identity step is under way: the submission, the pickup or the supplement."""
    return kiosk.submission or kiosk.pickup or kiosk.supplement


def at_step(flow, which: str) -> bool:
    """Whether `flow` is at its identity ("IDENTITY_STEP") or face ("FACE_STEP") step."""
    return flow is not None and flow.step == getattr(flow, which)


class CardAnimation(Widget):
    """A card gliding down onto the reader, again and again."""

    drop = NumericProperty(1.0)

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas:
            Color(0.3, 0.3, 0.35, 1)
            self.reader = Rectangle()
            Color(0.2, 0.55, 0.9, 1)
            self.card = RoundedRectangle(radius=[12])
        self.bind(pos=self._draw, size=self._draw, drop=self._draw)
        self._anim: Animation | None = None

    def _draw(self, *_):
        w, h = min(self.width * 0.5, 360), min(self.height * 0.25, 60)
        x = self.center_x - w / 2
        self.reader.pos, self.reader.size = (x - 20, self.y + 10), (w + 40, h)
        cw, ch = w * 0.8, w * 0.5
        self.card.size = (cw, ch)
        self.card.pos = (self.center_x - cw / 2, self.y + h + 10 + self.drop * (self.height * 0.4))

    def start(self) -> None:
        self.stop()
        self.drop = 1.0
        anim = Animation(drop=0.0, duration=1.2, t="out_quad") + Animation(drop=1.0, duration=0.3)
        anim.repeat = True
        self._anim = anim
        anim.start(self)

    def stop(self) -> None:
        if self._anim is not None:
            self._anim.cancel(self)
            self._anim = None


class CardScreen(KioskScreen):
    """Waits for a document on the reader; polls in a worker until one is read."""

    title_key = "card.title"

    def build(self) -> None:
        self.hint = self.label("card.hint")
        self.body.add_widget(self.hint)
        self.animation = CardAnimation()
        self.body.add_widget(self.animation)
        self.status = self.label("", tone="danger")
        self.body.add_widget(self.status)
        self.passport_button = self.button("card.passport", lambda: self.k.go("mrz"), "secondary")
        # Bringing a material: no card at hand, the application number and phone will do.
        self.by_number_button = self.button("supplement.by_number", self.k.begin_query, "secondary")
        self._stop = threading.Event()

    def enter(self, **kw: object) -> None:
        self.unsay(self.status)
        flow = identity_flow(self.k)
        # A pickup comes here only for a result handed over to the applicant in person.
        if isinstance(flow, PickupFlow):
            self.say(self.hint, "pickup.identity_hint")
        elif isinstance(flow, SupplementFlow):
            self.say(self.hint, "supplement.identity_hint")
        else:
            self.say(self.hint, "card.hint")
        extra = (self.by_number_button,) if isinstance(flow, SupplementFlow) else ()
        self.nav_buttons(self.cancel_button(), self.passport_button, *extra)
        self.animation.start()
        self._poll()

    def _poll(self) -> None:
        flow = identity_flow(self.k)
        if not at_step(flow, "IDENTITY_STEP"):
            return
        self._stop = stop = threading.Event()
        mrz_key = self.k.mrz_key  # the flow refuses it when the reader needs none

        def wait_for_card():
            while not stop.is_set():
                try:
                    return flow.read_identity(timeout_s=self.k.card_poll_s, mrz_key=mrz_key)
                except FlowError as exc:
                    if not isinstance(exc.__cause__, NoDocument):
                        return exc
                    stop.wait(self.k.card_poll_s)
            return None

        self.k.run("card", wait_for_card, self._read)

    def _read(self, result) -> None:
        if result is None or self.k.current != self.name:
            return
        if isinstance(result, FlowError):
            self.say(self.status, result.key, **result.params)
            self._poll()
            return
        self.k.go("face")

    def leave(self) -> None:
        self._stop.set()
        self.animation.stop()

    def wipe(self) -> None:
        self.unsay(self.status)


class MrzScreen(KioskScreen):
    """A passport's chip opens only with the MRZ: document number, birth and expiry dates."""

    title_key = "mrz.title"
    FIELDS = ("mrz.number", "mrz.birth", "mrz.expiry")

    # Frames the camera path looks at before it gives up and leaves the keypad to the citizen.
    CAMERA_TRIES = 3

    def build(self) -> None:
        self.camera_button = self.button("mrz.camera", self.read_with_camera, "secondary")
        self.body.add_widget(self.label("mrz.hint", "hint", tone="muted"))
        row = BoxLayout(size_hint_y=None, height=110, spacing=12)
        self.field_buttons: dict[str, KButton] = {}
        for key in self.FIELDS:
            b = KButton("secondary", on_press=lambda k=key: self.select(k))
            self.field_buttons[key] = b
            row.add_widget(b)
        self.body.add_widget(row)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.keypad = Keypad(max_len=9, letters=True, labels=self.t)
        self.keypad.bind(value=lambda *_: self._typed())
        self.body.add_widget(self.keypad)
        self.back_button = self.button("nav.back", lambda: self.k.go("card"), "secondary")
        self.nav_buttons(
            self.back_button, self.camera_button, self.button("nav.next", self.confirm)
        )
        self.values = dict.fromkeys(self.FIELDS, "")
        self.selected = self.FIELDS[0]
        self._render()

    def select(self, key: str) -> None:
        self.selected = key
        self.keypad.max_len = 9 if key == "mrz.number" else 6
        self.keypad.value = self.values[key]
        self._render()

    def _typed(self) -> None:
        self.values[self.selected] = self.keypad.value
        self._render()

    def _render(self) -> None:
        for key, b in self.field_buttons.items():
            mark = "▶ " if key == self.selected else ""
            self.say(b, lambda k=key, m=mark: f"{m}{self.t(k)}: {self.values[k]}")

    def retranslate(self) -> None:
        super().retranslate()
        self.keypad.retranslate()

    def confirm(self) -> None:
        number, birth, expiry = (self.values[k] for k in self.FIELDS)
        if not (1 <= len(number) <= 9 and number.isalnum()):
            self.say(self.error, "mrz.error.number")
            return
        if not (_yymmdd(birth) and _yymmdd(expiry)):
            self.say(self.error, "mrz.error.date")
            return
        self.unsay(self.error)
        try:
            from devices.identity.emrtd.mrz import MrzKey
        except ImportError:
            self.k.mrz_key = (number, birth, expiry)
        else:
            self.k.mrz_key = MrzKey(number, birth, expiry)
        self.k.go("card")

    def read_with_camera(self) -> None:
        """Read the MRZ from the photo page under the document camera; the keypad stays."""
        from terminal.flows.identity import PASSPORT_PAGE

        self.camera_button.disabled = True
        self.say(self.error, "mrz.camera.reading")
        source = self.k.node.parts.document_camera(PASSPORT_PAGE, 1)

        def read():
            from terminal.materials.mrz_ocr import MrzUnreadable, read_mrz

            for _ in range(self.CAMERA_TRIES):
                try:
                    return read_mrz(source.capture())
                except MrzUnreadable:
                    continue
            return None

        self.k.run("mrz-camera", read, self._camera_read, self._camera_failed)

    def _camera_read(self, reading) -> None:
        self.camera_button.disabled = False
        if reading is None:
            self.say(self.error, "mrz.camera.failed")
            return
        key = reading.key
        for field_key, value in zip(
            self.FIELDS, (key.document_number, key.birth_date, key.expiry_date), strict=True
        ):
            self.values[field_key] = value
        self._render()
        self.unsay(self.error)
        self.k.mrz_key = key
        self.k.go("card")

    def _camera_failed(self, exc: BaseException) -> None:
        # No camera, no Tesseract: the citizen types, as before.
        log.warning("MRZ camera reading unavailable: %s", type(exc).__name__)
        self.camera_button.disabled = False
        self.say(self.error, "mrz.camera.failed")

    def wipe(self) -> None:
        self.values = dict.fromkeys(self.FIELDS, "")
        self.keypad.clear()
        self.unsay(self.error)
        self.camera_button.disabled = False
        self.select(self.FIELDS[0])


def _yymmdd(text: str) -> bool:
    if len(text) != 6 or not text.isdigit():
        return False
    try:
        date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return False
    return True


class FaceScreen(KioskScreen):
    """Live preview with guidance, then the match against the document photo."""

    title_key = "face.title"

    def build(self) -> None:
        self.guidance = self.label("face.guide.look", "title", halign="center")
        self.body.add_widget(self.guidance)
        self.preview = Preview()
        self.body.add_widget(self.preview)
        self.retry = self.button("face.retry", self._verify)
        self.nav_buttons(self.cancel_button())
        self.feed = LiveFeed(self.k, self.preview, "face")

    def enter(self, **kw: object) -> None:
        self.guide("look")
        self.nav_buttons(self.cancel_button())
        self.feed.start(self.k.node.parts.face_camera)
        self._verify()

    def guide(self, code: str) -> None:
        """Show a guidance text; a camera that films a person (or its emulator) sees it too."""
        self.say(self.guidance, f"face.guide.{code}")
        show_prompt = getattr(self.k.node.parts.face_camera, "show_prompt", None)
        if show_prompt is not None:
            show_prompt(code)

    def _verify(self) -> None:
        flow = identity_flow(self.k)
        if not at_step(flow, "FACE_STEP"):
            return
        self._last_code = "checking"
        self.guide("checking")

        def show(guidance) -> None:
            # From the worker: the screen (and whoever stands in front of it) sees each prompt.
            Clock.schedule_once(lambda _dt: self._show_guidance(flow, guidance.code))

        def check():
            with self.feed.camera_lock:  # the check takes the frames; the preview shows them
                try:
                    return flow.verify_face(on_guidance=show, on_frame=self.feed.offer)
                except FlowError as exc:
                    return exc

        self.k.run("face-check", check, self._checked)

    def _show_guidance(self, flow, code: str) -> None:
        if identity_flow(self.k) is flow and at_step(flow, "FACE_STEP") and code != self._last_code:
            self._last_code = code
            self.guide(code)
            if code in ("blink_now", "turn_left", "turn_right"):
                self.k.speak(self.guidance.text)

    def _checked(self, result) -> None:
        flow = identity_flow(self.k)
        if flow is None:
            return
        pickup = isinstance(flow, PickupFlow)
        if not isinstance(result, FlowError):
            self.guide("verified")
            if pickup:
                open_for_holder(self.k, flow)
            elif isinstance(flow, SupplementFlow):
                self.k.go("supplement", by_card=True)
            else:
                self.k.go("catalog")
            return
        if flow.step == flow.STAFF_STEP:
            if pickup:  # nothing opened; the code stays valid for a visit in office hours
                self.say(self.guidance, "pickup.identity_failed")
            else:
                self.guide("attempts_exhausted")
            self.nav_buttons(self.button("nav.finish", lambda: self.k.end_session("finish")))
        else:
            self.guide("not_matched")
            self.nav_buttons(self.cancel_button(), self.retry)
        self.k.speak(self.guidance.text)

    def leave(self) -> None:
        self.feed.stop()

    def wipe(self) -> None:
        self.feed.forget()
        self.guide("look")
