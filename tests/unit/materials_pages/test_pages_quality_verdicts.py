"""Verdicts on generated captures: blurred, glared and cut-off pages are refused for that reason."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

import terminal.ui
from devices.camera.document_scene import generated_sample, page_template
from terminal.materials.pipeline import inspect
from terminal.materials.quality import (
    GLARE_AREA,
    REASONS,
    WASHED_AREA,
    glare_share,
    image_reasons,
    washed_share,
)

CAPTURE = (2048, 1536)  # a 3 MP capture; the scale says what an 8 MP one would give
SCALE = 3264 / CAPTURE[0]
PLAN = {"clean": 10, "blurred": 8, "glare": 8, "cut_off": 6, "soft_glare": 8}
SHEENED = 4  # clean pages under a faint sheen that leaves the print legible
REASON = {"soft_glare": "glare"}  # soft reflections are glare to the citizen too


@pytest.fixture(scope="module")
def verdicts():
    out = {}
    for defect, count in PLAN.items():
        for seed in range(500, 500 + count):
            sample = generated_sample(seed, defect, size=CAPTURE)
            out[(defect, seed)] = inspect(sample.frame, capture_scale=SCALE).reasons
    for seed in range(600, 600 + SHEENED):
        sample = generated_sample(seed, "clean", size=CAPTURE, highlight="sheen")
        out[("clean", seed)] = inspect(sample.frame, capture_scale=SCALE).reasons
    return out


def test_clean_pages_are_accepted_even_under_a_faint_sheen(verdicts):
    refused = {k: r for k, r in verdicts.items() if k[0] == "clean" and r}
    assert not refused
    assert sum(k[0] == "clean" for k in verdicts) == PLAN["clean"] + SHEENED


@pytest.mark.parametrize("defect", ["blurred", "glare", "cut_off", "soft_glare"])
def test_defective_pages_are_refused_for_the_right_reason(verdicts, defect):
    reason = REASON.get(defect, defect)
    counts = Counter(reason in r for k, r in verdicts.items() if k[0] == defect)
    assert counts[True] == PLAN[defect], counts
    # ...and not blamed on something the citizen did not do.
    wrong = {"blurred", "glare", "cut_off"} - {reason}
    for (d, _), reasons in verdicts.items():
        if d == defect:
            assert not wrong & set(reasons), reasons


def test_strong_perspective_is_called_skewed():
    for seed in range(3):
        sample = generated_sample(seed, "skewed", size=(1280, 960))
        assert "skewed" in inspect(sample.frame, capture_scale=3264 / 1280).reasons


def test_every_reason_has_words_in_both_languages():
    locale = Path(terminal.ui.__file__).parent / "locale"
    zh = json.loads((locale / "zh.json").read_text(encoding="utf-8"))
    en = json.loads((locale / "en.json").read_text(encoding="utf-8"))
    for code, reason in REASONS.items():
        assert reason.code == code and zh[reason.key].strip() and en[reason.key].strip()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh[reason.key])


def test_a_strongly_lit_page_edge_is_not_glare_but_a_reflection_is():
    page = np.asarray(page_template("A4", 100, 1)).astype(np.float32)
    h, w = page.shape[:2]
    ramp = np.linspace(0.85, 1.03, w, dtype=np.float32)[None, :, None]  # a lamp on one side
    lit = np.clip(page * ramp, 0, 255).astype(np.uint8)
    assert (lit.min(axis=2) >= 250).mean() > 0.01  # the bright side really is burnt
    assert glare_share(lit) == 0.0
    spot = lit.copy()
    cv2.circle(spot, (w // 3, h // 2), 40, (255, 255, 255), -1)
    assert glare_share(spot) > GLARE_AREA


def _lamp_reflection(page: np.ndarray, peak: float) -> np.ndarray:
    """A desk lamp mirrored in glossy paper: brightest mid-page, fading over a third of it."""
    h, w = page.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((xx - 0.5 * w) ** 2 + (yy - 0.45 * h) ** 2) / (0.18 * np.hypot(w, h)) ** 2
    return np.clip(page + peak * np.exp(-d2)[..., None], 0, 255).astype(np.uint8)


def test_print_washed_out_by_a_soft_reflection_is_glare_whatever_the_ring_around_it():
    page = np.asarray(page_template("A4", 100, 2)).astype(np.float32) * 0.88
    lamp = _lamp_reflection(page, 330.0)
    assert glare_share(lamp) <= GLARE_AREA  # the burnt-patch check alone lets it through
    assert washed_share(lamp, 100) > WASHED_AREA
    assert image_reasons(lamp, 100.0) == ["glare"]


def test_a_reflection_that_leaves_the_print_legible_is_not_glare():
    page = np.asarray(page_template("A4", 100, 2)).astype(np.float32) * 0.88
    sheen = _lamp_reflection(page, 25.0)
    assert washed_share(sheen, 100) == 0.0
    assert image_reasons(sheen, 100.0) == []


def test_bare_paper_under_strong_light_is_not_lost_print():
    page = np.asarray(page_template("A4", 100, 1)).astype(np.float32)
    ramp = np.linspace(0.85, 1.03, page.shape[1], dtype=np.float32)[None, :, None]
    lit = np.clip(page * ramp, 0, 255).astype(np.uint8)
    assert washed_share(lit, 100) == 0.0
