"""Auto-capture on the scan screen: pages are taken without a tap, guidance follows the page."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from kivy.clock import Clock
from ui_unit_kiosk import offline_kiosk, walk_to_materials

from devices.camera.emulated import GeneratedPageSource, ScriptedDocumentCamera
from terminal.coded import english
from terminal.flows.session import FlowError
from terminal.flows.submission import PageRefused
from terminal.materials.capture import PageCapture
from terminal.materials.pipeline import PageResult
from terminal.materials.quality import REASONS


def _watch(drv, screen, until, *, timeout: float = 40.0) -> list[str]:
    """Pump until `until()`, collecting every instruction the screen showed on the way.

    Bound to the label's text, not sampled between frames: an instruction replaced before the
    next sample ("Page 1 taken…" when page 2 lay still at once) was missed on a loaded machine.
    """
    seen: list[str] = [screen.guide.text] if screen.guide.text else []

    def shown(_label, text: str) -> None:
        if text and (not seen or seen[-1] != text):
            seen.append(text)

    screen.guide.bind(text=shown)
    try:
        drv.wait_for(until, timeout=timeout, what="the scan screen to get there")
    finally:
        screen.guide.unbind(text=shown)
    return seen


def test_nobody_taps_and_both_pages_are_taken_with_guidance_in_between(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        walk_to_materials(drv, devices)
        spoken: list[str] = []
        speak = k.speak
        k.speak = lambda text: (spoken.append(text), speak(text))
        drv.tap(s["materials"].row_buttons["household-register"])
        drv.wait_screen("scan")
        scan = s["scan"]
        assert scan.restart_button.get_root_window() is not None  # two pages: "start again"
        outlines = []
        seen = _watch(
            drv,
            scan,
            lambda: outlines.append(scan.outline.shown) or k.current == "materials",
        )
        flow = k.submission
        assert flow is not None and flow.scanned["household-register"].pages == 2
        assert any(outlines), "the page outline was drawn over the live picture"
        assert "Hold still… the picture is being taken." in seen
        assert "Page 1 taken. Take it away and place page 2 of 2." in seen
        assert seen.index("Page 1 taken. Take it away and place page 2 of 2.") > seen.index(
            "Hold still… the picture is being taken."
        )
        # Each instruction was spoken once when it appeared, not once per frame.
        assert len(spoken) <= len(seen) + 3
        assert spoken.count("Page 1 taken. Take it away and place page 2 of 2.") == 1
        # the preview's own camera was grabbed twice; the manual path never ran
        assert flow.scanned["household-register"].blob.size > 0


class SlowScreen(GeneratedPageSource):
    """Sheets swapped at once, while the screen stalls for 3 s from the first page's grab on.

    The stall is what a loaded kiosk does to its drawing: the preview worker goes on judging
    frames, and the second sheet lies still long before the screen could draw again.
    """

    def __init__(self, title: str, pages: int):
        super().__init__(title, pages)
        self.grabs = 0

    def still(self) -> np.ndarray:
        self.grabs += 1
        if self.grabs == 1:
            stalled = threading.Event()
            Clock.schedule_once(lambda _dt: (stalled.set(), time.sleep(3.0)), 0)
            stalled.wait(10)  # the screen is stalled before this page counts as taken
        return super().still()


def test_the_second_page_waits_until_the_citizen_was_told_the_first_was_taken(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        cameras: list[SlowScreen] = []
        k.node.parts.document_camera = lambda t, p: cameras.append(SlowScreen(t, p)) or cameras[-1]
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["household-register"])
        drv.wait_screen("scan")
        seen = _watch(drv, s["scan"], lambda: k.current == "materials")
        assert k.submission.scanned["household-register"].pages == 2
        assert cameras[0].grabs == 2
        told = "Page 1 taken. Take it away and place page 2 of 2."
        assert told in seen and seen.index(told) < seen.index("All pages taken. Saving…")


class LampReflection:
    """A document camera whose lamp burns a white spot into the middle of the page."""

    def __init__(self) -> None:
        self.camera = ScriptedDocumentCamera([("place", 2), ("hold", 4)], seed=6)
        self.still_size = self.camera.still_size

    def capture(self) -> np.ndarray:
        frame = self.camera.capture()
        cv2.circle(frame, (640, 480), 45, (255, 255, 255), -1)
        return frame

    def still(self) -> np.ndarray:
        return self.camera.still()

    def diagnostics(self) -> dict[str, object]:
        return self.camera.diagnostics()


def test_glare_is_explained_and_nothing_is_taken(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        cameras: list[LampReflection] = []
        k.node.parts.document_camera = lambda t, p: cameras.append(LampReflection()) or cameras[-1]
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["id-card-copy"])
        drv.wait_screen("scan")
        scan = s["scan"]
        drv.wait_for(
            lambda: scan.guide.text == english(REASONS["glare"].key), timeout=30, what="glare"
        )
        frames = cameras[0].camera.captured
        drv.wait_for(lambda: cameras[0].camera.captured > frames + 12, what="more frames")
        assert scan.guide.text == english(REASONS["glare"].key)
        assert scan.outline.shown and tuple(scan.outline.color.rgba)[:2] == (0.85, 0.15)
        assert cameras[0].camera.stills == 0 and k.current == "scan"
        assert "id-card-copy" not in k.submission.scanned


class ShakyHands(ScriptedDocumentCamera):
    """The page lies still in the preview, but every full-resolution grab is smeared."""

    def still(self) -> np.ndarray:
        return cv2.GaussianBlur(super().still(), (0, 0), 7.0)


def test_a_blurred_grab_is_refused_with_its_reason_and_the_material_stays_missing(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        camera = ShakyHands([("place", 2), ("hold", 4)], seed=5)
        k.node.parts.document_camera = lambda t, p: camera
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["id-card-copy"])
        drv.wait_screen("scan")
        scan = s["scan"]
        blurred = english(REASONS["blurred"].key)
        drv.wait_for(lambda: scan.guide.text == blurred, timeout=40, what="blur explained")
        assert camera.stills >= 1 and k.current == "scan"
        assert "id-card-copy" not in k.submission.scanned
        assert scan.run is not None and scan.run.taken == 0


def test_walking_away_mid_material_leaves_no_page_outline_or_instruction(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["household-register"])
        drv.wait_screen("scan")
        scan = s["scan"]
        drv.wait_for(lambda: scan.run is not None and scan.run.taken == 1, timeout=40, what="p1")
        drv.wait_for(lambda: scan.outline.shown, timeout=20, what="page 2's outline")
        k.idle.clock.now += k.idle.timeout_s + k.idle.warn_s + 2
        drv.wait_screen("home")
        drv.pump(3)
        assert scan.run is None and not scan.outline.shown
        assert scan.guide.text == "" and scan.hint.text == "" and scan.progress.value == 0
        assert scan.preview.texture is None
        assert k.node.outbox.backlog() == 0


def test_start_again_drops_the_pages_taken_so_far(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["household-register"])
        drv.wait_screen("scan")
        scan = s["scan"]
        drv.wait_for(lambda: scan.run is not None and scan.run.taken == 1, timeout=40, what="p1")
        first_run = scan.run
        drv.tap(scan.restart_button)
        assert scan.run is not first_run and scan.run.taken == 0
        assert first_run.capture.pages  # the old run is no longer the screen's
        # The emulated citizen goes on with their sheets; two more are taken and saved.
        drv.wait_screen("materials", timeout=60)
        assert k.submission.scanned["household-register"].pages == 2


def test_the_flow_keeps_only_a_full_set_of_pages_that_all_passed(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k = drv.kiosk
        walk_to_materials(drv, devices)
        flow = k.submission
        camera = ScriptedDocumentCamera([("place", 2), ("hold", 4)], seed=3)
        capture = PageCapture(camera.still, steady_frames=3, capture_size=camera.still_size)
        for _ in range(8):
            capture.feed(camera.capture())
        (good,) = capture.pages
        refused = PageResult(("glare",))
        with pytest.raises(PageRefused) as why:
            flow.add_scanned_pages("household-register", [good, refused])
        assert (why.value.page, why.value.reason) == (2, "glare")
        with pytest.raises(FlowError, match="2 page"):
            flow.add_scanned_pages("household-register", [good])
        assert "household-register" not in flow.scanned and k.node.outbox.backlog() == 0
        kept = flow.add_scanned_pages("household-register", [good, good])
        assert kept.pages == 2 and flow.scanned["household-register"] is kept


class RecordingCamera(ScriptedDocumentCamera):
    """Notes at which preview frame each full-resolution grab was taken."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.grabbed_at: list[int] = []

    def still(self) -> np.ndarray:
        self.grabbed_at.append(self.captured)
        return super().still()


def test_a_page_sliding_in_and_moving_is_not_taken_until_it_lies_still(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        # It slides in for 20 frames (long enough for the screen to show it is cut off, however
        # the preview and the screen's frames fall), lies still for 6 (2 short of the 8
        # needed), then is nudged for 4: the count restarts.
        script = [("place", 20), ("hold", 6), ("move", 4), ("hold", 60)]
        camera = RecordingCamera(script, seed=4)
        k.node.parts.document_camera = lambda t, p: camera
        walk_to_materials(drv, devices)
        drv.tap(s["materials"].row_buttons["id-card-copy"])
        drv.wait_screen("scan")
        seen = _watch(drv, s["scan"], lambda: k.current == "materials")
        assert k.submission.scanned["id-card-copy"].pages == 1
        steady = 8  # PageCapture's default: frames lying still before the grab
        assert len(camera.grabbed_at) == 1
        assert camera.grabbed_at[0] >= 20 + 6 + 4 + steady - 1  # not before it lay still again
        assert english(REASONS["cut_off"].key) in seen  # while it slid in, half outside the picture
        assert "Hold still… the picture is being taken." in seen
