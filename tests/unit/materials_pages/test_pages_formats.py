"""The page's true aspect ratio from a perspective view, and the format it names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devices.camera.document_scene import project_page
from terminal.materials.formats import FORMATS, RATIO_TOLERANCE, classify, true_aspect

SIZE = (1600, 1200)


@pytest.mark.parametrize("name", ["A4", "letter", "ID-1"])
def test_a_tilted_page_is_measured_at_its_true_ratio_and_named(name):
    short, long_ = FORMATS[name]
    rng = np.random.default_rng(7)
    for _ in range(20):
        corners = project_page((short, long_), SIZE, rng, fill=(0.5, 0.9), tilt_deg=25.0)
        ratio = true_aspect(corners, SIZE)
        assert max(ratio, 1 / ratio) == pytest.approx(long_ / short, rel=0.01)
        assert classify(ratio).name == name


def test_the_image_side_ratio_alone_would_be_wrong_under_tilt():
    """Guards that the perspective correction is doing work, not the naive ratio."""
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(20):
        c = project_page((210.0, 297.0), SIZE, rng, fill=(0.6, 0.9), tilt_deg=30.0)
        naive = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / (
            np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])
        )
        worst = max(worst, abs(max(naive, 1 / naive) / math.sqrt(2) - 1))
    assert worst > RATIO_TOLERANCE


def test_a_square_on_page_uses_the_plain_side_ratio():
    corners = np.array([[100.0, 100.0], [397.0, 100.0], [397.0, 310.0], [100.0, 310.0]])
    assert true_aspect(corners, SIZE) == pytest.approx(297 / 210, rel=1e-6)


def test_ratios_outside_the_tolerance_are_unknown():
    assert classify(1.0).name == "unknown"
    assert classify(math.sqrt(2) * (1 + RATIO_TOLERANCE * 1.5)).name == "unknown"
    assert classify(math.sqrt(2) * (1 + RATIO_TOLERANCE * 0.9)).name == "A4"
    fmt = classify(2.0)
    assert not fmt.known and fmt.measured_ratio == pytest.approx(2.0)


def test_a4_and_a5_are_told_apart_only_by_size():
    assert classify(math.sqrt(2)).name == "A4"
    assert classify(math.sqrt(2), long_side_mm=211.0).name == "A5"
    assert classify(1 / math.sqrt(2), long_side_mm=296.0).name == "A4"
