"""Landmark geometry: turns, blinks, and what a flat picture cannot do."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from demo_support.samples import sample
from face.landmarks import FoundFace, find_faces
from face.liveness import PASSED, Baseline, ChallengeStep, FrozenPicture, Observation
from face.pose import eye_aspect, face_height_ratio, nose_parallax, yaw_index


@pytest.fixture(scope="module")
def face_points() -> np.ndarray:
    """The 68 landmarks of a real frontal face."""
    with Image.open(sample("obama")) as img:
        pixels = np.asarray(img.convert("RGB"))
    return find_faces(pixels)[0].points


# Depth out of the face plane per landmark, in eye distances: the nose stands out, the jaw
# sits back. A rough average head; enough to tell a head from a sheet of paper.
def _depth(points: np.ndarray) -> np.ndarray:
    z = np.zeros(68)
    z[0:17] = -0.6 + 0.5 * np.sin(np.linspace(0, math.pi, 17))
    z[27:31] = np.linspace(0.2, 0.6, 4)
    z[31:36] = 0.35
    return z


def _turn(points: np.ndarray, degrees: float, depth: np.ndarray) -> np.ndarray:
    """Rotate about the vertical axis through the face's centre, project orthographically."""
    iod = np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0))
    centre = points.mean(axis=0)
    a = math.radians(degrees)
    x = points[:, 0] - centre[0]
    out = points.copy()
    out[:, 0] = centre[0] + x * math.cos(a) + depth * iod * math.sin(a)
    return out


def _tilt_flat(points: np.ndarray, degrees: float) -> np.ndarray:
    """A flat print of the face tilted about its vertical axis, close to the camera."""
    centre = points.mean(axis=0)
    f = 1.5 * (points[:, 0].max() - points[:, 0].min())
    a = math.radians(degrees)
    x, y = points[:, 0] - centre[0], points[:, 1] - centre[1]
    z = f + x * math.sin(a)
    return np.stack([centre[0] + f * x * math.cos(a) / z, centre[1] + f * y / z], axis=1)


def _homography(points: np.ndarray, hmat: np.ndarray) -> np.ndarray:
    ones = np.ones((len(points), 1))
    mapped = np.hstack([points, ones]) @ hmat.T
    return mapped[:, :2] / mapped[:, 2:3]


def _blink(points: np.ndarray, closure: float) -> np.ndarray:
    out = points.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        mid = (points[upper] + points[lower]) / 2
        out[upper] = points[upper] + (mid - points[upper]) * closure
        out[lower] = points[lower] + (mid - points[lower]) * closure
    return out


def _obs(points: np.ndarray, t: float) -> Observation:
    return Observation.of(FoundFace(box=(0, 0, 200, 200), points=points), t)


def test_turning_to_ones_left_moves_the_nose_to_the_image_right(face_points):
    depth = _depth(face_points)
    assert yaw_index(_turn(face_points, 25, depth)) > yaw_index(face_points) + 0.15
    assert yaw_index(_turn(face_points, -25, depth)) < yaw_index(face_points) - 0.15


def test_a_plane_seen_through_any_homography_shows_no_nose_parallax(face_points):
    tilt = np.array([[0.8, 0.05, 30.0], [-0.02, 1.0, -5.0], [4e-4, 1e-5, 1.0]])
    assert abs(nose_parallax(face_points, _homography(face_points, tilt))) < 0.005


def test_a_head_turning_shows_nose_parallax(face_points):
    turned = _turn(face_points, 25, _depth(face_points))
    assert nose_parallax(face_points, turned) > 0.1
    assert nose_parallax(face_points, _turn(face_points, -25, _depth(face_points))) < -0.1


def test_closing_the_eyes_lowers_the_eye_aspect_but_not_the_face_proportions(face_points):
    shut = _blink(face_points, 0.8)
    assert eye_aspect(shut) < 0.4 * eye_aspect(face_points)
    assert face_height_ratio(shut) == pytest.approx(face_height_ratio(face_points))


def _step(prompt: str, face_points: np.ndarray, timeout: float = 6.0) -> ChallengeStep:
    base = Baseline.of([_obs(face_points, 0.0)])
    return ChallengeStep(prompt, base, shown_at=1.0, timeout_s=timeout)


def test_a_blink_after_the_prompt_passes(face_points):
    step = _step("blink_now", face_points)
    frames = [face_points, _blink(face_points, 0.9), _blink(face_points, 0.9), face_points]
    verdicts = [step.observe(_obs(p, 1.1 + 0.1 * i)) for i, p in enumerate(frames)]
    assert verdicts == [None, None, None, PASSED]


def test_eyes_already_shut_when_the_prompt_appears_do_not_count_as_the_answer(face_points):
    step = _step("blink_now", face_points)
    shut = _blink(face_points, 0.9)
    assert step.observe(_obs(shut, 1.1)) is None
    assert step.observe(_obs(face_points, 1.2)) is None  # opened: only now the answer starts
    assert step.observe(_obs(face_points, 1.3)) is None
    assert step.observe(_obs(shut, 1.4)) is None
    assert step.observe(_obs(face_points, 1.5)) == PASSED


def test_a_print_pitched_back_is_not_a_blink(face_points):
    """Pitching shortens the eyes, and with them the whole face."""
    step = _step("blink_now", face_points, timeout=1.0)
    pitched = face_points.copy()
    centre_y = face_points[:, 1].mean()
    pitched[:, 1] = centre_y + (face_points[:, 1] - centre_y) * 0.6
    frames = [face_points, pitched, pitched, face_points, face_points]
    verdicts = [step.observe(_obs(p, 1.1 + 0.1 * i)) for i, p in enumerate(frames)]
    assert PASSED not in verdicts
    assert step.observe(_obs(face_points, 2.5)) == "blink_absent"


def test_a_turn_while_asked_to_blink_fails(face_points):
    step = _step("blink_now", face_points)
    assert step.observe(_obs(_turn(face_points, 25, _depth(face_points)), 1.1)) == (
        "unexpected_turn"
    )


def test_a_real_turn_passes_and_a_flat_one_is_called_planar(face_points):
    real, flat = _step("turn_left", face_points), _step("turn_left", face_points)
    depth, no_depth = _depth(face_points), np.zeros(68)
    verdicts_real, verdicts_flat = [], []
    for i, degrees in enumerate([0, 20, 28, 30, 30]):
        t = 1.1 + 0.1 * i
        verdicts_real.append(real.observe(_obs(_turn(face_points, degrees, depth), t)))
        # A sheet turned so far that the nose moves as far between the outline's sides.
        verdicts_flat.append(flat.observe(_obs(_turn(face_points, degrees * 2, no_depth), t)))
    assert verdicts_real[-1] == PASSED or PASSED in verdicts_real
    print(verdicts_real, verdicts_flat)
    assert "planar" in verdicts_flat or all(v is None for v in verdicts_flat)
    assert PASSED not in verdicts_flat


def test_turning_the_wrong_way_fails(face_points):
    step = _step("turn_right", face_points)
    depth = _depth(face_points)
    verdicts = [
        step.observe(_obs(_turn(face_points, d, depth), 1.1 + 0.1 * i))
        for i, d in enumerate([0, 25, 28])
    ]
    assert verdicts == [None, None, "wrong_direction"]


def test_no_answer_within_the_step_timeout_fails(face_points):
    step = _step("turn_left", face_points, timeout=2.0)
    assert step.observe(_obs(face_points, 2.9)) is None
    assert step.observe(_obs(face_points, 3.1)) == "turn_absent"


def test_a_frozen_picture_is_spotted_and_sensor_noise_is_not_frozen():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    face = FoundFace(box=(40, 20, 120, 100), points=np.zeros((68, 2)))
    still = FrozenPicture()
    assert [still.observe(frame, face) for _ in range(4)] == [False, False, False, True]
    noisy = FrozenPicture()
    seen = []
    for _ in range(6):
        jitter = rng.normal(0, 2.0, frame.shape)
        seen.append(noisy.observe(np.clip(frame + jitter, 0, 255).astype(np.uint8), face))
    assert not any(seen)
