"""One material from the citizen's USB stick: wait for the stick, pick a file, check its pages.

The screen polls the removable-media port about once a second while it is shown. Listing the
stick and reading a file run in workers (the file is parsed in a sandboxed child process, see
`terminal.materials.usb_import`); the citizen sees every page before "Use these pages" hands
them to the flow. A stick pulled out before that drops everything read from it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from kivy.clock import Clock
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from cloud_bridge.contract.catalog import MaterialSpec
from devices.storage.port import MediaError
from terminal.flows.session import FlowError
from terminal.materials.usb_import import (
    Candidate,
    FileKind,
    ImportedFile,
    ImportLimits,
    ImportRefused,
    import_file,
    list_candidates,
    shown_path,
)
from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import KButton, KLabel, Preview

log = logging.getLogger(__name__)

KINDS = {FileKind.PDF: "PDF", FileKind.JPEG: "JPG", FileKind.PNG: "PNG"}
THUMB_W, THUMB_H = 300, 424  # an A4 page's proportions


def size_text(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def thumbnail_frames(imported: ImportedFile) -> list[np.ndarray]:
    """The pages' PNG thumbnails as RGB arrays, ready to blit (decoded off the UI thread)."""
    from PIL import Image

    frames = []
    for page in imported.pages:
        with Image.open(io.BytesIO(page.thumbnail_png)) as img:
            frames.append(np.asarray(img.convert("RGB")))
    return frames


class StickAnimation(Widget):
    """A USB stick sliding down into a port, again and again: where the stick goes."""

    drop = NumericProperty(1.0)

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas:  # the port drawn last: the plug disappears into it
            Color(0.2, 0.55, 0.9, 1)
            self.stick = RoundedRectangle(radius=[14])
            Color(0.75, 0.77, 0.8, 1)
            self.plug = Rectangle()
            Color(0.3, 0.3, 0.35, 1)
            self.port = Rectangle()
        self.bind(pos=self._draw, size=self._draw, drop=self._draw)
        self._event = None
        self._t = 0.0

    def _draw(self, *_) -> None:
        pw, ph = min(self.width * 0.3, 220), min(self.height * 0.12, 40)
        self.port.pos, self.port.size = (self.center_x - pw / 2, self.y + 10), (pw, ph)
        plug_w, plug_h = pw * 0.45, min(self.height * 0.12, 70)
        body_w, body_h = pw * 0.6, min(self.height * 0.45, 240)
        bottom = self.y + 10 + self.drop * self.height * 0.25
        self.plug.pos, self.plug.size = (self.center_x - plug_w / 2, bottom), (plug_w, plug_h)
        self.stick.pos = (self.center_x - body_w / 2, bottom + plug_h)
        self.stick.size = (body_w, body_h)

    def start(self) -> None:
        """Loop the slide at 20 steps a second. A plain interval, not a repeating kivy
        Animation: with one running here, results the workers scheduled on the Clock were
        held back until the animation stopped (seen in the offscreen screenshot tour)."""
        self.stop()
        self._t = 0.0
        self._event = Clock.schedule_interval(self._step, 1 / 20)

    def _step(self, dt: float) -> None:
        self._t = (self._t + dt) % 1.5
        phase = min(self._t / 1.2, 1.0)
        self.drop = (1.0 - phase) ** 2  # falls fast, then settles into the port

    def stop(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None


@dataclass
class Chosen:
    """A file read from the stick and its pages' thumbnails, waiting for the citizen's yes."""

    imported: ImportedFile = field(repr=False)  # its name may name the citizen
    frames: list[np.ndarray] = field(repr=False)


class UsbImportScreen(KioskScreen):
    """Insert the stick, choose a file, see its pages, use them (or choose another file)."""

    title_key = "usb.title"
    prompt_key = "usb.insert"
    poll_s = 1.0  # how often the port is asked which sticks are in

    def build(self) -> None:
        self.hint = self.label("", "body")
        self.body.add_widget(self.hint)
        self.status = self.label("", tone="danger")
        self.body.add_widget(self.status)
        # The file list and the page previews take turns in one place.
        self.content = BoxLayout()
        self.body.add_widget(self.content)
        self.files = GridLayout(cols=1, spacing=10, size_hint_y=None)
        self.files.bind(minimum_height=self.files.setter("height"))
        self.files_view = ScrollView(do_scroll_x=False)
        self.files_view.add_widget(self.files)
        self.strip = BoxLayout(spacing=16, size_hint_x=None)
        self.strip.bind(minimum_width=self.strip.setter("width"))
        self.pages_view = ScrollView(do_scroll_y=False)
        self.pages_view.add_widget(self.strip)
        self.animation = StickAnimation()
        self.back_button = self.button("usb.back", self.back, "secondary")
        self.other_button = self.button("usb.start_again", self.choose_other, "secondary")
        self.add_button = self.button("usb.add_file", self.add_file, "secondary")
        self.use_button = self.button("usb.use", self.use)
        self.pages_button = self.button("usb.back_to_pages", self.show_preview, "secondary")
        self.file_buttons: dict[str, KButton] = {}
        self.refusals: dict[str, KLabel] = {}
        self.thumbs: list[Preview] = []
        self.limits = ImportLimits()
        self._poll_event = None
        self._reset()
        self.code = ""
        self.spec: MaterialSpec | None = None

    def _reset(self) -> None:
        """Back to "insert your stick", holding nothing read from any stick."""
        self.token = getattr(self, "token", 0) + 1  # results of older jobs are dropped
        self.state = "waiting"  # waiting | listing | files | reading | preview | saving
        self.mount: Path | None = None
        self.candidates: list[Candidate] = []
        self.chosen: list[Chosen] = []
        self.clear_files()
        self.clear_pages()
        self.animation.stop()
        self.content.clear_widgets()
        self.nav_buttons(self.back_button)

    # ------------------------------------------------------------------ showing

    def enter(self, code: str = "", **kw: object) -> None:
        flow = self.k.material_flow()
        if flow is None:
            return
        self.spec = flow.material_spec(code)
        self.code = code
        self._reset()
        self.unsay(self.status)
        self.show_waiting()
        self.stop_polling()
        self._poll_event = Clock.schedule_interval(self.poll, self.poll_s)
        self.poll(0)

    def leave(self) -> None:
        self.stop_polling()
        self._reset()  # pages not yet used are not kept

    def stop_polling(self) -> None:
        if self._poll_event is not None:
            self._poll_event.cancel()
            self._poll_event = None

    def material_name(self) -> str:
        spec = self.spec
        return self.k.t.pick(spec.name_zh, spec.name_en) if spec is not None else ""

    def show_waiting(self) -> None:
        self.say(self.hint, lambda: self.t("usb.insert_hint", name=self.material_name()))
        self.content.clear_widgets()
        self.content.add_widget(self.animation)
        self.animation.start()

    # ------------------------------------------------------------------ the stick

    def poll(self, _dt: float) -> None:
        """Which sticks are in; a new one is listed, a vanished one drops what came from it."""
        media = self.k.node.parts.removable_media
        if media is None:
            return
        try:
            mounts = media.mounts()
        except MediaError as exc:
            log.warning("USB port unusable: %s", exc)
            self.say(self.status, "usb.port_trouble")
            return
        if self.mount is not None and self.mount not in mounts:
            self.stick_gone()
        if self.mount is None and mounts and self.state == "waiting":
            self.list_stick(mounts[0])

    def stick_gone(self) -> None:
        log.info("USB stick removed while the import screen was shown (%s)", self.state)
        self._reset()
        self.show_waiting()
        self.say(self.status, "usb.removed")
        self.k.speak(self.status.text)

    def list_stick(self, mount: Path) -> None:
        self.mount, self.state, token = mount, "listing", self.token
        self.say(self.hint, "usb.looking")

        def listed(candidates: list[Candidate]) -> None:
            if token == self.token:
                self.show_files(candidates)

        def failed(exc: BaseException) -> None:
            if token == self.token:
                log.warning("USB stick could not be listed: %s", type(exc).__name__)
                self.show_files([])

        self.k.run("usb-list", lambda: list_candidates(mount, self.limits), listed, failed)

    def show_files(self, candidates: list[Candidate]) -> None:
        self.state = "files"
        self.candidates = candidates
        self.clear_files()
        self.animation.stop()
        self.content.clear_widgets()
        self.content.add_widget(self.files_view)
        height = max(110, self.k.theme.touch_px(self.k.dpi))
        usable = 0
        for c in candidates:
            name = shown_path(c.path)
            if c.refusal is None and c.kind is not None:
                kind = KINDS[c.kind]
                b = self.button(
                    lambda n=name, k=kind, s=c.size: f"{n}  ({k}, {size_text(s)})",
                    lambda p=c.path: self.read_file(p),
                    "key",
                    size_hint_y=None,
                    height=height,
                )
                self.file_buttons[c.path] = b
                self.files.add_widget(b)
                usable += 1
            elif c.refusal is not None:
                refusal = c.refusal
                lab = self.label(
                    lambda n=name, r=refusal: f"× {n}: {r.text(self.k.t)}",
                    "hint",
                    tone="muted",
                )
                self.refusals[c.path] = lab
                self.files.add_widget(lab)
        self.say(self.hint, "usb.choose" if usable else "usb.no_files")
        self.nav_buttons(self.back_button)
        self.k.style(self.files)

    def clear_files(self) -> None:
        self.files.clear_widgets()
        self.file_buttons, self.refusals = {}, {}
        self.prune_texts()

    # ------------------------------------------------------------------ one file

    def read_file(self, relpath: str) -> None:
        if self.state != "files" or self.mount is None:
            return
        mount, token, limits = self.mount, self.token, self.limits
        already = sum(len(c.imported.pages) for c in self.chosen)
        self.state = "reading"
        self.unsay(self.status)
        self.say(self.hint, "usb.reading")
        for b in self.file_buttons.values():
            b.disabled = True

        def read() -> Chosen:
            imported = import_file(mount, relpath, limits)
            if already + len(imported.pages) > limits.max_pages:
                raise ImportRefused("too_many_pages", imported.name, limit=limits.max_pages)
            return Chosen(imported, thumbnail_frames(imported))

        def done(chosen: Chosen) -> None:
            if token != self.token:
                return
            self.chosen.append(chosen)
            self.show_preview()

        def failed(exc: BaseException) -> None:
            if token != self.token:
                return
            if not isinstance(exc, ImportRefused):
                # Only the type: a message or traceback may carry the file's name.
                log.error("USB import failed unexpectedly: %s", type(exc).__name__)
                exc = ImportRefused("broken")
            refusal = exc
            self.say(self.status, refusal.key, **refusal.params)
            self.k.speak(self.status.text)
            self.state = "files"
            self.say(self.hint, "usb.choose")
            for b in self.file_buttons.values():
                b.disabled = False
            self.nav_buttons(*self.preview_or_back())

        self.k.run("usb-read", read, done, failed)

    def preview_or_back(self) -> list[KButton]:
        """While files are shown: back to the pages already chosen, or to the checklist."""
        return [self.back_button] if not self.chosen else [self.other_button, self.pages_button]

    def show_preview(self) -> None:
        self.state = "preview"
        self.clear_pages()
        self.content.clear_widgets()
        self.content.add_widget(self.pages_view)
        t = self.k.t
        number = 0
        for chosen in self.chosen:
            for frame in chosen.frames:
                number += 1
                cell = BoxLayout(
                    orientation="vertical", size_hint=(None, None), size=(THUMB_W, THUMB_H + 60)
                )
                thumb = Preview(size_hint=(None, None), size=(THUMB_W, THUMB_H))
                thumb.show_frame(frame)
                self.thumbs.append(thumb)
                cell.add_widget(thumb)
                cell.add_widget(self.label(lambda n=number: t("usb.page", n=n), "hint"))
                self.strip.add_widget(cell)
        pages = number
        files = len(self.chosen)
        removed = any(c.imported.removed for c in self.chosen)

        def summary() -> str:
            text = t("usb.preview", pages=pages, files=files)
            return f"{text} {t('usb.content_removed')}" if removed else text

        self.say(self.hint, summary)
        self.nav_buttons(self.other_button, self.add_button, self.use_button)
        self.k.style(self.strip)
        self.k.speak(self.hint.text)

    def clear_pages(self) -> None:
        for thumb in self.thumbs:
            thumb.clear()
        self.thumbs = []
        self.strip.clear_widgets()
        self.prune_texts()

    # ------------------------------------------------------------------ the citizen's choice

    def choose_other(self) -> None:
        """Forget the pages read so far and pick again from the stick's files."""
        self.chosen = []
        self.clear_pages()
        self.unsay(self.status)
        self.show_files(self.candidates)

    def add_file(self) -> None:
        """Keep these pages and append another file's."""
        self.unsay(self.status)
        self.clear_pages()
        self.show_files(self.candidates)
        self.nav_buttons(*self.preview_or_back())

    def use(self) -> None:
        flow = self.k.material_flow()
        if flow is None or self.state != "preview" or not self.chosen:
            return
        media = self.k.node.parts.removable_media
        try:
            still_in = media is not None and self.mount in media.mounts()
        except MediaError:
            still_in = False
        if not still_in:  # pulled out during the preview: nothing from it is kept
            self.stick_gone()
            return
        files = [c.imported for c in self.chosen]
        code, token = self.code, self.token
        self.state = "saving"
        self.use_button.disabled = True

        def done(_scanned) -> None:
            if token == self.token:
                self.use_button.disabled = False
                self.k.go(flow.RETURN_SCREEN)

        def failed(exc: BaseException) -> None:
            if token != self.token:
                return
            self.use_button.disabled = False
            self.state = "preview"
            if not isinstance(exc, FlowError):
                self.k.fatal(exc)
                return
            self.say(self.status, "usb.not_allowed")

        self.k.run("usb-use", lambda: flow.import_material(code, files), done, failed)

    def back(self) -> None:
        flow = self.k.material_flow()
        self.k.go(flow.RETURN_SCREEN if flow is not None else "home")

    # ------------------------------------------------------------------ forgetting

    def wipe(self) -> None:
        self.stop_polling()
        self._reset()
        self.code = ""
        self.spec = None
        self.unsay(self.hint)
        self.unsay(self.status)
        self.prune_texts()
