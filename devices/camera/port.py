"""The camera port: a source of RGB frames as numpy arrays (height, width, 3), uint8."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class CameraError(Exception):
    """The camera gave no frame (unplugged, busy, or failed)."""


class FrameSource(Protocol):
    """A live camera or document camera."""

    def capture(self) -> np.ndarray:
        """One frame now; CameraError if none can be had."""
        ...

    def diagnostics(self) -> dict[str, object]:
        """Device facts for `allhours doctor`."""
        ...
