"""Straightening a found page to its true shape, and making it easier to read.

Enhancement flattens the light: each colour channel is divided by an estimate of the bare
paper under it (a morphological closing removes the print, a blur smooths what is left), so
shadows and uneven lamps disappear while every ink keeps its hue. A red seal stays red; it is
not thresholded to black and white, which would erase or blacken it.
"""

from __future__ import annotations

import cv2
import numpy as np

from terminal.materials.formats import PageFormat, true_aspect

PAPER_KNEE = 0.9  # at or above this share of the local paper level is white paper
INK_GAMMA = 1.3
MAX_LONG_SIDE = 4000  # pixels; a guard for unknown formats from huge frames


def page_size(
    corners: np.ndarray, frame_size: tuple[int, int], fmt: PageFormat, dpi: float | None
) -> tuple[int, int]:
    """Output (width, height) in pixels: the format at `dpi`, or the measured shape at native size.

    The orientation (landscape or portrait) follows the page as it lies in the frame.
    """
    ratio = true_aspect(corners, frame_size)  # width / height as laid
    c = np.asarray(corners, np.float64)
    native_w = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    native_h = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    if fmt.known and dpi:
        short = fmt.short_mm / 25.4 * dpi
        long_ = fmt.long_mm / 25.4 * dpi
        w, h = (long_, short) if ratio >= 1.0 else (short, long_)
    else:
        long_native = max(native_w, native_h)
        if ratio >= 1.0:
            w, h = long_native, long_native / ratio
        else:
            w, h = long_native * ratio, long_native
    scale = min(1.0, MAX_LONG_SIDE / max(w, h))
    return max(8, round(w * scale)), max(8, round(h * scale))


def rectify(frame: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The page cut out of the frame and warped flat to `size` (width, height)."""
    w, h = size
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    hom = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst.astype(np.float32))
    # Shrinking more than 2x with a plain bilinear warp would alias the print.
    span = max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[3] - corners[0]))
    if span > 2.2 * max(w, h):
        pre = 1.5 * max(w, h) / span
        frame = cv2.resize(frame, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        back = 0.5 / pre - 0.5  # pixel centres: x_frame = (x_small + 0.5) / pre - 0.5
        hom = hom @ np.array([[1 / pre, 0, back], [0, 1 / pre, back], [0, 0, 1.0]])
    return cv2.warpPerspective(
        frame, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def flatten_light(page: np.ndarray) -> np.ndarray:
    """Each channel divided by the bare paper under it: even white, inks keep their colour."""
    h, w = page.shape[:2]
    shrink = max(1, round(max(h, w) / 400))
    small = cv2.resize(
        page, (max(1, w // shrink), max(1, h // shrink)), interpolation=cv2.INTER_AREA
    )
    k = max(3, (min(small.shape[:2]) // 25) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    paper = cv2.GaussianBlur(paper, (0, 0), k / 2)
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    norm = page.astype(np.float32) / np.maximum(paper, 16.0)  # bare paper is 1.0
    # Paper within a few percent of its own level is paper: make it white, which also drops
    # the sensor noise JPEG would otherwise spend bytes on. A gentle curve deepens the ink.
    norm = np.clip(norm / PAPER_KNEE, 0.0, 1.0)
    return (255.0 * norm**INK_GAMMA + 0.5).astype(np.uint8)


def enhance(page: np.ndarray, fmt: PageFormat) -> np.ndarray:
    """The page made easier to read; cards keep their printed background tint."""
    if fmt.name == "ID-1":
        return page  # card backgrounds are printed, not paper: flattening would bleach them
    return flatten_light(page)
