"""Emulated cameras: generated pages, replayed image files, and a scripted document camera."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.camera.document_scene import DeskScene
from devices.camera.port import CameraError


def render_page(
    title: str, lines: list[str], *, size: tuple[int, int] = (1240, 1754)
) -> np.ndarray:
    """An A4 page at 150 dpi with a title, body text and a red round seal."""
    w, h = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=36)
    body = ImageFont.load_default(size=26)
    draw.text((w * 0.1, h * 0.06), title, fill="black", font=font)
    for i, line in enumerate(lines):
        draw.text((w * 0.1, h * 0.14 + i * 44), line, fill=(20, 20, 20), font=body)
    cx, cy, r = int(w * 0.72), int(h * 0.8), int(w * 0.1)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(200, 20, 30), width=8)
    draw.text((cx - r * 0.6, cy - 14), "SEAL", fill=(200, 20, 30), font=font)
    return np.asarray(img)


class GeneratedPageSource:
    """A document camera looking down at generated pages lying on a desk, one sheet at a time.

    Each frame shows the sheet the emulated citizen has placed (text and a red seal) at about
    170 dpi, squarely under the camera on a plain dark desk, as a well-placed sheet on a real
    document camera's full-resolution capture: the page pipeline finds, judges and
    straightens it like any other frame. `on_desk=False` gives the bare page instead.

    The citizen swaps sheets after each full-resolution grab (`still()`): while the live
    preview runs (`capture()`), the next `swap_frames` frames show the empty desk, then the
    next sheet (after the last one, the first again). A grab that comes during the swap
    waits for the sheet being placed. The sheet stays still otherwise, so a kiosk's
    auto-capture sees a page held steady, takes it, sees it go and the next one come.
    """

    DESK_RGB = (92, 70, 52)
    SCALE = 1.13  # camera pixels per page pixel: 150 dpi pages seen at ~170 dpi

    def __init__(
        self,
        title: str = "Material",
        pages: int = 1,
        *,
        on_desk: bool = True,
        swap_frames: int = 4,
    ):
        self.title = title
        self.pages = pages
        self.on_desk = on_desk
        self.swap_frames = swap_frames
        self.captured = 0  # frames given, preview and grabs
        self.sheet = 0  # index of the sheet lying under the camera
        self._swapping = 0  # preview frames left showing the empty desk
        self._frames: dict[int, np.ndarray] = {}  # a live preview asks for the same page often

    def capture(self) -> np.ndarray:
        """The next preview frame: the sheet lying there, or the desk while sheets are swapped."""
        self.captured += 1
        page = self._page_frame(self.sheet)
        if self._swapping > 0:
            self._swapping -= 1
            desk = np.empty_like(page)
            desk[:] = self.DESK_RGB
            return desk
        return page.copy()

    def still(self) -> np.ndarray:
        """A full-resolution grab of the sheet; the citizen then takes it and places the next."""
        self.captured += 1
        self._swapping = 0
        frame = self._page_frame(self.sheet).copy()
        if self.pages > 1:
            self.sheet = (self.sheet + 1) % self.pages
            self._swapping = self.swap_frames
        return frame

    def _page_frame(self, index: int) -> np.ndarray:
        if index not in self._frames:
            self._frames[index] = self._frame(index)
        return self._frames[index]

    def _frame(self, index: int) -> np.ndarray:
        lines = [f"{self.title} - page {index + 1} of {self.pages}"] + [
            f"Line {n}: the quick brown fox jumps over the lazy dog." for n in range(1, 25)
        ]
        page = render_page(self.title, lines)
        if not self.on_desk:
            return page
        h, w = page.shape[:2]
        seen = cv2.resize(page, (round(w * self.SCALE), round(h * self.SCALE)), cv2.INTER_CUBIC)
        sh, sw = seen.shape[:2]
        frame = np.empty((round(sh * 1.12), round(sw * 1.2), 3), np.uint8)
        frame[:] = self.DESK_RGB
        y0, x0 = (frame.shape[0] - sh) // 2, (frame.shape[1] - sw) // 2
        frame[y0 : y0 + sh, x0 : x0 + sw] = seen
        return frame

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "generated", "captured": self.captured}


class EmptyDeskSource:
    """A document camera with nothing placed under it: the desk `GeneratedPageSource` uses."""

    def __init__(self, size: tuple[int, int] = (900, 1200)):
        self.size = size
        self.captured = 0

    def capture(self) -> np.ndarray:
        self.captured += 1
        w, h = self.size
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = GeneratedPageSource.DESK_RGB
        return frame

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "empty-desk", "captured": self.captured}


class ImageFileSource:
    """Replays image files (decoded by OpenCV, as a camera's frames would be) in a loop."""

    def __init__(
        self, paths: list[str | Path], *, size: tuple[int, int] | None = None, loop: bool = True
    ):
        """`size` (width, height) rescales every frame to a camera's resolution."""
        if not paths:
            raise CameraError("no image files to replay")
        self.paths = [Path(p) for p in paths]
        self.size = size
        self.loop = loop
        self.captured = 0

    def capture(self) -> np.ndarray:
        if not self.loop and self.captured >= len(self.paths):
            raise CameraError("the replayed image files are exhausted")
        path = self.paths[self.captured % len(self.paths)]
        self.captured += 1
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CameraError(f"replayed frame {path.name} could not be decoded")
        if self.size is not None and (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "image-files", "files": len(self.paths), "captured": self.captured}


# A citizen's usual gestures, as (action, frames): the kiosk's auto-capture is tested on these.
PLACE_HOLD_REMOVE: tuple[tuple[str, int], ...] = (
    ("empty", 3),
    ("place", 6),
    ("hold", 14),
    ("move", 4),
    ("hold", 14),
    ("remove", 4),
    ("empty", 3),
)


class ScriptedDocumentCamera:
    """A document camera filming a scripted scene: a page placed, moved, held still, removed.

    `capture()` gives the next preview frame at `size`; `still()` gives the current scene at
    `still_size`, as the camera's full-resolution capture would. Actions: empty (no page),
    place (slides in from the right), hold, move (slides a little), remove (slides out).
    """

    def __init__(
        self,
        script: Sequence[tuple[str, int]] = PLACE_HOLD_REMOVE,
        *,
        size: tuple[int, int] = (1280, 960),
        still_size: tuple[int, int] = (3264, 2448),
        paper: str = "A4",
        seed: int = 0,
        pages: int = 1,
    ):
        self.size = size
        self.still_size = still_size
        self.scenes = [DeskScene(paper, seed=seed + k) for k in range(pages)]
        self._timeline = list(_timeline(script))
        self.captured = 0
        self.stills = 0

    @property
    def state(self) -> tuple[int, tuple[float, float] | None, float]:
        """(page index, offset or None, motion blur) at the current frame."""
        i = min(max(0, self.captured - 1), len(self._timeline) - 1)
        return self._timeline[i]

    def capture(self) -> np.ndarray:
        self.captured += 1
        page, offset, blur = self.state
        scene = self.scenes[page % len(self.scenes)]
        return scene.render(self.size, offset, blur=blur, frame_no=self.captured)

    def still(self) -> np.ndarray:
        """The scene as it is now, at full resolution."""
        self.stills += 1
        page, offset, blur = self.state
        scene = self.scenes[page % len(self.scenes)]
        factor = self.still_size[0] / self.size[0]
        return scene.render(self.still_size, offset, blur=blur * factor, frame_no=-self.stills)

    def truth(self) -> np.ndarray | None:
        """The page's true corners in the current preview frame (None when no page)."""
        page, offset, _ = self.state
        if offset is None:
            return None
        return self.scenes[page % len(self.scenes)].corners(self.size, offset)

    def diagnostics(self) -> dict[str, object]:
        return {
            "driver": "scripted-document-camera",
            "resolution": list(self.size),
            "still_resolution": list(self.still_size),
            "captured": self.captured,
        }


def _timeline(script: Sequence[tuple[str, int]]):
    """Per frame: (page index, offset or None, blur). A new page comes after each removal."""
    page = 0
    offset: tuple[float, float] | None = None
    for action, frames in script:
        if action not in ("empty", "place", "hold", "move", "remove"):
            raise ValueError(f"unknown scene action {action!r}")
        start = offset if offset is not None else (1.0, 0.0)
        for k in range(1, frames + 1):
            t = k / frames
            if action == "empty":
                offset = None
                yield page, None, 0.6
                continue
            if action == "hold":
                yield page, offset or (0.0, 0.0), 0.6
                continue
            if action == "place":
                target = (0.0, 0.0)
            elif action == "move":
                target = (0.04, 0.03)
            else:
                target = (1.0, 0.0)
            cur = (start[0] + (target[0] - start[0]) * t, start[1] + (target[1] - start[1]) * t)
            step = abs(target[0] - start[0]) + abs(target[1] - start[1])
            yield page, cur, 0.6 + 40.0 * step / frames  # moving paper smears
            offset = cur
        if action == "remove":
            offset = None
            page += 1
