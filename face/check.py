"""One citizen's face check at the kiosk: guidance per camera frame, a random challenge, a match.

The kiosk feeds every camera frame to `FaceCheck.feed` and shows the `Guidance` it returns.
An attempt goes: find a usable frontal face -> for each prompt of a random challenge, wait a
random moment with the face neutral, show the prompt, judge the response -> match the best
frame against the document photo. Frames are kept only while the attempt needs them (the few
best candidates and one frame per answered prompt) and are dropped when it ends or on `wipe()`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from face.decision import DEFAULT_THRESHOLD, FaceDecision
from face.landmarks import FoundFace, find_faces
from face.liveness import (
    PASSED,
    PROMPTS,
    TURN_MIN,
    Baseline,
    ChallengeStep,
    FrozenPicture,
    Observation,
)
from face.matcher import NoFaceFound, UnreadableImage, distance, document_encoding, encode
from face.quality import assess

log = logging.getLogger(__name__)

ACQUIRE_FRAMES = 3  # usable frames in a row before the challenge starts
NEUTRAL_FRAMES = 3  # neutral frames the baseline before a prompt is taken from
HOLD_S = (0.5, 1.8)  # random wait before each prompt, so its moment cannot be predicted
FACE_LOST_S = 1.0  # a face missing longer than this during the challenge fails the attempt
# Encodings of one person's frames across a challenge (frontal, eyes shut, turned) stay well
# under face_recognition's 0.6 tolerance; a swapped-in face does not.
SAME_PERSON = 0.6
CANDIDATES = 2  # best frontal frames kept for the match

PROMPT_CODES = frozenset(PROMPTS)
FINAL_CODES = frozenset({"verified", "not_matched", "liveness_failed", "attempts_exhausted"})


@dataclass(frozen=True)
class Guidance:
    """What the screen should say now.

    code: one of "no_face", "move_closer", "move_back", "too_dark", "too_bright",
    "hold_still", "face_the_camera", "blink_now", "turn_left", "turn_right", "checking",
    "verified", "not_matched", "liveness_failed", "attempts_exhausted". Turns are to the
    citizen's own left or right. face_box is (left, top, right, bottom) in frame pixels.
    """

    code: str
    attempts_left: int
    progress: float
    face_box: tuple[int, int, int, int] | None = None


class FaceCheck:
    """The face check of one session: feed frames, show guidance, read `decision` at the end."""

    def __init__(
        self,
        document_photo: bytes | None,
        *,
        remote_match: Callable[[np.ndarray], tuple[bool, float]] | None = None,
        rng: random.Random | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.monotonic,
        prompts: int = 2,
        step_timeout_s: float = 6.0,
    ):
        if max_attempts < 1 or prompts < 1:
            raise ValueError("max_attempts and prompts must be at least 1")
        self._rng = rng or random.SystemRandom()
        self.threshold = threshold
        self.max_attempts = max_attempts
        self._clock = clock
        self.prompts = prompts
        self.step_timeout_s = step_timeout_s
        self.decision: FaceDecision | None = None
        self.attempts_used = 0
        self._final: Guidance | None = None
        self._document: np.ndarray | None = None
        self._phase = "acquire"
        self._best_quality: float | None = None
        # With no document photo (an ID card read without the vendor's photo decoder), the
        # match is made by `remote_match(best_frame) -> (matched, similarity)`: a remote
        # identity-verification service comparing the live face with the registered portrait.
        self._remote_match = remote_match if document_photo is None else None
        try:
            if self._remote_match is None:
                self._document = document_encoding(document_photo or b"")
        except (UnreadableImage, NoFaceFound):
            # Retrying cannot help when the card's photo has no usable face.
            self.attempts_used = max_attempts
            self._finish("attempts_exhausted", None, None, "document_photo_unusable", 0.0)
            return
        self._start_attempt()

    # -- public contract -------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._final is not None

    @property
    def attempts_left(self) -> int:
        return self.max_attempts - self.attempts_used

    @property
    def staff_alternative_required(self) -> bool:
        """True once the face check can no longer succeed: the staff-assisted check takes over."""
        return self._final is not None and self._final.code == "attempts_exhausted"

    def retry(self) -> None:
        """Start a new attempt with a new random challenge, if one is left."""
        if self._final is None:
            raise RuntimeError("the current attempt has not finished")
        if self._final.code == "verified" or self.attempts_left <= 0:
            raise RuntimeError("no attempt left to retry")
        self._final = None
        self.decision = None
        self._start_attempt()

    def wipe(self) -> None:
        """Drop every frame, encoding and landmark kept, now."""
        self._drop_frames()
        self._document = None
        self._remote_match = None  # its closure knows the applicant's name and number

    def feed(self, frame: np.ndarray) -> Guidance:
        """Judge one camera frame (RGB uint8) and say what the screen should show."""
        if self._final is not None:
            return self._final
        now = self._clock()
        if self._phase == "checking":
            return self._match()
        near = self._last_face.box if self._last_face is not None else None
        faces = find_faces(frame, near=near)
        if not faces:
            return self._no_face(now)
        face = faces[0]
        if self._frozen.observe(frame, face):
            return self._fail("frozen_frames")
        obs = Observation.of(face, now)
        if self._phase != "acquire" and not self._same_track(face):
            return self._fail("face_changed")
        self._last_face, self._last_seen = face, now
        if self._phase == "acquire":
            return self._acquire(frame, face, obs)
        if self._phase == "hold":
            return self._hold(frame, face, obs, now)
        return self._respond(frame, face, obs)

    # -- phases ----------------------------------------------------------------------------

    def _start_attempt(self) -> None:
        self.attempts_used += 1
        self._challenge = [self._rng.choice(PROMPTS) for _ in range(self.prompts)]
        self._phase = "acquire"
        self._steps_done = 0
        self._neutral: list[Observation] = []
        self._candidates: list[tuple[float, np.ndarray, FoundFace]] = []
        self._answers: list[tuple[np.ndarray, FoundFace]] = []
        self._frozen = FrozenPicture()
        self._step: ChallengeStep | None = None
        self._reference: Baseline | None = None
        self._hold_until = 0.0
        self._last_face: FoundFace | None = None
        self._last_seen = self._clock()
        self._best_quality: float | None = None

    def _acquire(self, frame: np.ndarray, face: FoundFace, obs: Observation) -> Guidance:
        quality = assess(frame, face)
        problem = quality.problem
        if problem:
            self._neutral.clear()
            return self._say(problem, face, 0.0)
        self._neutral.append(obs)
        self._keep_candidate(frame, face, quality.score)
        if len(self._neutral) < ACQUIRE_FRAMES:
            return self._say("hold_still", face, 0.05 * len(self._neutral))
        self._reference = Baseline.of(self._neutral)
        self._begin_hold(obs.t)
        return self._say("hold_still", face, self._progress())

    def _begin_hold(self, now: float) -> None:
        self._phase = "hold"
        self._hold_until = now + self._rng.uniform(*HOLD_S)
        self._hold_deadline = now + HOLD_S[1] + self.step_timeout_s
        self._neutral = self._neutral[-NEUTRAL_FRAMES:]
        self._calm_seen = False

    def _hold(self, frame: np.ndarray, face: FoundFace, obs: Observation, now: float) -> Guidance:
        if now > self._hold_deadline:
            # Never calm and frontal again: a different face, or a picture stuck at an angle.
            return self._fail("no_steady_face")
        quality = assess(frame, face)
        assert self._reference is not None  # set when acquisition ended
        if self._calm_seen and abs(self._reference.turn(obs)) >= TURN_MIN:
            # Asked to hold still, the face turned away: a recording playing its own script.
            return self._fail("unprompted_turn")
        if quality.problem or not self._reference.is_neutral(obs):
            # Not neutral yet (still turned, eyes shut, or a poor frame): wait for a calm face.
            self._hold_until = max(self._hold_until, now + HOLD_S[0])
            return self._say(quality.problem or "face_the_camera", face, self._progress())
        if not self._calm_seen and self._steps_done:
            # The first calm frame after an answer: its face must be the one that is matched.
            self._answers.append((frame.copy(), face))
        self._calm_seen = True
        self._neutral = [*self._neutral, obs][-NEUTRAL_FRAMES:]
        self._keep_candidate(frame, face, quality.score)
        if self._steps_done >= len(self._challenge):
            self._phase = "checking"
            return self._say("checking", face, 0.9)
        if now < self._hold_until or len(self._neutral) < NEUTRAL_FRAMES:
            return self._say("hold_still", face, self._progress())
        prompt = self._challenge[self._steps_done]
        # Only frames fed after this one can answer: the citizen sees the prompt from now on.
        self._reference = Baseline.of(self._neutral)
        self._step = ChallengeStep(prompt, self._reference, now, self.step_timeout_s)
        self._phase = "step"
        return self._say(prompt, face, self._progress())

    def _respond(self, frame: np.ndarray, face: FoundFace, obs: Observation) -> Guidance:
        step = self._step
        assert step is not None
        verdict = step.observe(obs)
        if verdict is None:
            return self._say(step.prompt, face, self._progress())
        if verdict != PASSED:
            return self._fail(verdict)
        self._steps_done += 1
        self._step = None
        self._neutral = []
        self._begin_hold(obs.t)
        return self._say("hold_still", face, self._progress())

    def _no_face(self, now: float) -> Guidance:
        if self._phase == "acquire":
            self._neutral.clear()
            return self._say("no_face", None, 0.0)
        if self._step is not None:
            late = self._step.expired(now)
            if late:
                return self._fail(late)
        if now - self._last_seen > FACE_LOST_S:
            return self._fail("face_lost")
        return self._say("no_face", None, self._progress())

    def _match(self) -> Guidance:
        """Encode the best frontal frame, check every answer came from that face, then match."""
        if (self._document is None and self._remote_match is None) or not self._candidates:
            return self._fail("no_usable_frame")
        score, frame, face = self._candidates[0]
        live = encode(frame, face)
        for answer_frame, answer_face in self._answers:
            if distance(encode(answer_frame, answer_face), live) > SAME_PERSON:
                return self._fail("face_changed")
        if self._remote_match is not None:
            return self._match_remotely(frame, score)
        measured = distance(live, self._document)
        self._best_quality = score
        if measured <= self.threshold:
            return self._finish("verified", True, measured, None, 1.0)
        code = "not_matched" if self.attempts_left > 0 else "attempts_exhausted"
        return self._finish(code, False, measured, "no_match", 1.0)

    def _match_remotely(self, frame: np.ndarray, score: float) -> Guidance:
        self._best_quality = score
        try:
            matched, similarity = self._remote_match(frame)
        except Exception:
            # No verdict (service down, refused): retrying here cannot help; staff can.
            log.warning("remote identity verification gave no verdict", exc_info=True)
            self.attempts_used = self.max_attempts
            return self._finish("attempts_exhausted", False, None, "remote_unavailable", 1.0)
        # Reported as a distance-like figure so one threshold reads both ways: 1 - similarity.
        measured = 1.0 - float(similarity)
        if matched:
            return self._finish("verified", True, measured, None, 1.0)
        code = "not_matched" if self.attempts_left > 0 else "attempts_exhausted"
        return self._finish(code, False, measured, "no_match", 1.0)

    # -- bookkeeping -----------------------------------------------------------------------

    def _keep_candidate(self, frame: np.ndarray, face: FoundFace, score: float) -> None:
        worst = self._candidates[-1][0] if len(self._candidates) >= CANDIDATES else -1.0
        if score <= worst:
            return
        self._candidates.append((score, frame.copy(), face))
        self._candidates.sort(key=lambda c: c[0], reverse=True)
        del self._candidates[CANDIDATES:]

    def _same_track(self, face: FoundFace) -> bool:
        """The face is where the previous one was and about its size: no swap between frames."""
        last = self._last_face
        if last is None:
            return True
        (l0, t0, r0, b0), (l1, t1, r1, b1) = last.box, face.box
        w0, w1 = max(1, r0 - l0), max(1, r1 - l1)
        shift = np.hypot((l1 + r1 - l0 - r0) / 2, (t1 + b1 - t0 - b0) / 2)
        return shift <= 0.6 * w0 and 0.6 <= w1 / w0 <= 1.6

    def _progress(self) -> float:
        per_step = 0.75 / len(self._challenge)
        answering = 0.5 if self._phase == "step" else 0.0
        return round(0.15 + per_step * (self._steps_done + answering), 3)

    def _say(self, code: str, face: FoundFace | None, progress: float) -> Guidance:
        box = face.box if face is not None else None
        return Guidance(code, self.attempts_left, progress, box)

    def _fail(self, reason: str) -> Guidance:
        code = "liveness_failed" if self.attempts_left > 0 else "attempts_exhausted"
        answered = self._steps_done / len(self._challenge)
        return self._finish(code, False, None, reason, answered, liveness=False)

    def _finish(
        self,
        code: str,
        matched: bool | None,
        measured: float | None,
        reason: str | None,
        answered: float,
        *,
        liveness: bool | None = True,
    ) -> Guidance:
        if reason == "document_photo_unusable":
            liveness = None
        self.decision = FaceDecision(
            matched=bool(matched),
            distance=None if measured is None else round(measured, 4),
            threshold=self.threshold,
            liveness_passed=liveness,
            reason=reason,
            liveness_score=round(answered, 3),
            quality=self._best_quality,
            attempts=self.attempts_used,
        )
        self._final = Guidance(code, self.attempts_left, 1.0, None)
        self._drop_frames()
        if code in ("verified", "attempts_exhausted"):
            self._document = None
            self._remote_match = None
        return self._final

    def _drop_frames(self) -> None:
        self._candidates = []
        self._answers = []
        self._neutral = []
        self._step = None
        self._reference = None
        self._last_face = None
        frozen = getattr(self, "_frozen", None)
        if frozen is not None:
            frozen.forget()

    def __repr__(self) -> str:
        state = self._final.code if self._final else self._phase
        return f"FaceCheck(state={state}, attempts_used={self.attempts_used})"
