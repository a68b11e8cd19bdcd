"""Verdicts on generated captures: blurred, glared and cut-off pages are refused for that reason."""

from __future__ import annotations

from collections import Counter

import pytest

from devices.camera.document_scene import generated_sample
from terminal.materials.pipeline import inspect
from terminal.materials.quality import REASONS

CAPTURE = (2048, 1536)  # a 3 MP capture; the scale says what an 8 MP one would give
SCALE = 3264 / CAPTURE[0]
PLAN = {"clean": 10, "blurred": 8, "glare": 8, "cut_off": 6}


@pytest.fixture(scope="module")
def verdicts():
    out = {}
    for defect, count in PLAN.items():
        for seed in range(500, 500 + count):
            sample = generated_sample(seed, defect, size=CAPTURE)
            out[(defect, seed)] = inspect(sample.frame, capture_scale=SCALE).reasons
    return out


def test_clean_pages_are_accepted(verdicts):
    refused = {k: r for k, r in verdicts.items() if k[0] == "clean" and r}
    assert not refused


@pytest.mark.parametrize("defect", ["blurred", "glare", "cut_off"])
def test_defective_pages_are_refused_for_the_right_reason(verdicts, defect):
    counts = Counter(defect in r for k, r in verdicts.items() if k[0] == defect)
    assert counts[True] == PLAN[defect], counts
    # ...and not blamed on something the citizen did not do.
    wrong = {"blurred", "glare", "cut_off"} - {defect}
    for (d, _), reasons in verdicts.items():
        if d == defect:
            assert not wrong & set(reasons), reasons


def test_strong_perspective_is_called_skewed():
    for seed in range(3):
        sample = generated_sample(seed, "skewed", size=(1280, 960))
        assert "skewed" in inspect(sample.frame, capture_scale=3264 / 1280).reasons


def test_every_reason_has_words_in_both_languages():
    for code, reason in REASONS.items():
        assert reason.code == code and reason.zh.strip() and reason.en.strip()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason.zh)
