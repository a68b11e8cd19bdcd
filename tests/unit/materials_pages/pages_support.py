"""Shared measures for the page-pipeline tests."""

from __future__ import annotations

import numpy as np

from terminal.materials.quad import order_corners


def corner_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Worst corner distance as a fraction of the page's diagonal (any starting corner)."""
    t = order_corners(truth)
    diag = max(np.linalg.norm(t[2] - t[0]), np.linalg.norm(t[3] - t[1]))
    worst = min(
        float(np.max(np.linalg.norm(np.roll(found, k, axis=0) - t, axis=1))) for k in range(4)
    )
    return worst / float(diag)
