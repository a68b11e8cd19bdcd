"""A camera or document camera through OpenCV's VideoCapture (V4L2 on the kiosk).

Resolution is negotiated: the largest size of the preference list is asked for, the device
answers with the nearest mode it has, and what a real frame measures is what is reported.
Exposure is held steady: auto exposure runs for `settle_frames` frames so the paper is lit
right, then the driver reads the exposure it settled on, switches auto exposure off and sets
that value, and reads both back to verify.

V4L2 values (the V4L2 backend passes CAP_PROP_AUTO_EXPOSURE to V4L2_CID_EXPOSURE_AUTO as is):
1 = V4L2_EXPOSURE_MANUAL, 3 = V4L2_EXPOSURE_APERTURE_PRIORITY (the usual UVC "auto").
Builds of OpenCV that go through libv4l or DirectShow use 0.25 (manual) and 0.75 (auto)
instead; the driver tries 1 first, then 0.25, and keeps whichever reads back.
CAP_PROP_EXPOSURE on V4L2 is V4L2_CID_EXPOSURE_ABSOLUTE in units of 100 µs.
Backends that cannot lock exposure (files, some webcams) are reported as such in
`diagnostics()`; capture still works.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from devices.camera.port import CameraError

# Common UVC document-camera and webcam modes, largest first (8 MP, 5 MP, 1080p, 720p, VGA).
RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (3264, 2448),
    (2592, 1944),
    (1920, 1080),
    (1280, 720),
    (640, 480),
)
AUTO_EXPOSURE_MANUAL = (1.0, 0.25)  # V4L2, then libv4l/DirectShow convention


def shown_source(source: int | str) -> int | str:
    """A camera source as it may be shown: a network camera URL's password masked."""
    if isinstance(source, int) or "://" not in source:
        return source
    parts = urlsplit(source)
    if parts.password is None:
        return source
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class OpenCvCamera:
    """A FrameSource over cv2.VideoCapture: a device index, a device path, a video file, or a
    network camera's stream URL (MJPEG or RTSP through OpenCV's FFmpeg backend)."""

    def __init__(
        self,
        index_or_path: int | str,
        *,
        width: int = 3264,
        height: int = 2448,
        fps: float = 15.0,
        resolutions: Sequence[tuple[int, int]] = RESOLUTIONS,
        settle_frames: int = 10,
        lock_exposure: bool = True,
        read_retries: int = 2,
    ):
        """Open the device now; CameraError if it cannot be opened or gives no frame."""
        self.source = shown_source(index_or_path)  # what logs and telemetry may show
        self._lock = threading.Lock()
        self._failures = 0
        self._last_error: str | None = None
        self.read_retries = read_retries
        self.captured = 0
        self.exposure_locked = False
        self.exposure: float | None = None
        self.exposure_note = "not attempted"
        cap = cv2.VideoCapture(index_or_path)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"camera {self.source!r} could not be opened (absent or busy)")
        self._cap = cap
        self.backend = cap.getBackendName()
        wanted = [(width, height)] + [r for r in resolutions if r[0] * r[1] < width * height]
        self.requested = wanted[0]
        cap.set(cv2.CAP_PROP_FPS, fps)
        first = None
        for w, h in wanted:
            accepted = cap.set(cv2.CAP_PROP_FRAME_WIDTH, w) and cap.set(
                cv2.CAP_PROP_FRAME_HEIGHT, h
            )
            first = self._read()  # the frame is the truth; property read-backs can lie
            if not accepted or (first.shape[1], first.shape[0]) == (w, h):
                break  # a file or fixed-mode source, or the device took the mode
        assert first is not None
        self.resolution = (first.shape[1], first.shape[0])
        self.reported = (
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self.fps = float(cap.get(cv2.CAP_PROP_FPS))
        if lock_exposure:
            for _ in range(max(0, settle_frames - 1)):
                self._read()
            self._lock_exposure()

    # ------------------------------------------------------------------ port

    def capture(self) -> np.ndarray:
        """The next frame as RGB uint8 (h, w, 3); CameraError once the device stops answering."""
        with self._lock:
            frame = self._read()
            self.captured += 1
            return frame

    def diagnostics(self) -> dict[str, object]:
        """Device facts for `allhours doctor` and telemetry (no image content).

        `present` is False once the device node is gone (a V4L2 camera unplugged: the open
        handle stays, the node does not); `error` holds the last failed read until a read works.
        """
        return {
            "driver": "opencv",
            "present": self.present(),
            "error": self._last_error,
            "backend": self.backend,
            "source": str(self.source),
            "requested": list(self.requested),
            "resolution": list(self.resolution),
            "reported_resolution": list(self.reported),
            "fps": self.fps,
            "exposure_locked": self.exposure_locked,
            "exposure": self.exposure,
            "exposure_note": self.exposure_note,
            "captured": self.captured,
            "read_failures": self._failures,
        }

    def present(self) -> bool:
        """The device node is there (index N is /dev/videoN); other sources count as present."""
        source = self.source
        if isinstance(source, int):
            source = f"/dev/video{source}"
            if not os.path.isdir("/dev"):
                return True
        return not source.startswith("/dev/") or os.path.exists(source)

    def close(self) -> None:
        """Release the device."""
        with self._lock:
            self._cap.release()

    def __enter__(self) -> OpenCvCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _read(self) -> np.ndarray:
        for _ in range(1 + self.read_retries):
            if not self._cap.isOpened():
                break
            ok, frame = self._cap.read()
            if ok and frame is not None and frame.size:
                self._last_error = None
                return _to_rgb(frame)
            self._failures += 1
        self._last_error = f"no frame after {1 + self.read_retries} tries"
        raise CameraError(
            f"camera {self.source!r} gave no frame after {1 + self.read_retries} tries "
            "(unplugged, stream ended or device error)"
        )

    def _lock_exposure(self) -> None:
        cap = self._cap
        settled = cap.get(cv2.CAP_PROP_EXPOSURE)
        for manual in AUTO_EXPOSURE_MANUAL:
            if not cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, manual):
                continue
            if abs(cap.get(cv2.CAP_PROP_AUTO_EXPOSURE) - manual) > 1e-3:
                continue
            cap.set(cv2.CAP_PROP_EXPOSURE, settled)
            now = cap.get(cv2.CAP_PROP_EXPOSURE)
            self.exposure = float(now)
            self.exposure_locked = abs(now - settled) <= max(1.0, 0.05 * abs(settled))
            self.exposure_note = (
                f"manual mode {manual}, exposure {now:g}"
                if self.exposure_locked
                else f"manual mode {manual}, but exposure read back {now:g} not {settled:g}"
            )
            return
        self.exposure_note = f"backend {self.backend} cannot switch auto exposure off"


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV's BGR, BGRA or grey frame as RGB uint8."""
    if frame.dtype != np.uint8:
        frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(1.0, float(frame.max())))
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
