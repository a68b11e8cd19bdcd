"""A live camera feed on screen: a worker captures, the UI thread blits only the newest frame."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from kivy.clock import Clock

from devices.camera.port import CameraError, FrameSource
from terminal.ui.widgets import Preview

if TYPE_CHECKING:
    from terminal.ui.kiosk import Kiosk


PREVIEW_MAX_SIDE = 720  # pixels; a 4K document camera frame is shrunk before it is blitted


def shrink(frame, max_side: int = PREVIEW_MAX_SIDE):
    """Every n-th pixel so the longer side fits `max_side` (cheap: no filtering)."""
    step = -(-max(frame.shape[0], frame.shape[1]) // max_side)
    return frame[::step, ::step] if step > 1 else frame


class LiveFeed:
    """Frames from `source` into `preview` at up to `fps`; `camera_lock` pauses it for a capture.

    `analyse(frame, small)`, if given, judges each frame in the worker (never on the UI thread)
    with the full frame and its shrunk preview; `render()` runs on the UI thread after each blit
    to draw what the analysis found.
    """

    def __init__(self, kiosk: Kiosk, preview: Preview, name: str):
        self.kiosk, self.preview, self.name = kiosk, preview, name
        self.camera_lock = threading.Lock()
        self._stop = threading.Event()
        self._latest = None
        self._event = None
        self.failed = False

    def start(
        self,
        source: FrameSource,
        analyse: Callable[[np.ndarray, np.ndarray], None] | None = None,
        render: Callable[[], None] | None = None,
    ) -> None:
        self.stop()
        self._stop = stop = threading.Event()
        self.failed = False
        period = 1.0 / self.kiosk.preview_fps

        def capture_loop():
            while not stop.is_set():
                began = time.monotonic()
                with self.camera_lock:
                    if stop.is_set():
                        break
                    try:
                        frame = source.capture()
                    except CameraError:
                        self.failed = True
                        frame = None
                if frame is not None:
                    small = shrink(frame)
                    self._latest = small
                    if analyse is not None and not stop.is_set():
                        analyse(frame, small)
                # The period counts from the capture's start: time spent capturing (and
                # judging) the frame is not added on top of it.
                stop.wait(max(0.0, period - (time.monotonic() - began)))

        def tick(dt: float) -> None:
            self._show(dt)
            if render is not None:
                render()

        self.kiosk.worker.run(f"{self.name}-preview", capture_loop)
        self._event = Clock.schedule_interval(tick, period)

    def offer(self, frame) -> None:
        """A frame captured by someone else (the face check holding the camera): show it."""
        if not self._stop.is_set():
            self._latest = shrink(frame)

    def _show(self, _dt: float) -> None:
        frame, self._latest = self._latest, None
        if frame is not None:
            self.preview.show_frame(frame)

    def stop(self) -> None:
        self._stop.set()
        if self._event is not None:
            self._event.cancel()
            self._event = None
        self._latest = None

    def forget(self) -> None:
        """Stop and drop the picture (a face or a page) from memory and the screen."""
        self.stop()
        self.preview.clear()
