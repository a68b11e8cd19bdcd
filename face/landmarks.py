"""Face detection and 68-point landmarks on a frame, detecting on a downscaled copy for speed."""

from __future__ import annotations

from dataclasses import dataclass

# Loading face_recognition loads dlib's models once per process (about 0.3 s).
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


def find_faces(frame: np.ndarray, *, detect_width: int = DETECT_WIDTH, upsample: int = 0):
    """Faces in an RGB uint8 frame, largest first."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame, got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    scale = 1.0
    small = frame
    if w > detect_width:
        scale = w / detect_width
        size = (detect_width, max(1, round(h / scale)))
        small = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))
    found = []
    for rect in _fr.face_detector(small, upsample):
        shape = _fr.pose_predictor_68_point(small, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64) * scale
        box = (
            max(0, round(rect.left() * scale)),
            max(0, round(rect.top() * scale)),
            min(w, round(rect.right() * scale)),
            min(h, round(rect.bottom() * scale)),
        )
        found.append(FoundFace(box=box, points=points))
    found.sort(key=lambda f: f.width, reverse=True)
    return found
