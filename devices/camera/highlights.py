"""Highlights on generated frames: a sharp burnt-out spot and broad, soft reflections."""

from __future__ import annotations

import cv2
import numpy as np


def add_burnt_spot(img: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A specular highlight saturating the sensor over part of the page."""
    h, w = img.shape[:2]
    a, b = rng.uniform(0.25, 0.75, size=2)
    top = corners[0] + a * (corners[1] - corners[0])
    bottom = corners[3] + a * (corners[2] - corners[3])
    centre = top + b * (bottom - top)
    diag = np.linalg.norm(corners[2] - corners[0])
    radius = rng.uniform(0.05, 0.1) * diag
    x0, x1 = (int(np.clip(centre[0] + k * 2 * radius, 0, w)) for k in (-1, 1))
    y0, y1 = (int(np.clip(centre[1] + k * 2 * radius, 0, h)) for k in (-1, 1))
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    xx = np.arange(x0, x1, dtype=np.float32)[None, :]
    d2 = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / radius**2
    spot = np.exp(-(d2**2))  # flat-topped: a burnt-out patch with a soft rim
    img[y0:y1, x0:x1] += 260.0 * spot[..., None]
    return img


def add_reflection(
    img: np.ndarray,
    corners: np.ndarray,
    rng: np.random.Generator,
    kind: str,
    *,
    peak: float | None = None,
) -> np.ndarray:
    """A broad soft reflection on glossy paper: brightest in its middle, fading out gradually.

    `lamp`: a round one spanning about a third of the page; `streak`: a long band across the
    page (a tube light); both wash out the print under their middle. `sheen`: a broad, faint
    one that brightens the paper short of burning it out and leaves the print legible.
    `peak` (added grey levels at the middle) overrides the kind's usual strength.
    """
    h, w = img.shape[:2]
    a, b = rng.uniform(0.3, 0.7, size=2)
    top = corners[0] + a * (corners[1] - corners[0])
    bottom = corners[3] + a * (corners[2] - corners[3])
    centre = top + b * (bottom - top)
    diag = float(np.linalg.norm(corners[2] - corners[0]))
    yy = np.arange(h, dtype=np.float32)[:, None] - np.float32(centre[1])
    xx = np.arange(w, dtype=np.float32)[None, :] - np.float32(centre[0])
    if kind == "streak":
        angle = rng.uniform(0, np.pi)
        across = xx * np.float32(np.sin(angle)) - yy * np.float32(np.cos(angle))
        d2 = (across / np.float32(rng.uniform(0.06, 0.09) * diag)) ** 2
        strength = rng.uniform(300, 380)
    else:
        radius = (
            rng.uniform(0.16, 0.22) * diag if kind == "lamp" else rng.uniform(0.25, 0.35) * diag
        )
        d2 = (xx**2 + yy**2) / np.float32(radius**2)
        strength = rng.uniform(300, 380) if kind == "lamp" else rng.uniform(18, 28)
    if peak is not None:
        strength = peak
    # Glossy paper mirrors the light; the matte desk around it does not.
    paper = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(paper, np.round(corners * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    if kind == "sheen":  # short of burning out: a burnt-out patch is the `spot` kind
        strength = min(strength, max(0.0, 246.0 - float(img[paper > 0].max())))
    shine = np.float32(strength / 255.0) * np.exp(-d2) * paper.astype(np.float32)
    img += shine[..., None]  # Gaussian: no flat top, no sharp rim
    return img
