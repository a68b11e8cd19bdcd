"""Face detection and 68-point landmarks on a frame, detecting on a downscaled copy for speed."""

from __future__ import annotations

from dataclasses import dataclass

# Loading face_recognition loads dlib's models once per process (about 0.3 s).
import dlib
import face_recognition.api as _fr
import numpy as np
from PIL import Image

# A kiosk camera frame is detected at this width: dlib's HOG detector costs grows with the
# pixel count, and a face at arm's length is still over 100 px wide at 640 px.
DETECT_WIDTH = 640

# Index ranges of the 68-point (iBUG 300-W) layout that dlib's predictor returns.
JAW = slice(0, 17)
NOSE = slice(27, 36)
RIGHT_EYE = slice(36, 42)  # the subject's right eye: on the image's left
LEFT_EYE = slice(42, 48)
NOSE_TIP = 30


@dataclass(frozen=True, eq=False)
class FoundFace:
    """One detected face: box (left, top, right, bottom) and landmarks, in frame pixels."""

    box: tuple[int, int, int, int]
    points: np.ndarray  # (68, 2) float64, x then y

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def css(self) -> tuple[int, int, int, int]:
        """The box in face_recognition's (top, right, bottom, left) order."""
        left, top, right, bottom = self.box
        return (top, right, bottom, left)

    def __repr__(self) -> str:
        return f"FoundFace(box={self.box})"


# Around a face seen in the previous frame, detection runs on a small crop scaled so the face
# is this wide: dlib's HOG window is 80 px, and a crop is a fraction of the frame's pixels.
TRACK_FACE_PX = 120


def find_faces(
    frame: np.ndarray,
    *,
    detect_width: int = DETECT_WIDTH,
    upsample: int = 0,
    near: tuple[int, int, int, int] | None = None,
) -> list[FoundFace]:
    """Faces in an RGB uint8 frame, largest first.

    near: the box of the face in the previous frame; the search starts around it and falls
    back to the whole frame when the face is not there.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame, got {frame.dtype} {frame.shape}")
    if near is not None:
        found = _find_near(frame, near)
        if found:
            return found
    h, w = frame.shape[:2]
    scale = max(1.0, w / detect_width)
    return _detect(frame, (0, 0, w, h), scale, upsample)


def _find_near(frame: np.ndarray, box: tuple[int, int, int, int]) -> list[FoundFace]:
    h, w = frame.shape[:2]
    left, top, right, bottom = box
    size = max(1, right - left)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = 1.1 * size
    roi = (
        max(0, round(cx - half)),
        max(0, round(cy - half)),
        min(w, round(cx + half)),
        min(h, round(cy + half)),
    )
    return _detect(frame, roi, max(1.0, size / TRACK_FACE_PX), 0)


def _detect(
    frame: np.ndarray, roi: tuple[int, int, int, int], scale: float, upsample: int
) -> list[FoundFace]:
    """Detect in roi scaled down by `scale`; landmarks on the full-resolution frame."""
    x0, y0, x1, y1 = roi
    h, w = frame.shape[:2]
    crop = frame[y0:y1, x0:x1]
    if crop.size == 0:
        return []
    if scale > 1.0:
        size = (max(1, round((x1 - x0) / scale)), max(1, round((y1 - y0) / scale)))
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR))
    found = []
    for rect in _fr.face_detector(np.ascontiguousarray(crop), upsample):
        box = (
            max(0, x0 + round(rect.left() * scale)),
            max(0, y0 + round(rect.top() * scale)),
            min(w, x0 + round(rect.right() * scale)),
            min(h, y0 + round(rect.bottom() * scale)),
        )
        shape = _fr.pose_predictor_68_point(frame, dlib.rectangle(*box))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        found.append(FoundFace(box=box, points=points))
    found.sort(key=lambda f: f.width, reverse=True)
    return found
