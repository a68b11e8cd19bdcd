"""Auto-capture: watch the preview, take the picture once the page lies still and looks good.

`PageCapture.feed(frame)` is called with every preview frame and returns a `CaptureState` the
kiosk renders:

- `no_page`: nothing that looks like a page;
- `adjust`: a page, but something must change first (`reasons`: cut_off, too_small, skewed,
  glare, blurred, or replace_page after a capture until another page is shown);
- `hold_steady`: a good page that has not yet been still for `steady_frames` frames;
- `captured`: the full-resolution frame was grabbed and passed every check; `page` holds it.

Preview frames are too coarse to judge whether print is sharp, so blur is judged on the
full-resolution frame only; the preview decides position, size, tilt, glare and stillness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from terminal.materials.frames import as_rgb8
from terminal.materials.pipeline import OUTPUT_DPI, PageResult, inspect, page_format
from terminal.materials.quad import PageQuad, find_page
from terminal.materials.quality import geometry_reasons, has_glare
from terminal.materials.rectify import rectify

STATUSES = ("no_page", "adjust", "hold_steady", "captured")


def full_resolution_grab(camera: object) -> Callable[[], np.ndarray]:
    """How to take the picture that is kept: `still()` where the camera has a separate
    full-resolution grab (a document camera streaming a smaller preview), else `capture()`."""
    still = getattr(camera, "still", None)
    return still if callable(still) else camera.capture  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CaptureState:
    """What the kiosk shows: the status, the outline to draw, why not yet, and the page."""

    status: str
    corners: np.ndarray | None = None  # (4, 2) in preview pixels
    reasons: tuple[str, ...] = ()
    page: PageResult | None = None  # set when status == "captured"
    progress: float = 0.0  # how far through the steady count, 0..1

    def __repr__(self) -> str:  # pixels of a scan never go to a log
        return f"CaptureState({self.status!r}, reasons={self.reasons}, progress={self.progress})"


class PageCapture:
    """The auto-capture state machine for one material (any number of pages)."""

    def __init__(
        self,
        grab: Callable[[], np.ndarray],
        *,
        steady_frames: int = 8,
        motion_tolerance: float = 0.004,
        capture_size: tuple[int, int] | None = None,
        px_per_mm: float | None = None,
        output_dpi: float = OUTPUT_DPI,
    ):
        """`grab` returns a full-resolution frame; `capture_size` is its (width, height).

        Without `capture_size` the preview cannot say whether the page will reach 150 dpi;
        that is then judged on the grabbed frame only.
        """
        self.grab = grab
        self.steady_frames = steady_frames
        self.motion_tolerance = motion_tolerance  # of the preview diagonal, per frame
        self.capture_size = capture_size
        self.px_per_mm = px_per_mm
        self.output_dpi = output_dpi
        self.pages: list[PageResult] = []
        self._last: np.ndarray | None = None
        self._steady = 0
        self._done_print: np.ndarray | None = None  # thumbnail of the last captured page

    def feed(self, frame: object, *, take: bool = True) -> CaptureState:
        """Advance on one preview frame; with `take` false a still page waits to be taken."""
        rgb = as_rgb8(frame)
        quad = find_page(rgb) if rgb is not None else None
        if quad is None:
            self._last, self._steady = None, 0
            self._done_print = None  # the page was taken away: the next one may come
            return CaptureState("no_page", reasons=("no_page",))
        corners = quad.corners
        moved = self._moved(corners, quad.frame_size)
        self._last = corners
        if self._done_print is not None:
            # Only another sheet (or the other side) re-arms; nudging the same one does not.
            if moved or self._same_page(rgb, quad):
                return CaptureState("adjust", corners, ("replace_page",))
            self._done_print = None
        scale = self.capture_size[0] / quad.frame_size[0] if self.capture_size else 1.0
        reasons = geometry_reasons(quad, page_format(quad, scale, self.px_per_mm), scale)
        if self.capture_size is None and "too_small" in reasons:
            reasons.remove("too_small")  # resolution unknown here: the grab will tell
        if not reasons and self._glare(rgb, quad):
            # Judged on every frame, so "hold still" and "glare" do not take turns on screen.
            reasons = ["glare"]
        if reasons:
            self._steady = 0
            return CaptureState("adjust", corners, tuple(reasons))
        self._steady = 1 if moved else self._steady + 1
        if self._steady < self.steady_frames or not take:
            return CaptureState("hold_steady", corners, progress=self._progress())
        result = self._take(quad)
        if not result.ok:
            self._steady = 0
            return CaptureState("adjust", corners, result.reasons)
        self.pages.append(result)
        self._done_print = self._thumbnail(rgb, quad)
        self._steady = 0
        return CaptureState("captured", corners, (), result, 1.0)

    def reset(self) -> None:
        """Forget the pages and start over."""
        self.pages.clear()
        self._last, self._steady, self._done_print = None, 0, None

    # ------------------------------------------------------------------ steps

    def _take(self, preview_quad: PageQuad) -> PageResult:
        full = as_rgb8(self.grab())
        if full is None:
            return PageResult(("no_page",))
        quad = find_page(full)
        if quad is None:  # the preview's outline, scaled up, is still close
            factor = full.shape[1] / preview_quad.frame_size[0]
            quad = preview_quad.scaled(factor, (full.shape[1], full.shape[0]))
        return inspect(full, quad=quad, px_per_mm=self.px_per_mm, output_dpi=self.output_dpi)

    def _moved(self, corners: np.ndarray, frame_size: tuple[int, int]) -> bool:
        if self._last is None:
            return True
        limit = self.motion_tolerance * float(np.hypot(*frame_size))
        return bool(np.max(np.linalg.norm(corners - self._last, axis=1)) > limit)

    def _progress(self) -> float:
        return min(1.0, self._steady / max(1, self.steady_frames))

    @staticmethod
    def _glare(rgb: np.ndarray, quad: PageQuad) -> bool:
        w = max(8, round(np.linalg.norm(quad.corners[1] - quad.corners[0])))
        h = max(8, round(np.linalg.norm(quad.corners[3] - quad.corners[0])))
        # The page's long side taken as A4's: the cell size only needs to be about right.
        dpi = max(w, h) / (297.0 / 25.4)
        return has_glare(rectify(rgb, quad.corners, (w, h)), dpi)

    @staticmethod
    def _thumbnail(rgb: np.ndarray, quad: PageQuad) -> np.ndarray:
        page = rectify(rgb, quad.corners, (48, 48))
        return cv2.cvtColor(page, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def _same_page(self, rgb: np.ndarray, quad: PageQuad) -> bool:
        now = self._thumbnail(rgb, quad)
        then = self._done_print
        if then is None:
            return False
        # Compare print, not light: remove each thumbnail's mean first.
        diff = np.abs((now - now.mean()) - (then - then.mean())).mean()
        return bool(diff < 10.0)
