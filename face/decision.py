"""The outcome of a face check, and the port a terminal verifies faces through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# face_recognition's own guidance: distances under 0.6 are usually the same person; the
# terminal asks for more, because a false accept hands someone else's papers over. On the
# sample photos same-person pairs measure 0.23-0.43 and different people 0.82-0.88
# (docs/face.md has every pair).
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class FaceDecision:
    """Scores only, never images: this is what leaves the terminal."""

    matched: bool
    distance: float | None
    threshold: float
    liveness_passed: bool | None
    # Why it failed, as a code ("no_match", "blink_absent", "planar", "frozen_frames", ...).
    reason: str | None = None
    liveness_score: float | None = None  # share of the challenge's prompts answered
    quality: float | None = None  # quality score of the frame that was matched, 0..1
    attempts: int = 1

    @property
    def verified(self) -> bool:
        """Matched AND shown to be a live person: a match without liveness proves nothing.

        A single still frame (liveness not judged, None) is never enough, since a printed
        photo of the card holder matches as well as the holder does.
        """
        return self.matched and self.liveness_passed is True


class FaceVerifier(Protocol):
    """1:1 verification of live frames against a document photo."""

    def verify(self, document_photo: bytes | None, frames: Sequence[np.ndarray]) -> FaceDecision:
        """Match the live frames to the document photo, with liveness."""
        ...


class FixedFaceVerifier:
    """Returns a decision fixed in advance: for demos and flow tests, not for production."""

    def __init__(self, decision: FaceDecision):
        self.decision = decision
        self.calls = 0

    def verify(self, document_photo: bytes | None, frames: Sequence[np.ndarray]) -> FaceDecision:
        self.calls += 1
        return self.decision
