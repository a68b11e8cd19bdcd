"""Geometry read from 68 face landmarks: turn, roll, eye opening, and the nose's parallax."""

from __future__ import annotations

import math

import cv2
import numpy as np

# Points that lie close to one plane on a real face (eye corners, mouth corners) and the
# points that stand out of it (nose tip and nostrils).
FACE_PLANE = (36, 39, 42, 45, 48, 54)
NOSE_POINTS = (30, 31, 32, 33, 34, 35)


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the eye centres, the unit every other measure is scaled by."""
    return float(np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0)))


def yaw_index(points: np.ndarray) -> float:
    """Where the nose tip sits between the face outline's sides: 0 centred, +-1 at a side.

    Positive when the nose is towards the image's right, which is the subject turning to
    their own left in an unmirrored camera frame.
    """
    left, right = points[0:17, 0].min(), points[0:17, 0].max()
    width = max(1.0, float(right - left))
    return float((points[30, 0] - left) / width - 0.5) * 2.0


def roll_degrees(points: np.ndarray) -> float:
    """In-plane tilt of the line through the eye centres."""
    dx, dy = points[42:48].mean(axis=0) - points[36:42].mean(axis=0)
    return math.degrees(math.atan2(dy, dx))


def eye_aspect(points: np.ndarray) -> float:
    """Eye aspect ratio (lid gap over eye width), averaged over both eyes."""

    def one(eye: np.ndarray) -> float:
        gap = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        return float(gap / (2.0 * max(1e-6, np.linalg.norm(eye[0] - eye[3]))))

    return (one(points[36:42]) + one(points[42:48])) / 2.0


def face_height_ratio(points: np.ndarray) -> float:
    """Eyes-to-mouth distance over the eye distance, from corners only: falls when pitched.

    Eye and mouth corners do not move when the eyes close, so a blink leaves this ratio alone;
    a print tilted back shortens it, together with the lid gap.
    """
    right_eye, left_eye = points[[36, 39]].mean(axis=0), points[[42, 45]].mean(axis=0)
    mouth = points[[48, 54]].mean(axis=0)
    width = max(1e-6, float(np.linalg.norm(left_eye - right_eye)))
    return float(np.linalg.norm(mouth - (right_eye + left_eye) / 2)) / width


def nose_parallax(reference: np.ndarray, points: np.ndarray) -> float:
    """Horizontal shift of the nose, in eye distances, beyond what a plane would explain.

    A homography is fitted from the reference frame's face-plane points to this frame's; the
    nose points are carried through it and compared with where the nose really is. On a flat
    photo, however it is tilted, the nose stays where the homography puts it; on a real head
    turning, the nose stands out of the plane and moves further. Positive: towards the image's
    right.
    """
    src = reference[list(FACE_PLANE)].astype(np.float64)
    dst = points[list(FACE_PLANE)].astype(np.float64)
    hmat, _ = cv2.findHomography(src, dst, 0)
    if hmat is None:
        return 0.0
    nose_ref = reference[list(NOSE_POINTS)].astype(np.float64)[None]
    predicted = cv2.perspectiveTransform(nose_ref, hmat)[0]
    shift = points[list(NOSE_POINTS)] - predicted
    return float(shift[:, 0].mean()) / max(1e-6, inter_ocular(points))
