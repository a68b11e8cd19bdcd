"""Is this frame good enough to match: face size, sharpness, exposure and a near-frontal pose."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from face.landmarks import FoundFace
from face.pose import roll_degrees, yaw_index

# Limits, measured on 640x480 kiosk-camera frames; see docs/face.md.
MIN_FACE_SHARE = 0.18  # face width over frame width: below, ask to come closer
MIN_FACE_PX = 80  # and never under this many pixels, whatever the frame size
MAX_FACE_SHARE = 0.65  # above, the face is cut off: ask to step back
DARK = 60.0  # mean luminance of the face region, 0..255
BRIGHT = 205.0
MAX_CLIPPED = 0.25  # share of the face region burnt out (>= 250)
MIN_SHARPNESS = 30.0  # variance of the Laplacian, face scaled to 128 px wide and smoothed
MAX_YAW = 0.35  # yaw_index beyond which the face is not frontal enough to match
MAX_ROLL = 20.0  # degrees


@dataclass(frozen=True)
class FrameQuality:
    """Quality figures of one frame's face; no pixels."""

    face_px: int
    face_share: float
    brightness: float
    clipped: float
    sharpness: float
    yaw: float
    roll: float

    @property
    def problem(self) -> str | None:
        """The guidance code for the first thing wrong, or None if the frame is usable."""
        if self.face_share < MIN_FACE_SHARE or self.face_px < MIN_FACE_PX:
            return "move_closer"
        if self.face_share > MAX_FACE_SHARE:
            return "move_back"
        if self.brightness < DARK:
            return "too_dark"
        if self.brightness > BRIGHT or self.clipped > MAX_CLIPPED:
            return "too_bright"
        if abs(self.yaw) > MAX_YAW or abs(self.roll) > MAX_ROLL:
            return "face_the_camera"
        if self.sharpness < MIN_SHARPNESS:
            return "hold_still"
        return None

    @property
    def score(self) -> float:
        """Higher is better: used to pick the frame that is matched."""
        exposure = 1.0 - min(1.0, abs(self.brightness - 128.0) / 128.0)
        frontal = 1.0 - min(1.0, abs(self.yaw) / MAX_YAW) * 0.5 - min(1.0, abs(self.roll) / 45)
        sharp = min(1.0, self.sharpness / (2.5 * MIN_SHARPNESS))
        size = min(1.0, self.face_px / 200.0)
        return round(0.3 * sharp + 0.25 * frontal + 0.25 * exposure + 0.2 * size, 4)

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "face_px": self.face_px,
            "face_share": round(self.face_share, 3),
            "brightness": round(self.brightness, 1),
            "clipped": round(self.clipped, 3),
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 3),
            "roll": round(self.roll, 1),
            "score": self.score,
            "problem": self.problem,
        }


def face_region(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The box (left, top, right, bottom) of the frame as a grey image."""
    left, top, right, bottom = box
    crop = frame[top:bottom, left:right]
    return cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)


def assess(frame: np.ndarray, face: FoundFace) -> FrameQuality:
    """Quality figures of `face` in `frame`."""
    grey = face_region(frame, face.box)
    if grey.size == 0:
        return FrameQuality(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    size = (128, max(1, round(128 * grey.shape[0] / grey.shape[1])))
    # Smoothed first so sensor noise does not count as detail.
    scaled = cv2.GaussianBlur(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), (3, 3), 0)
    sharpness = float(cv2.Laplacian(scaled, cv2.CV_64F).var())
    return FrameQuality(
        face_px=face.width,
        face_share=face.width / frame.shape[1],
        brightness=float(grey.mean()),
        clipped=float((grey >= 250).mean()),
        sharpness=sharpness,
        yaw=yaw_index(face.points),
        roll=roll_degrees(face.points),
    )
