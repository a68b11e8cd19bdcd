"""Scanning one material on the document camera: live picture, guidance, auto-capture.

Every preview frame goes through a `PageCapture` in the preview worker (never on the UI
thread). The screen draws the page outline the capture found over the live picture, in the
colour of its state, and says one plain instruction: place the page, move it fully into view,
hold still, page 1 taken and now page 2. When every page of the material is taken it hands
them to the flow (`add_scanned_pages`). The "Scan" button stays as the citizen's fallback
(`scan_material`); whichever of the two starts first wins and the other is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from kivy.graphics import Color, Line
from kivy.uix.progressbar import ProgressBar

from devices.camera.port import CameraError, FrameSource
from terminal.flows.submission import PageRefused
from terminal.materials.capture import CaptureState, PageCapture
from terminal.materials.quality import REASONS
from terminal.ui.live import LiveFeed
from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import Preview

if TYPE_CHECKING:
    from terminal.ui.kiosk import Kiosk

OUTLINE_RGBA = {
    "adjust": (0.85, 0.15, 0.1, 1),
    "hold_steady": (1.0, 0.72, 0.0, 1),
    "captured": (0.1, 0.65, 0.25, 1),
}


@dataclass
class CaptureRun:
    """One attempt at a material's pages; replaced on "start again", dropped on leaving."""

    capture: PageCapture | None = None
    state: CaptureState | None = None
    taken: int = 0
    told: int = 0  # pages the citizen has been told were taken; the next waits until told
    failed: bool = False  # the camera stopped giving frames or grabs
    last_full: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the pages are scans of a citizen's papers
        return f"CaptureRun(taken={self.taken}, failed={self.failed})"


class PageOutline:
    """The page's outline drawn over a `Preview`, in preview-frame pixels."""

    def __init__(self, preview: Preview):
        self.preview = preview
        with preview.canvas.after:
            self.color = Color(0, 0, 0, 0)
            self.line = Line(points=[], width=3, close=True)

    def show(self, corners: np.ndarray | None, rgba) -> None:
        tex = self.preview.texture
        if corners is None or tex is None or rgba is None:
            self.clear()
            return
        tw, th = tex.size
        p = self.preview
        scale = min(p.width / tw, p.height / th) if tw and th else 0
        x0 = p.x + (p.width - tw * scale) / 2
        y0 = p.y + (p.height - th * scale) / 2
        points: list[float] = []
        for cx, cy in np.asarray(corners, np.float64):
            points += [x0 + float(cx) * scale, y0 + (th - float(cy)) * scale]
        self.color.rgba = rgba
        self.line.points = points

    def clear(self) -> None:
        self.line.points = []
        self.color.rgba = (0, 0, 0, 0)

    @property
    def shown(self) -> bool:
        return bool(self.line.points)


class ScanScreen(KioskScreen):
    """Live picture with guidance; pages are taken by themselves, or all at once by "Scan"."""

    title_key = "scan.title"

    def __init__(self, kiosk: Kiosk, **kw):
        self.run: CaptureRun | None = None
        self._source: FrameSource | None = None
        self.busy = False  # a manual scan or the saving of auto-captured pages is under way
        self.pages = 1
        self.instruction: tuple[str, ...] = ()
        super().__init__(kiosk, **kw)

    def build(self) -> None:
        self.hint = self.label("", "body")
        self.body.add_widget(self.hint)
        self.preview = Preview()
        self.body.add_widget(self.preview)
        self.outline = PageOutline(self.preview)
        self.guide = self.label("", "body")
        self.body.add_widget(self.guide)
        self.progress = ProgressBar(max=1.0, value=0.0, size_hint_y=None, height=24)
        self.body.add_widget(self.progress)
        self.status = self.label("", tone="danger")
        self.body.add_widget(self.status)
        self.feed = LiveFeed(self.k, self.preview, "scan")
        self.scan_button = self.button("scan.capture", self.capture)
        self.restart_button = self.button("scan.restart", self.restart, "secondary")
        self.back_button = self.button("nav.back", self.back, "secondary")
        self.nav_buttons(self.back_button, self.scan_button)
        self.code = ""

    # ------------------------------------------------------------------ entering

    def enter(self, code: str = "", **kw: object) -> None:
        flow = self.k.material_flow()
        if flow is None:
            return
        spec = flow.material_spec(code)
        self.code = code
        self.pages = spec.pages
        t = self.k.t
        self.say(
            self.hint,
            lambda: t("scan.hint", name=t.pick(spec.name_zh, spec.name_en), pages=spec.pages),
        )
        self.unsay(self.status)
        self.busy = False
        self.scan_button.disabled = False
        self.restart_button.disabled = False
        if spec.pages > 1:
            self.nav_buttons(self.back_button, self.restart_button, self.scan_button)
        else:
            self.nav_buttons(self.back_button, self.scan_button)
        self.k.style(self.nav)
        self._new_run()
        self._source = self.k.node.parts.document_camera(spec.name_en, spec.pages)
        self.feed.start(self._source, self._analyse, self._render)

    def _new_run(self) -> None:
        self.run = CaptureRun()
        self.instruction = ()
        self.outline.clear()
        self.progress.value = 0.0
        self._instruct(("scan.auto.place",))

    # ------------------------------------------------------------------ worker side

    def _analyse(self, full: np.ndarray, small: np.ndarray) -> None:
        """In the preview worker: one frame through the page capture of the current run."""
        run = self.run
        if run is None or self.busy or run.failed or run.taken >= self.pages:
            return
        if run.capture is None:
            size = getattr(self._source, "still_size", None) or (full.shape[1], full.shape[0])
            run.capture = PageCapture(self._grabber(run), capture_size=tuple(size))
        run.last_full = full
        try:
            # Until the screen has said "page 1 taken, place page 2" (a loaded kiosk draws late),
            # the next page is watched but not taken: the citizen would not know to swap.
            state = run.capture.feed(small, take=run.told >= run.taken)
        except CameraError:
            run.failed = True
            return
        run.state = state
        run.taken = len(run.capture.pages)

    def _grabber(self, run: CaptureRun) -> Callable[[], np.ndarray]:
        """The full-resolution grab: the camera's own still, else the frame just judged."""
        source = self._source
        still = getattr(source, "still", None)
        if callable(still):

            def grab() -> np.ndarray:
                with self.feed.camera_lock:
                    return still()

            return grab
        return lambda: run.last_full

    # ------------------------------------------------------------------ UI side

    def _render(self) -> None:
        run = self.run
        if run is None or self.busy:
            return
        if run.failed:
            self.outline.clear()
            self.say(self.status, "scan.failed")
            return
        state = run.state
        if state is None:
            return
        self.outline.show(state.corners, OUTLINE_RGBA.get(state.status))
        self.progress.value = state.progress if state.status == "hold_steady" else 0.0
        if run.taken >= self.pages:
            self._save(run)
            return
        if run.told < run.taken:
            run.told = run.taken
            self._instruct(("scan.auto.next", str(run.taken)))
            return
        self._instruct(self._instruction_for(state, run.taken))

    def _instruction_for(self, state: CaptureState, taken: int) -> tuple[str, ...]:
        if state.status == "hold_steady":
            return ("scan.auto.hold",)
        reasons = [r for r in state.reasons if r != "no_page"]
        if state.status == "adjust" and reasons and reasons[0] != "replace_page":
            return ("reason", reasons[0])
        return ("scan.auto.next", str(taken)) if taken else ("scan.auto.place",)

    def _instruct(self, instruction: tuple[str, ...]) -> None:
        """Show one instruction; say it aloud only when it changes."""
        if instruction == self.instruction:
            return
        self.instruction = instruction
        taken, pages = (self.run.taken if self.run else 0), self.pages
        key = instruction[0]
        if key == "reason":
            self.say(self.guide, REASONS[instruction[1]].key)
        elif key == "scan.auto.place" and pages == 1:
            self.say(self.guide, "scan.auto.place_one")
        elif key in ("scan.auto.place", "scan.auto.next"):
            self.say(self.guide, key, page=taken + 1, pages=pages, taken=taken)
        else:
            self.say(self.guide, key)
        self.k.speak(self.guide.text)

    def _save(self, run: CaptureRun) -> None:
        """Every page is taken: hand them to the flow, unless a manual scan already started."""
        flow = self.k.material_flow()
        if flow is None or self.busy or run is not self.run or run.capture is None:
            return
        self.busy = True
        self.scan_button.disabled = True
        self.restart_button.disabled = True
        self._instruct(("scan.auto.saving",))
        pages = list(run.capture.pages)
        code = self.code
        self.k.run(
            "scan-save",
            lambda: flow.add_scanned_pages(code, pages),
            lambda _r: self.k.go(flow.RETURN_SCREEN),
            self._failed,
        )

    # ------------------------------------------------------------------ buttons

    def capture(self) -> None:
        """The citizen's fallback: every page through `scan_material`, now."""
        flow = self.k.material_flow()
        if flow is None or self.busy or self.scan_button.disabled:
            return
        self.busy = True
        self.scan_button.disabled = True
        self.restart_button.disabled = True
        self.outline.clear()
        self.progress.value = 0.0
        self.say(self.status, "scan.working")
        code = self.code

        def scan():
            with self.feed.camera_lock:
                return flow.scan_material(code)

        self.k.run("scan", scan, lambda _r: self.k.go(flow.RETURN_SCREEN), self._failed)

    def back(self) -> None:
        flow = self.k.material_flow()
        self.k.go(flow.RETURN_SCREEN if flow is not None else "home")

    def restart(self) -> None:
        """Start the material's pages again from page 1."""
        if self.busy:
            return
        self.unsay(self.status)
        self._new_run()

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.scan_button.disabled = False
        self.restart_button.disabled = False
        self._new_run()
        wording = REASONS.get(exc.reason) if isinstance(exc, PageRefused) else None
        if wording is None:
            self.say(self.status, "scan.failed")
            return
        t = self.k.t
        page = exc.page
        self.say(self.status, lambda: t("scan.refused", page=page, why=t(wording.key)))
        self.k.speak(self.status.text)

    # ------------------------------------------------------------------ leaving

    def leave(self) -> None:
        self.feed.forget()
        self.run = None  # the pages taken so far are scans of the citizen's papers
        self._source = None
        self.outline.clear()
        self.progress.value = 0.0

    def wipe(self) -> None:
        self.leave()
        self.unsay(self.hint)
        self.unsay(self.guide)
        self.unsay(self.status)
        self.instruction = ()
        self.busy = False
        self.code = ""
