"""The OpenCV driver through OpenCV's real decoders: image sequences and a video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.camera.document_scene import DeskScene
from devices.camera.emulated import ImageFileSource
from devices.camera.mjpeg_emulator import MjpegCameraEmulator
from devices.camera.opencv import OpenCvCamera
from devices.camera.port import CameraError
from terminal.materials.quad import find_page


def _write_sequence(folder: Path, count: int, size=(640, 480)) -> str:
    scene = DeskScene("A4", seed=4)
    for i in range(count):
        rgb = scene.render(size, frame_no=i)
        rgb[:8, :8] = (255, 0, 0)  # a red marker top-left: colour order must survive
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(folder / "frame_%03d.png")


def test_an_image_sequence_is_read_as_rgb_at_its_real_resolution(tmp_path):
    pattern = _write_sequence(tmp_path, 14)
    with OpenCvCamera(pattern, width=3264, height=2448, settle_frames=3) as cam:
        frame = cam.capture()
        facts = cam.diagnostics()
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert tuple(frame[2, 2]) == (255, 0, 0)
    assert facts["resolution"] == [640, 480] and facts["requested"] == [3264, 2448]
    assert find_page(frame) is not None  # the frames carry a findable page


def test_a_source_that_cannot_lock_exposure_says_so(tmp_path):
    with OpenCvCamera(_write_sequence(tmp_path, 6), settle_frames=2) as cam:
        facts = cam.diagnostics()
    assert facts["exposure_locked"] is False
    assert "cannot switch auto exposure off" in facts["exposure_note"]


def test_a_video_file_plays_and_its_end_is_a_camera_error(tmp_path):
    path = tmp_path / "desk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((240, 320, 3), 40 * i, np.uint8))
    writer.release()
    cam = OpenCvCamera(str(path), settle_frames=1, lock_exposure=False, read_retries=1)
    try:
        frames = [cam.capture() for _ in range(4)]  # the open itself read the first frame
        assert [int(f.mean()) for f in frames] == pytest.approx([40, 80, 120, 160], abs=3)
        with pytest.raises(CameraError, match="gave no frame"):
            cam.capture()
        assert cam.diagnostics()["read_failures"] >= 2
    finally:
        cam.close()


def test_a_missing_device_is_a_clear_error_at_open(tmp_path):
    with pytest.raises(CameraError, match="could not be opened"):
        OpenCvCamera(str(tmp_path / "nothing_%03d.png"))


def test_frames_vanishing_mid_stream_is_a_camera_error_like_an_unplug(tmp_path):
    pattern = _write_sequence(tmp_path, 8, size=(320, 240))
    cam = OpenCvCamera(pattern, settle_frames=1, lock_exposure=False)
    try:
        cam.capture()
        for f in sorted(tmp_path.glob("frame_*.png"))[2:]:
            f.unlink()  # the device goes away
        with pytest.raises(CameraError):
            for _ in range(8):
                cam.capture()
    finally:
        cam.close()


def test_image_files_replay_through_the_decoder_and_refuse_garbage(tmp_path):
    good = tmp_path / "page.jpg"
    cv2.imwrite(str(good), np.full((200, 300, 3), (0, 0, 200), np.uint8))  # BGR red
    bad = tmp_path / "torn.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 torn")
    source = ImageFileSource([good, bad], size=(150, 100))
    frame = source.capture()
    assert frame.shape == (100, 150, 3) and frame[50, 75, 0] > 180 and frame[50, 75, 2] < 30
    with pytest.raises(CameraError, match="could not be decoded"):
        source.capture()
    once = ImageFileSource([good], loop=False)
    once.capture()
    with pytest.raises(CameraError, match="exhausted"):
        once.capture()


def test_a_network_camera_streams_mjpeg_over_http_behind_its_account(tmp_path):
    """An IP camera's MJPEG stream through OpenCV's FFmpeg backend, as a kiosk reads it."""
    scene = DeskScene("A4", seed=4)
    frames = iter(range(10_000))

    class Desk:
        def capture(self):
            return scene.render((640, 480), frame_no=next(frames))

    with MjpegCameraEmulator(Desk(), fps=20, credentials=("kiosk", "Cam3ra0ne")) as camera:
        with OpenCvCamera(camera.url, width=640, height=480, settle_frames=2) as cam:
            frame = cam.capture()
            facts = cam.diagnostics()
        assert frame.shape == (480, 640, 3) and find_page(frame) is not None
        assert facts["backend"] == "FFMPEG" and facts["resolution"] == [640, 480]
        # Telemetry and logs name the camera without its password.
        assert "Cam3ra0ne" not in str(facts) and "kiosk:***@" in facts["source"]
        assert camera.frames_sent >= 3 and camera.denied == 0

        wrong = camera.url.replace("Cam3ra0ne", "guessed")
        with pytest.raises(CameraError, match="could not be opened") as refused:
            OpenCvCamera(wrong, settle_frames=1)
        assert "guessed" not in str(refused.value)
        assert camera.denied >= 1


def test_a_network_camera_gone_is_a_camera_error():
    camera = MjpegCameraEmulator(lambda: None).start()  # type: ignore[arg-type]
    url = camera.url
    camera.stop()
    with pytest.raises(CameraError, match="could not be opened"):
        OpenCvCamera(url, settle_frames=1)
