"""Frame quality and the guidance a citizen gets before any challenge starts."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
from PIL import Image

from demo_support.samples import sample, sample_bytes
from face.check import FaceCheck
from face.landmarks import find_faces
from face.quality import assess


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A 640x480 camera-like frame of a real face, about a third of the frame wide."""
    with Image.open(sample("obama")) as img:
        crop = img.convert("RGB").crop((99, 15, 867, 591)).resize((640, 480))
    return np.asarray(crop)


@pytest.fixture(scope="module")
def card() -> bytes:
    return sample_bytes("obama2")


def _problem(frame: np.ndarray) -> str | None:
    faces = find_faces(frame)
    assert faces, "the face must still be found for its quality to be judged"
    return assess(frame, faces[0]).problem


def test_a_good_frame_has_no_problem(frame):
    quality = assess(frame, find_faces(frame)[0])
    assert quality.problem is None
    assert 0.8 < quality.score <= 1.0


def test_a_dark_frame_asks_for_light(frame):
    assert _problem((frame * 0.3).astype(np.uint8)) == "too_dark"


def test_a_burnt_out_frame_says_too_bright(frame):
    assert _problem(np.clip(frame.astype(np.int16) + 110, 0, 255).astype(np.uint8)) == (
        "too_bright"
    )


def test_a_blurred_frame_asks_to_hold_still(frame):
    assert _problem(cv2.GaussianBlur(frame, (0, 0), 3.0)) == "hold_still"


def test_a_small_face_asks_to_come_closer(frame):
    far = np.zeros((960, 1280, 3), np.uint8) + 90
    far[240:720, 320:960] = frame
    assert _problem(far) == "move_closer"


def test_a_face_filling_the_frame_asks_to_step_back(frame):
    close = cv2.resize(frame[60:330, 200:440], (640, 720))
    assert _problem(close) == "move_back"


def _check(card: bytes, **kwargs) -> FaceCheck:
    return FaceCheck(card, rng=random.Random(1), clock=lambda: 0.0, **kwargs)


def test_guidance_before_the_challenge(frame, card):
    check = _check(card)
    blank = np.full_like(frame, 120)
    assert check.feed(blank).code == "no_face"
    dark = check.feed((frame * 0.3).astype(np.uint8))
    assert dark.code == "too_dark" and dark.face_box is not None
    left, top, right, bottom = dark.face_box
    assert 0 <= left < right <= 640 and 0 <= top < bottom <= 480
    good = check.feed(frame)
    assert good.code == "hold_still" and good.attempts_left == 2 and 0 <= good.progress < 0.2
    assert not check.finished and check.decision is None


def test_a_card_photo_without_a_face_sends_the_citizen_to_staff(card):
    for photo in (sample_bytes("page"), b"\x00garbage"):
        check = _check(photo)
        assert check.finished and check.staff_alternative_required
        assert check.decision.reason == "document_photo_unusable"
        assert check.decision.liveness_passed is None
        assert check.feed(np.zeros((480, 640, 3), np.uint8)).code == "attempts_exhausted"


def test_retry_is_only_for_a_finished_failed_attempt(card):
    check = _check(card)
    with pytest.raises(RuntimeError, match="not finished"):
        check.retry()


def test_wipe_drops_the_document_encoding_and_kept_frames(frame, card):
    check = _check(card)
    check.feed(frame)
    assert _arrays_held(check)
    check.wipe()
    assert _arrays_held(check) == []


def _arrays_held(check: FaceCheck) -> list[np.ndarray]:
    """Every array the check holds, in its attributes, their items and their attributes."""
    found = []
    todo = list(vars(check).values())
    while todo:
        item = todo.pop()
        if isinstance(item, np.ndarray):
            found.append(item)
        elif isinstance(item, list | tuple):
            todo.extend(item)
        elif hasattr(item, "__dict__") and not callable(item) and not isinstance(item, type):
            todo.extend(vars(item).values())
    return found


def test_bad_settings_are_refused(card):
    with pytest.raises(ValueError):
        _check(card, max_attempts=0)
