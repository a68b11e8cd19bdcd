"""Enhancement evens out the light of a real scan and keeps a red seal red."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from demo_support.samples import SampleUnavailable, sample
from devices.camera.document_scene import generated_sample, page_template
from terminal.materials.formats import classify
from terminal.materials.pipeline import inspect
from terminal.materials.rectify import enhance, flatten_light


def _paper_levels(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    return np.array(
        [
            np.percentile(gray[i : i + 32, j : j + 32], 90)
            for i in range(0, h - 31, 32)
            for j in range(0, w - 31, 32)
        ]
    )


def test_a_real_unevenly_lit_scan_comes_out_evenly_white():
    try:
        path = sample("page")  # a real scanned page, dark at one side
    except SampleUnavailable as exc:  # pragma: no cover - no registry reachable
        pytest.skip(str(exc))
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    before = _paper_levels(gray)
    after = _paper_levels(flatten_light(np.dstack([gray] * 3))[..., 0])
    assert before.max() - before.min() > 100  # the sample really is uneven
    assert after.max() - after.min() < 15
    # The print survives: dark strokes are still there after flattening.
    assert (flatten_light(np.dstack([gray] * 3))[..., 0] < 100).mean() > 0.03


def _seal_mask(page: np.ndarray) -> np.ndarray:
    r, g, b = (page[..., k].astype(int) for k in range(3))
    return (r > 120) & (r - g > 80) & (r - b > 80)


def test_the_red_seal_stays_red_through_the_whole_pipeline():
    template = np.asarray(page_template("A4", 150, 0))
    seal_share = _seal_mask(template).mean()
    frame = generated_sample(4, "clean", size=(2048, 1536), paper="A4").frame
    result = inspect(frame, capture_scale=3264 / 2048, output_dpi=150.0)
    assert result.ok and result.page is not None
    red = _seal_mask(result.page)
    assert red.mean() > 0.6 * seal_share  # most of the seal is still clearly red
    hsv = cv2.cvtColor(result.page, cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0][red].astype(int)
    assert np.mean((hue < 10) | (hue > 170)) > 0.9


def test_a_binarising_enhancement_would_fail_the_seal_check():
    """The check above can fail: Otsu black-and-white turns the seal black or white."""
    template = np.asarray(page_template("A4", 150, 0))
    gray = cv2.cvtColor(template, cv2.COLOR_RGB2GRAY)
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    assert _seal_mask(np.dstack([bw] * 3)).mean() == 0.0


def test_cards_keep_their_printed_tint():
    card = np.asarray(page_template("ID-1", 300, 0)).copy()
    out = enhance(card, classify(85.6 / 53.98))
    assert np.array_equal(out, card)
