"""Frames no camera should give (black, white, tiny, odd types and shapes) never crash anything."""

from __future__ import annotations

import numpy as np
import pytest

from devices.camera.document_scene import generated_sample
from terminal.materials.capture import PageCapture
from terminal.materials.pipeline import inspect, process_frame
from terminal.materials.quad import find_page

GOOD = generated_sample(1, "clean", size=(640, 480)).frame

ODD = {
    "black": np.zeros((720, 1280, 3), np.uint8),
    "white": np.full((720, 1280, 3), 255, np.uint8),
    "tiny": np.zeros((4, 4, 3), np.uint8),
    "one_row": np.zeros((1, 1280, 3), np.uint8),
    "empty": np.zeros((0, 0, 3), np.uint8),
    "float_nan": np.full((100, 100, 3), np.nan, np.float32),
    "float_unit": GOOD.astype(np.float32) / 255.0,
    "uint16": GOOD.astype(np.uint16) * 257,
    "int64": GOOD.astype(np.int64),
    "bool": GOOD > 128,
    "single_channel": GOOD[..., 0],
    "single_channel_3d": GOOD[..., :1],
    "bgra": np.dstack([GOOD, np.full(GOOD.shape[:2], 255, np.uint8)]),
    "two_channels": GOOD[..., :2],
    "flat_vector": GOOD.reshape(-1),
    "complex": GOOD.astype(np.complex64),
    "strings": np.array([["a", "b"], ["c", "d"]]),
    "noise": np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8),
    "not_an_array": [[1, 2], [3, 4]],
    "none": None,
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_frames_give_an_answer_not_an_exception(name):
    frame = ODD[name]
    quad = find_page(frame)
    result = process_frame(frame)
    assert isinstance(result.reasons, tuple)
    state = PageCapture(grab=lambda: frame, steady_frames=1).feed(frame)
    assert state.status in ("no_page", "adjust", "hold_steady", "captured")
    if name in ("black", "white", "tiny", "one_row", "empty", "float_nan", "none"):
        assert quad is None and result.reasons == ("no_page",)


@pytest.mark.parametrize("name", ["float_unit", "uint16", "int64", "bgra", "single_channel"])
def test_convertible_frames_still_yield_the_page(name):
    quad = find_page(ODD[name])
    assert quad is not None and not quad.touches_border


def test_a_grab_that_returns_garbage_is_not_a_capture():
    good = generated_sample(2, "clean", size=(1280, 960)).frame
    capture = PageCapture(
        grab=lambda: np.zeros((3, 3), np.uint8), steady_frames=2, capture_size=(3264, 2448)
    )
    states = [capture.feed(good).status for _ in range(4)]
    assert "captured" not in states and capture.pages == []


def test_inspect_reports_no_page_for_a_bare_desk():
    assert inspect(np.full((480, 640, 3), 90, np.uint8)).reasons == ("no_page",)
