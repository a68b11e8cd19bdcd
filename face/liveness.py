"""Liveness by challenge: judging one prompted gesture, and spotting a frozen picture.

Every threshold here is a ratio against the same person's neutral face a moment earlier, so
it does not depend on the face's size or on whose face it is. The figures behind them are in
docs/face.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from face.landmarks import FoundFace
from face.pose import eye_aspect, face_height_ratio, nose_parallax, yaw_index
from face.quality import face_region

PROMPTS = ("blink_now", "turn_left", "turn_right")

BLINK_CLOSED = 0.72  # eye opening (pitch-corrected, over neutral) under which eyes are shut
BLINK_OPEN = 0.86  # and over which they are open again
STEADY_HEIGHT = 0.1  # shut-eye frames count only if the face proportions moved less
TURN_MIN = 0.15  # yaw_index change from neutral that counts as a turn
NEUTRAL_YAW = 0.08  # yaw_index change still counted as facing the camera
TURN_FRAMES = 2  # turned frames needed before the turn is judged
MIN_PARALLAX = 0.045  # median nose parallax (eye distances) of a turn; below: a flat picture
FROZEN_DIFF = 0.5  # mean grey-level change of the face region under which two frames are "same"
FROZEN_PAIRS = 3  # consecutive unchanged frame pairs that make a frozen picture

PASSED = "passed"


@dataclass(frozen=True, eq=False)
class Observation:
    """What liveness needs from one frame: landmark geometry and when it was seen."""

    t: float
    box: tuple[int, int, int, int]
    points: np.ndarray
    eye: float
    height: float
    yaw: float

    @classmethod
    def of(cls, face: FoundFace, t: float) -> Observation:
        p = face.points
        return cls(t, face.box, p, eye_aspect(p), face_height_ratio(p), yaw_index(p))

    def __repr__(self) -> str:
        return f"Observation(t={self.t:.2f}, yaw={self.yaw:.3f}, eye={self.eye:.3f})"


@dataclass(frozen=True, eq=False)
class Baseline:
    """The neutral face just before a prompt: the reference every gesture is measured from."""

    points: np.ndarray
    yaw: float
    eye: float
    height: float

    def __repr__(self) -> str:
        return f"Baseline(yaw={self.yaw:.3f}, eye={self.eye:.3f})"

    @classmethod
    def of(cls, neutral: Sequence[Observation]) -> Baseline:
        return cls(
            points=neutral[-1].points,
            yaw=statistics.median(o.yaw for o in neutral),
            eye=statistics.median(o.eye for o in neutral),
            height=statistics.median(o.height for o in neutral),
        )

    def eye_opening(self, obs: Observation) -> float:
        """Eye opening relative to neutral, corrected for the face being pitched."""
        return (obs.eye / max(1e-6, self.eye)) / (obs.height / max(1e-6, self.height))

    def turn(self, obs: Observation) -> float:
        return obs.yaw - self.yaw

    def is_neutral(self, obs: Observation) -> bool:
        return abs(self.turn(obs)) < NEUTRAL_YAW and self.eye_opening(obs) >= BLINK_OPEN


class ChallengeStep:
    """One prompt's response, judged frame by frame from the moment the prompt was shown.

    A gesture only counts if it starts after the prompt: the eyes must be seen open (or the
    face frontal) after the prompt before the blink (or the turn) is seen.
    """

    def __init__(self, prompt: str, baseline: Baseline, shown_at: float, timeout_s: float):
        if prompt not in PROMPTS:
            raise ValueError(f"unknown prompt {prompt!r}")
        self.prompt = prompt
        self.baseline = baseline
        self.shown_at = shown_at
        self.timeout_s = timeout_s
        self.started = False
        self.closed = False
        self.turned: list[Observation] = []
        self.wrong = 0
        self.decisive: Observation | None = None
        self.parallax: float | None = None
        self.opening: float | None = None

    def expired(self, now: float) -> str | None:
        """The failure reason if the prompt's time is up."""
        if now - self.shown_at <= self.timeout_s:
            return None
        return "blink_absent" if self.prompt == "blink_now" else "turn_absent"

    def observe(self, obs: Observation) -> str | None:
        """PASSED, a failure reason, or None while the response is still awaited."""
        late = self.expired(obs.t)
        if late:
            return late
        if self.prompt == "blink_now":
            return self._blink(obs)
        return self._turn(obs, 1.0 if self.prompt == "turn_left" else -1.0)

    def _blink(self, obs: Observation) -> str | None:
        if abs(self.baseline.turn(obs)) >= TURN_MIN:
            return "unexpected_turn"
        opening = self.baseline.eye_opening(obs)
        if not self.started:
            self.started = opening >= BLINK_OPEN
        elif not self.closed:
            # A pitched print shortens the eyes too, but with them the whole face: not a blink.
            steady = abs(obs.height / max(1e-6, self.baseline.height) - 1.0) < STEADY_HEIGHT
            if opening < BLINK_CLOSED and steady:
                self.closed = True
                self.decisive = obs
                self.opening = opening
        elif opening >= BLINK_OPEN:
            return PASSED
        else:
            self.opening = min(self.opening or opening, opening)
        return None

    def _turn(self, obs: Observation, direction: float) -> str | None:
        turn = self.baseline.turn(obs) * direction
        if not self.started:
            self.started = abs(turn) < NEUTRAL_YAW
            return None
        if turn <= -TURN_MIN:
            self.wrong += 1
            return "wrong_direction" if self.wrong >= TURN_FRAMES else None
        if turn >= TURN_MIN:
            self.turned.append(obs)
            if len(self.turned) < TURN_FRAMES + 1:
                return None
        elif len(self.turned) < TURN_FRAMES:
            return None
        # Enough turned frames (or the turn is over): is the nose standing out of the face?
        ref = self.baseline.points
        self.parallax = statistics.median(nose_parallax(ref, o.points) for o in self.turned)
        self.parallax *= direction
        self.decisive = max(self.turned, key=lambda o: self.baseline.turn(o) * direction)
        return PASSED if self.parallax >= MIN_PARALLAX else "planar"


class FrozenPicture:
    """Counts consecutive frames whose face region did not change beyond sensor noise.

    A camera filming a person, or even a photo, never gives two identical frames; a replayed
    still frame or a frozen feed does.
    """

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None
        self.run = 0

    def observe(self, frame: np.ndarray, face: FoundFace) -> bool:
        """True once FROZEN_PAIRS unchanged pairs came in a row."""
        if self._previous is not None and self._box is not None:
            now = face_region(frame, self._box).astype(np.int16)
            if now.shape == self._previous.shape and now.size:
                change = float(np.abs(now - self._previous).mean())
                self.run = self.run + 1 if change < FROZEN_DIFF else 0
        self._box = face.box
        self._previous = face_region(frame, face.box).astype(np.int16)
        return self.run >= FROZEN_PAIRS

    def forget(self) -> None:
        """Drop the kept face pixels."""
        self._previous = None
        self._box = None
        self.run = 0
