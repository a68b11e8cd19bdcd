"""Presentation attacks: each must fail liveness every time, whatever the random challenge."""

from __future__ import annotations

import random

import pytest
from face_session_support import FakeClock, document_photo, play

from demo_support.samples import sample, sample_bytes
from devices.camera.face_emulator import (
    LivePersonSource,
    Portrait,
    PrintedPhotoSource,
    ReplaySource,
    StillFrameSource,
)
from face.check import FaceCheck

ATTACK_SEEDS = range(20)
GESTURES = ("blink_now", "turn_left", "turn_right")


@pytest.fixture(scope="module")
def obama() -> Portrait:
    return Portrait(sample("obama"))


@pytest.fixture(scope="module")
def card() -> bytes:
    """The victim's card photo; the attacker holds the victim's own photo up to the camera."""
    return document_photo(sample_bytes("obama2"))


def _attack(card: bytes, source, seed: int, fps: float = 10.0, **kwargs):
    clock = FakeClock()
    check = FaceCheck(card, rng=random.Random(seed), clock=clock, max_attempts=1, **kwargs)
    return check, play(check, source, clock, fps=fps)


def test_the_same_still_frame_repeated_never_passes(obama, card):
    reasons = set()
    for seed in ATTACK_SEEDS:
        frame = LivePersonSource(obama, rng=random.Random(seed)).capture()
        check, _ = _attack(card, StillFrameSource(frame), seed)
        assert check.decision.liveness_passed is False, f"seed {seed}"
        assert not check.decision.verified
        reasons.add(check.decision.reason)
    assert reasons == {"frozen_frames"}


@pytest.mark.parametrize(("tilt", "seeds"), [(50.0, ATTACK_SEEDS), (65.0, range(100, 106))])
def test_a_printed_photo_moved_and_tilted_never_passes(obama, card, tilt, seeds):
    """The attacker tilts the print on turn prompts and pitches it on blink prompts.

    At 5 frames/s and a 3 s step timeout, to keep the suite quick: the print's moves all
    happen within the first second after a prompt.
    """
    reasons = []
    for seed in seeds:
        print_ = PrintedPhotoSource(obama, rng=random.Random(seed), tilt_degrees=tilt)
        check, session = _attack(card, print_, seed, fps=5.0, step_timeout_s=3.0)
        assert check.decision.liveness_passed is False, f"seed {seed}: {session.codes}"
        assert check.decision.liveness_score < 1.0
        reasons.append(check.decision.reason)
    print(f"printed photo tilted up to {tilt} deg: {sorted(reasons)}")
    assert set(reasons) <= {"blink_absent", "turn_absent", "planar", "face_changed", "face_lost"}


def test_a_print_turned_hard_enough_to_move_the_nose_is_caught_as_flat(obama, card):
    """Turn-only challenges against a steep tilt: the nose-parallax check is what refuses it."""
    planar = runs = 0
    for seed in range(40):
        if "blink_now" in _challenge(seed):
            continue  # only challenges made of two turns
        print_ = PrintedPhotoSource(obama, rng=random.Random(seed), tilt_degrees=60.0)
        check, _ = _attack(card, print_, seed, fps=5.0, step_timeout_s=3.0)
        assert check.decision.liveness_passed is False
        planar += check.decision.reason == "planar"
        runs += 1
        if runs == 6:
            break
    assert planar >= 1


def test_a_printed_photo_that_does_not_react_never_passes(obama, card):
    for seed in range(3):
        print_ = PrintedPhotoSource(obama, rng=random.Random(seed), react=False)
        check, _ = _attack(card, print_, seed, fps=5.0, step_timeout_s=3.0)
        assert check.decision.liveness_passed is False
        assert check.decision.reason in {"blink_absent", "turn_absent"}


def test_a_replay_cannot_answer_a_prompt_it_does_not_contain(obama, card):
    """The holder's answers to an earlier challenge, recorded and looped to new challenges.

    Whenever the new challenge asks for a turn to the right, which the recording does not
    hold, the replay fails; when the challenge happens to ask only for what the recording
    shows, the recording may land on it, as a person would: that is the limit of
    challenge-response, and why the challenge is random and the attempts few.
    """
    recorded = ("blink_now", "turn_left")
    person = LivePersonSource(obama, rng=random.Random(99), spontaneous_blink_every=None)
    replay = ReplaySource.recording(person, recorded)
    lacking = [s for s in range(40) if "turn_right" in _challenge(s)][:6]
    holding = [s for s in range(40) if "turn_right" not in _challenge(s)][:3]
    outcomes = []
    for seed in lacking + holding:
        replay.captured = 5 * seed  # the attacker starts the video at some point
        check, session = _attack(card, replay, seed)
        outcomes.append((_challenge(seed), check.decision.reason))
        if seed in lacking:
            assert check.decision.liveness_passed is False, f"seed {seed}: {session.codes}"
            assert not check.decision.verified
    print(f"replay outcomes (challenge, reason): {outcomes}")


def test_blinking_live_then_swapping_in_the_holders_photo_is_refused(card):
    """Someone else answers the prompts, then holds up the card holder's photo for the match."""
    impostor = LivePersonSource(Portrait(sample("biden")), rng=random.Random(5))
    holder_print = PrintedPhotoSource(Portrait(sample("obama")), rng=random.Random(5))

    class Swap:
        """Swaps the print in once the last prompt has been answered."""

        def __init__(self) -> None:
            self.shown: list[str] = []
            self.current = impostor

        def show_prompt(self, code: str) -> None:
            self.current.show_prompt(code)
            if code in GESTURES and (not self.shown or self.shown[-1] != code):
                self.shown.append(code)
            if code == "checking" or (code == "hold_still" and len(self.shown) >= 2):
                self.current = holder_print

        def capture(self):
            return self.current.capture()

    # Challenges the impostor's emulated head answers best (its photo is already turned a
    # little to its right, so a further right turn barely moves the landmarks).
    seeds = [s for s in range(60) if _challenge(s) == ["turn_left", "turn_left"]][:2]
    for seed in seeds:
        check, session = _attack(card, Swap(), seed)
        assert not check.decision.verified, session.codes
        assert check.decision.reason in {"face_changed", "no_match", "no_steady_face"}


def _challenge(seed: int) -> list[str]:
    """The challenge FaceCheck will draw from random.Random(seed) with two prompts."""
    rng = random.Random(seed)
    return [rng.choice(GESTURES) for _ in range(2)]


def test_attempts_run_out_and_the_staff_check_takes_over(obama, card):
    clock = FakeClock()
    check = FaceCheck(card, rng=random.Random(1), clock=clock, max_attempts=3)
    frame = LivePersonSource(obama, rng=random.Random(1)).capture()
    seen = []
    for attempt in range(3):
        session = play(check, StillFrameSource(frame), clock)
        seen.append((session.codes[-1], check.attempts_left, check.staff_alternative_required))
        if attempt < 2:
            check.retry()
    assert seen == [
        ("liveness_failed", 2, False),
        ("liveness_failed", 1, False),
        ("attempts_exhausted", 0, True),
    ]
    assert check.decision.attempts == 3
    with pytest.raises(RuntimeError):
        check.retry()


def test_a_retry_draws_a_new_challenge(obama, card):
    clock = FakeClock()
    check = FaceCheck(card, rng=random.Random(11), clock=clock, prompts=3)
    challenges = []
    for _ in range(3):
        person = LivePersonSource(obama, rng=random.Random(3))
        session = play(check, _StopAfterFirstPrompt(person), clock)
        challenges.append(session.prompts_shown[0])
        if check.attempts_left:
            check.retry()
    assert check.staff_alternative_required
    assert len(challenges) == 3


class _StopAfterFirstPrompt:
    """A citizen who walks away as soon as the first prompt appears."""

    def __init__(self, person: LivePersonSource):
        self.person = person
        self.gone = False

    def show_prompt(self, code: str) -> None:
        self.gone = self.gone or code in GESTURES

    def capture(self):
        frame = self.person.capture()
        return frame[:, ::-1].copy() * 0 if self.gone else frame
