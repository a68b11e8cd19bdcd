"""Frames as the pipeline accepts them: whatever a camera or a file gave, as RGB uint8 or None."""

from __future__ import annotations

import numpy as np

MIN_SIDE = 32  # below this no page can be found or judged


def as_rgb8(frame: object) -> np.ndarray | None:
    """The frame as a contiguous (h, w, 3) uint8 RGB array, or None if it cannot be one."""
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        return None
    a = frame
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        return None
    a = a[..., :3]
    if min(a.shape[:2]) < MIN_SIDE:
        return None
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return np.ascontiguousarray(a.astype(np.uint8) * 255)
    if a.dtype == np.uint16:
        return np.ascontiguousarray((a >> 8).astype(np.uint8))
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            return None
        scale = 255.0 if float(a.max(initial=0.0)) <= 1.0 else 1.0
        return np.ascontiguousarray(np.clip(a * scale + 0.5, 0, 255).astype(np.uint8))
    if np.issubdtype(a.dtype, np.integer):
        return np.ascontiguousarray(np.clip(a, 0, 255).astype(np.uint8))
    return None
