"""Auto-capture on a scripted document camera: a page placed, held, moved and taken away."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pages_support import corner_error

from devices.camera.emulated import ScriptedDocumentCamera
from devices.camera.port import CameraError
from terminal.materials.capture import STATUSES, PageCapture
from terminal.materials.pdf import material_content


def _run(camera: ScriptedDocumentCamera, capture: PageCapture, frames: int):
    states, truths = [], []
    for _ in range(frames):
        states.append(capture.feed(camera.capture()))
        truths.append(camera.truth())
    return states, truths


def test_a_page_held_still_is_captured_once_and_only_after_it_settled():
    camera = ScriptedDocumentCamera(
        [("empty", 2), ("place", 4), ("hold", 12), ("move", 3), ("hold", 6), ("remove", 3)],
        seed=3,
    )
    capture = PageCapture(camera.still, steady_frames=6, capture_size=camera.still_size)
    states, truths = _run(camera, capture, 30)
    statuses = [s.status for s in states]
    assert set(statuses) <= set(STATUSES)
    assert statuses[:2] == ["no_page", "no_page"]
    assert statuses.count("captured") == 1 and camera.stills == 1
    first = statuses.index("captured")
    assert statuses[first - 5 : first] == ["hold_steady"] * 5  # steady for N frames first
    assert first >= 2 + 4 - 1 + 5  # not before it lay where it stays for N frames
    # After the capture the same sheet is not taken again, even when nudged.
    assert all(s.reasons == ("replace_page",) for s in states[first + 1 : 27])
    assert statuses[-1] == "no_page"
    page = states[first].page
    assert page is not None and page.ok and page.format.name == "A4" and page.dpi >= 150
    assert corner_error(states[first].corners, truths[first]) < 0.005


def test_two_sheets_make_a_two_page_material():
    script = [("place", 3), ("hold", 6), ("remove", 3), ("empty", 1), ("place", 3), ("hold", 6)]
    camera = ScriptedDocumentCamera(script, seed=8, pages=2)
    capture = PageCapture(camera.still, steady_frames=4, capture_size=camera.still_size)
    states, _ = _run(camera, capture, 22)
    assert [s.status for s in states].count("captured") == 2
    content = material_content(capture.pages)
    assert content.pages == 2 and content.data.startswith(b"%PDF")


def test_a_page_not_yet_to_be_taken_is_watched_and_taken_at_once_when_allowed():
    """The kiosk holds the next page back until its screen has said the last one was taken;
    the page is still followed meanwhile, so it is taken on the first frame allowed."""
    camera = ScriptedDocumentCamera([("place", 3), ("hold", 20)], seed=2)
    capture = PageCapture(camera.still, steady_frames=4, capture_size=camera.still_size)
    held = [capture.feed(camera.capture(), take=False) for _ in range(12)]
    assert camera.stills == 0 and not capture.pages
    assert held[-1].status == "hold_steady" and held[-1].progress == 1.0
    now = capture.feed(camera.capture())
    assert now.status == "captured" and camera.stills == 1 and len(capture.pages) == 1


def test_a_blurred_full_resolution_frame_is_refused_with_the_reason():
    camera = ScriptedDocumentCamera([("place", 2), ("hold", 8)], seed=5)

    def shaky_grab() -> np.ndarray:
        return cv2.GaussianBlur(camera.still(), (0, 0), 7.0)

    capture = PageCapture(shaky_grab, steady_frames=3, capture_size=camera.still_size)
    states, _ = _run(camera, capture, 6)
    adjust = [s for s in states if s.status == "adjust"]
    assert adjust and adjust[0].reasons == ("blurred",)
    assert "captured" not in [s.status for s in states] and capture.pages == []


def test_glare_in_the_preview_asks_to_adjust_before_any_grab():
    camera = ScriptedDocumentCamera([("place", 2), ("hold", 8)], seed=6)
    grabs = []
    capture = PageCapture(lambda: grabs.append(1), steady_frames=3, capture_size=camera.still_size)
    states = []
    for _ in range(10):
        frame = camera.capture()
        cv2.circle(frame, (640, 480), 45, (255, 255, 255), -1)  # a lamp's burnt-out reflection
        states.append(capture.feed(frame))
    assert [s.reasons for s in states].count(("glare",)) >= 2
    assert grabs == [] and "captured" not in [s.status for s in states]


def test_a_camera_that_fails_at_the_grab_raises_its_error():
    camera = ScriptedDocumentCamera([("place", 2), ("hold", 8)], seed=7)

    def unplugged() -> np.ndarray:
        raise CameraError("camera '/dev/video2' gave no frame after 3 tries")

    capture = PageCapture(unplugged, steady_frames=2, capture_size=camera.still_size)
    with pytest.raises(CameraError):
        for _ in range(8):
            capture.feed(camera.capture())


def test_the_state_repr_carries_no_pixels():
    camera = ScriptedDocumentCamera([("hold", 3)], seed=2)
    state = PageCapture(camera.still, steady_frames=9).feed(camera.capture())
    assert "array" not in repr(state) and len(repr(state)) < 120


def test_without_the_capture_size_the_grab_decides_whether_the_page_is_large_enough():
    camera = ScriptedDocumentCamera([("hold", 6)], seed=4)
    grabs = []

    def preview_sized_grab() -> np.ndarray:
        grabs.append(1)
        return camera.capture()  # a camera whose "full" resolution is only 1280x960

    capture = PageCapture(preview_sized_grab, steady_frames=3)
    states = [capture.feed(camera.capture()) for _ in range(3)]
    assert [s.status for s in states] == ["hold_steady", "hold_steady", "adjust"]
    assert states[-1].reasons == ("too_small",) and grabs == [1]
