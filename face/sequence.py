"""Verifying a document photo against a set of still images, without a kiosk session.

For technicians (`allhours face verify`) and for flows that capture a few frames themselves.
It picks the best frame, matches it, and judges liveness from the images when they form a
sequence. Without prompts there is no challenge, so the judgement is weaker than `FaceCheck`:
it says which gestures the sequence shows, that they are not a flat picture, and that the
frames are not one frame repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from face.decision import DEFAULT_THRESHOLD, FaceDecision
from face.landmarks import FoundFace, find_faces
from face.liveness import (
    BLINK_CLOSED,
    BLINK_OPEN,
    FROZEN_PAIRS,
    MIN_PARALLAX,
    STEADY_HEIGHT,
    TURN_MIN,
    Baseline,
    FrozenPicture,
    Observation,
)
from face.matcher import NoFaceFound, UnreadableImage, distance, document_encoding, encode
from face.pose import nose_parallax
from face.quality import FrameQuality, assess

# A gesture needs a neutral frame, the gesture, and a neutral frame again.
MIN_SEQUENCE = 3


@dataclass(frozen=True)
class SequenceLiveness:
    """What a sequence of images shows: gestures seen, and whether it passes for a live face."""

    judged: bool
    passed: bool | None
    gestures: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class ImageVerification:
    """The result over a set of live images; figures only, no pixels."""

    qualities: tuple[FrameQuality | None, ...]
    best: int | None
    distance: float | None
    threshold: float
    liveness: SequenceLiveness
    reason: str | None = None

    @property
    def matched(self) -> bool:
        return self.distance is not None and self.distance <= self.threshold

    def decision(self) -> FaceDecision:
        return FaceDecision(
            matched=self.matched,
            distance=None if self.distance is None else round(self.distance, 4),
            threshold=self.threshold,
            liveness_passed=self.liveness.passed,
            reason=self.reason or self.liveness.reason,
            quality=None if self.best is None else _score(self.qualities[self.best]),
        )


def _rank(quality: FrameQuality | None) -> tuple[bool, float]:
    return (quality is not None and quality.problem is None, _score(quality) or 0.0)


def _score(quality: FrameQuality | None) -> float | None:
    return None if quality is None else quality.score


def verify_images(
    document: bytes | np.ndarray,
    frames: Sequence[np.ndarray],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> ImageVerification:
    """Match the best of `frames` to the document photo, judging liveness when they allow."""
    reference = document_encoding(document)  # NoFaceFound / UnreadableImage propagate
    faces: list[FoundFace | None] = []
    qualities: list[FrameQuality | None] = []
    for frame in frames:
        found = find_faces(frame)
        faces.append(found[0] if found else None)
        qualities.append(assess(frame, found[0]) if found else None)
    usable = [i for i, q in enumerate(qualities) if q is not None]
    liveness = judge_sequence(frames, faces)
    if not usable:
        return ImageVerification(tuple(qualities), None, None, threshold, liveness, "no_face")
    # Prefer frames without a quality problem, then the best score.
    best = max(usable, key=lambda i: _rank(qualities[i]))
    face = faces[best]
    assert face is not None
    measured = distance(encode(frames[best], face), reference)
    reason = None if measured <= threshold else "no_match"
    return ImageVerification(tuple(qualities), best, measured, threshold, liveness, reason)


def judge_sequence(
    frames: Sequence[np.ndarray], faces: Sequence[FoundFace | None]
) -> SequenceLiveness:
    """Gestures in a sequence, measured from its first face as neutral."""
    if len(frames) < MIN_SEQUENCE:
        return SequenceLiveness(judged=False, passed=None)
    frozen = FrozenPicture()
    observations: list[Observation] = []
    longest = 0
    for index, (frame, face) in enumerate(zip(frames, faces, strict=True)):
        if face is None:
            continue
        frozen.observe(frame, face)
        longest = max(longest, frozen.run)
        observations.append(Observation.of(face, float(index)))
    frozen.forget()
    if observations and longest >= min(FROZEN_PAIRS, len(observations) - 1):
        return SequenceLiveness(judged=True, passed=False, reason="frozen_frames")
    if len(observations) < MIN_SEQUENCE:
        return SequenceLiveness(judged=True, passed=False, reason="face_missing")
    base = Baseline.of(observations[:1])
    gestures: list[str] = []
    closed = False
    turned: dict[float, list[Observation]] = {1.0: [], -1.0: []}
    for obs in observations[1:]:
        opening = base.eye_opening(obs)
        steady = abs(obs.height / base.height - 1.0) < STEADY_HEIGHT
        if opening < BLINK_CLOSED and steady:
            closed = True
        elif closed and opening >= BLINK_OPEN:
            gestures.append("blink")
            closed = False
        for direction in (1.0, -1.0):
            if base.turn(obs) * direction >= TURN_MIN:
                turned[direction].append(obs)
    for direction, name in ((1.0, "turn_left"), (-1.0, "turn_right")):
        if not turned[direction]:
            continue
        parallax = float(
            np.median([nose_parallax(base.points, o.points) for o in turned[direction]])
        )
        if parallax * direction < MIN_PARALLAX:
            return SequenceLiveness(True, False, tuple(gestures), "planar")
        gestures.append(name)
    if not gestures:
        return SequenceLiveness(True, False, (), "no_gesture")
    return SequenceLiveness(True, True, tuple(gestures), None)


class ImageFaceVerifier:
    """The FaceVerifier port over still frames: match, plus liveness when frames allow."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD):
        self.threshold = threshold

    def verify(self, document_photo: bytes | None, frames: Sequence[np.ndarray]) -> FaceDecision:
        """Match the frames to the document photo; no photo or no face is not a match."""
        if not document_photo:
            return FaceDecision(False, None, self.threshold, None, reason="no_document_photo")
        try:
            result = verify_images(document_photo, frames, threshold=self.threshold)
        except (NoFaceFound, UnreadableImage):
            return FaceDecision(False, None, self.threshold, None, reason="document_photo_unusable")
        return result.decision()
