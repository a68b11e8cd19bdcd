"""Emulated kiosk face cameras: a live person built from a real photo, and presentation attacks.

A `LivePersonSource` films someone standing at the kiosk: the face of a real photo, with
slight head jitter and sensor noise, who reads the prompt on the screen and obeys it. A blink
closes the eyelids (the eye region is filled from the surrounding skin and a lash line is
drawn). A turn is a non-rigid, 3-D-like warp: the face is treated as a cylinder with the nose
standing out of it, so the nose moves across the face outline, as on a real head and unlike on
a sheet of paper.

The attacks are what a fraudster holds up to the camera: `StillFrameSource` (one frame played
again and again), `PrintedPhotoSource` (a print of the photo moved and tilted rigidly, which
tilts on a turn prompt to imitate a turn) and `ReplaySource` (recorded frames of a live person
played back whatever the screen says).

Every source receives the prompt as a person would see it on the screen:
`source.show_prompt(code)` with the guidance code the kiosk shows ("blink_now", "turn_left",
"turn_right", anything else means "look at the camera"). A turn is to the subject's own left or
right; in the camera's unmirrored frame, turning to one's left moves the nose to the image's
right.

A `LivePersonSource` given a frame rate films in real time, as a camera does: `capture()`
waits for the next frame's moment. A kiosk screen shows each prompt from its UI thread, so the
person sees it after a real delay; an unpaced camera would let the check run through seconds of
its frames meanwhile. Without a rate, frames come as fast as they are drawn (for scripts that
hand each prompt to the person themselves).
"""

from __future__ import annotations

import io
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import face_recognition
import numpy as np
from PIL import Image

FRAME_SIZE = (640, 480)
ACTIONS = ("blink_now", "turn_left", "turn_right")


def load_rgb(photo: bytes | str | Path | np.ndarray) -> np.ndarray:
    """An RGB uint8 array from encoded bytes, a path or an array."""
    if isinstance(photo, np.ndarray):
        return np.ascontiguousarray(photo[..., :3], dtype=np.uint8)
    if isinstance(photo, bytes):
        return np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    return np.asarray(Image.open(photo).convert("RGB"))


def _portrait(photo: np.ndarray, size: tuple[int, int], face_share: float):
    """Crop and scale the photo to the camera's frame with the face at face_share of its width."""
    locations = face_recognition.face_locations(photo, 1)
    if not locations:
        raise ValueError("no face found in the photo the emulated person is built from")
    top, right, bottom, left = max(locations, key=lambda b: b[1] - b[3])
    fw = right - left
    w, h = size
    crop_w = fw / face_share
    cx, cy = (left + right) / 2, (top + bottom) / 2 + 0.05 * fw
    # An affine crop: parts outside the photo are filled by reflection, like a wider scene.
    scale = w / crop_w
    m = np.array([[scale, 0, w / 2 - cx * scale], [0, scale, h / 2 - cy * scale]])
    frame = cv2.warpAffine(photo, m, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    marks = face_recognition.face_landmarks(frame, model="large")
    if not marks:
        raise ValueError("the face is lost when the photo is scaled to the camera frame")
    order = [
        "chin",
        "left_eyebrow",
        "right_eyebrow",
        "nose_bridge",
        "nose_tip",
        "left_eye",
        "right_eye",
        "top_lip",
        "bottom_lip",
    ]
    points = np.array([p for key in order for p in marks[0][key]], dtype=np.float64)
    return frame, _to_68(points)


def _to_68(points: np.ndarray) -> np.ndarray:
    # face_recognition's lip lists repeat some of the 68 points; rebuild the plain layout.
    # chin 0-16, brows 17-26, bridge 27-30, tip 31-35, eyes 36-47: the first 48 are in order.
    return points[:48]


def _closed_eyes(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The frame with both eyes shut: the eye filled from the skin around it, a lash line drawn."""
    mask = np.zeros(frame.shape[:2], np.uint8)
    lids = []
    for eye in (points[36:42], points[42:48]):
        a, b = eye[0], eye[3]
        width = float(np.linalg.norm(b - a))
        centre = eye.mean(axis=0)
        angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
        axes = (round(width * 0.6), round(width * 0.3))
        cv2.ellipse(
            mask, (round(centre[0]), round(centre[1] - 0.05 * width)), axes, angle, 0, 360, 255, -1
        )
        lids.append((a, b, width, eye))
    out = cv2.inpaint(frame, mask, 5, cv2.INPAINT_TELEA)
    for a, b, width, eye in lids:
        # The upper lid comes down to where the lower lid was.
        meet = eye[[4, 5]].mean(axis=0)[1]
        xs = np.linspace(a[0], b[0], 16)
        ys = np.linspace(a[1], b[1], 16) * 0.5 + meet * 0.5
        pts = np.stack([xs, ys], axis=1).round().astype(np.int32)
        cv2.polylines(out, [pts], False, (30, 20, 18), max(1, round(width * 0.15)), cv2.LINE_AA)
    return out


def cylinder_fade(v: np.ndarray) -> np.ndarray:
    """1 over the face, fading to 0 below the chin, where the neck does not turn as much."""
    return np.clip(1.6 - np.abs(v), 0.0, 1.0).astype(np.float32)


class _Head:
    """The 3-D-like turn: a horizontal remap of the face region around the nose."""

    def __init__(self, points: np.ndarray, size: tuple[int, int]):
        w, h = size
        jaw = points[0:17]
        self.cx = float(points[27:31, 0].mean())
        self.radius = float(jaw[:, 0].max() - jaw[:, 0].min()) / 2 * 1.05
        top = float(points[17:27, 1].min()) - 0.6 * self.radius
        bottom = float(jaw[:, 1].max()) + 0.1 * self.radius
        cy = (top + bottom) / 2
        half_h = (bottom - top) / 2
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        u = (xs - self.cx) / self.radius
        v = (ys - cy) / half_h
        inside = np.clip(1.0 - (u**2 + v**2), 0.0, 1.0)
        # Depth: a cylinder across the head, plus the nose standing out along its ridge.
        nose_top, nose_tip = points[27], points[30]
        nose_len = max(1.0, float(np.linalg.norm(nose_tip - nose_top)))
        t = np.clip((ys - nose_top[1]) / nose_len, -0.2, 1.15)
        ridge_x = nose_top[0] + (nose_tip[0] - nose_top[0]) * np.clip(t, 0, 1)
        along = np.exp(-(((t - 0.8) / 0.55) ** 2))
        across = np.exp(-(((xs - ridge_x) / (0.22 * self.radius)) ** 2))
        nose = 0.45 * along * across
        cylinder = np.sqrt(np.clip(1.0 - np.clip(u, -1, 1) ** 2, 0.0, 1.0))
        self.depth = (cylinder * 0.55 + nose) * self.radius
        self.u = u
        weight = np.clip(inside * 2.5, 0.0, 1.0)
        # Blurred so the warp has no seam where the head meets the neck and the background.
        sigma = 0.2 * self.radius
        self.weight = cv2.GaussianBlur(weight, (0, 0), sigma) * cylinder_fade(v)
        self.xs, self.ys = xs, ys

    def turn(self, frame: np.ndarray, yaw_deg: float) -> np.ndarray:
        """Turn the head by yaw_deg (positive: to the subject's left, nose to image right)."""
        if abs(yaw_deg) < 0.01:
            return frame
        a = math.radians(yaw_deg)
        # Forward map of a surface point: x' = cx + r*u*cos(a) + depth*sin(a). The displacement
        # is smooth, so its value at the output pixel serves as the inverse map.
        dx = (self.u * self.radius * (math.cos(a) - 1.0) + self.depth * math.sin(a)) * self.weight
        map_x = (self.xs - dx).astype(np.float32)
        return cv2.remap(frame, map_x, self.ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


_NOISE: dict[tuple[tuple[int, int], float], list[np.ndarray]] = {}


def _noise_bank(size: tuple[int, int], sigma: float) -> list[np.ndarray]:
    """Eight sensor-noise fields, made once per process: drawing fresh noise per frame costs
    more than the rest of the emulation."""
    key = (size, sigma)
    if key not in _NOISE:
        gen = np.random.default_rng(9303)
        shape = (size[1], size[0], 3)
        _NOISE[key] = [np.round(gen.normal(0.0, sigma, shape)).astype(np.int16) for _ in range(8)]
    return _NOISE[key]


def _add_noise(frame: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


class _Camera:
    """Hand-held jitter of the subject and sensor noise, per frame."""

    def __init__(self, rng: random.Random, size: tuple[int, int], noise_sigma: float, sway: float):
        self.rng = rng
        self.size = size
        self.noise_sigma = noise_sigma
        self.sway = sway
        self.state = [0.0, 0.0, 0.0, 0.0]  # dx, dy, rotation (deg), log-scale
        self.bank = _noise_bank(size, noise_sigma) if noise_sigma > 0 else []
        self.last_noise = -1

    def shoot(self, scene: np.ndarray) -> np.ndarray:
        limits = (4.0 * self.sway, 3.0 * self.sway, 1.5 * self.sway, 0.015 * self.sway)
        steps = (1.2 * self.sway, 1.0 * self.sway, 0.4 * self.sway, 0.004 * self.sway)
        for i, (lim, step) in enumerate(zip(limits, steps, strict=True)):
            self.state[i] = max(-lim, min(lim, 0.85 * self.state[i] + self.rng.gauss(0, step)))
        dx, dy, rot, log_s = self.state
        w, h = self.size
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rot, math.exp(log_s))
        m[:, 2] += (dx, dy)
        out = cv2.warpAffine(
            scene, m, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        if self.bank:
            # Never the same noise twice in a row: a sensor's noise is fresh every frame.
            pick = self.rng.randrange(len(self.bank) - 1)
            self.last_noise = pick if pick < self.last_noise else pick + 1
            out = _add_noise(out, self.bank[self.last_noise])
        return out


class Portrait:
    """A real photo prepared as the camera's scene: framed face, shut eyes and the turn warp.

    Preparing takes about half a second (a face search on the full photo); build it once and
    give it to as many emulated sources as needed.
    """

    def __init__(
        self,
        photo: bytes | str | Path | np.ndarray,
        *,
        size: tuple[int, int] = FRAME_SIZE,
        face_share: float = 0.36,
    ):
        self.size = size
        self.scene, points = _portrait(load_rgb(photo), size, face_share)
        self.head = _Head(points, size)
        shut = _closed_eyes(self.scene, points)
        half = ((self.scene.astype(np.uint16) + shut) // 2).astype(np.uint8)
        self.eyes = {0.5: half, 1.0: shut}

    def __repr__(self) -> str:
        return f"Portrait(size={self.size})"


class LivePersonSource:
    """A live person built from a real photo, who obeys the prompts shown on the screen."""

    def __init__(
        self,
        photo: Portrait | bytes | str | Path | np.ndarray,
        *,
        rng: random.Random | None = None,
        turn_degrees: float = 28.0,
        noise_sigma: float = 2.0,
        sway: float = 1.0,
        spontaneous_blink_every: float | None = 40.0,
        fps: float | None = None,
    ):
        """spontaneous_blink_every: mean frames between unprompted blinks (None: never);
        fps: frames per second filmed in real time (None: each frame at once)."""
        self.rng = rng or random.Random()
        self.fps = fps
        self._due: float | None = None
        self.portrait = photo if isinstance(photo, Portrait) else Portrait(photo)
        self.turn_degrees = turn_degrees
        self.spontaneous_blink_every = spontaneous_blink_every
        self.camera = _Camera(self.rng, self.portrait.size, noise_sigma, sway)
        self.prompt: str | None = None
        self.plan: list[tuple[float, float]] = []  # per coming frame: (eye closure, yaw)
        self.captured = 0
        self._idle_frames = 0

    def show_prompt(self, code: str | None) -> None:
        """What the kiosk screen shows now; the person reacts after a human delay."""
        if code == self.prompt:
            return
        self.prompt = code
        if code in ACTIONS:
            self.plan = [(0.0, 0.0)] * self.rng.randint(1, 3) + self._gesture(code)

    def _gesture(self, code: str) -> list[tuple[float, float]]:
        if code == "blink_now":
            closed = [(1.0, 0.0)] * self.rng.randint(2, 3)
            return [(0.5, 0.0), *closed, (0.5, 0.0)]
        sign = 1.0 if code == "turn_left" else -1.0
        peak = self.turn_degrees * self.rng.uniform(0.9, 1.1) * sign
        ramp = [0.35, 0.7, 1.0]
        hold = [1.0] * self.rng.randint(2, 3)
        return [(0.0, peak * k) for k in [*ramp, *hold, *reversed(ramp)]]

    def capture(self) -> np.ndarray:
        """The next camera frame (at its moment, for a camera with a frame rate)."""
        if self.fps:
            now = time.monotonic()
            period = 1.0 / self.fps
            # No burst of frames after a stall: a camera drops the frames nobody read.
            self._due = now if self._due is None else max(self._due + period, now - period)
            time.sleep(max(0.0, self._due - now))
        self.captured += 1
        if not self.plan:
            self._idle_frames += 1
            if self.prompt in ACTIONS and self._idle_frames > 20:
                self.plan = self._gesture(self.prompt)  # still asked: do it again
            elif (
                self.spontaneous_blink_every
                and self.rng.random() < 1.0 / self.spontaneous_blink_every
            ):
                self.plan = self._gesture("blink_now")
        closure, yaw = self.plan.pop(0) if self.plan else (0.0, 0.0)
        if self.plan == [] and (closure or yaw):
            self._idle_frames = 0
        portrait = self.portrait
        scene = portrait.eyes.get(closure, portrait.scene) if closure else portrait.scene
        return self.camera.shoot(portrait.head.turn(scene, yaw))

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "emulated-live-person", "captured": self.captured, "fps": self.fps}


class StillFrameSource:
    """One frame returned again and again: a frozen video feed or a screenshot."""

    def __init__(self, frame: np.ndarray):
        self.frame = np.ascontiguousarray(frame)
        self.captured = 0

    def show_prompt(self, code: str | None) -> None:
        """A still frame cannot react."""

    def capture(self) -> np.ndarray:
        self.captured += 1
        return self.frame.copy()

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "emulated-still-frame", "captured": self.captured}


class PrintedPhotoSource:
    """A printed photo held up to the camera, moved and tilted rigidly by an attacker's hand.

    On a turn prompt the attacker tilts the print about its vertical axis (a perspective
    homography) and rotates it a little in-plane, hoping that passes for a head turn.
    """

    def __init__(
        self,
        photo: Portrait | bytes | str | Path | np.ndarray,
        *,
        rng: random.Random | None = None,
        tilt_degrees: float = 50.0,
        noise_sigma: float = 2.0,
        react: bool = True,
    ):
        self.rng = rng or random.Random()
        prepared = photo if isinstance(photo, Portrait) else Portrait(photo)
        portrait, self.size = prepared.scene, prepared.size
        self.tilt_degrees = tilt_degrees
        self.react = react
        w, h = self.size
        # The print (with a white border) is smaller than the frame, in front of a room wall.
        pw, ph = round(w * 0.8), round(h * 0.8)
        self.print_ = cv2.copyMakeBorder(
            cv2.resize(portrait, (pw - 16, ph - 16), interpolation=cv2.INTER_AREA),
            8,
            8,
            8,
            8,
            cv2.BORDER_CONSTANT,
            value=(245, 245, 240),
        )
        self.wall = np.full((h, w, 3), (150, 140, 125), np.uint8)
        self.bank = _noise_bank(self.size, noise_sigma) if noise_sigma > 0 else []
        self.pose = [0.0, 0.0, 0.0]  # hand tremor: dx, dy, roll (deg)
        self.plan: list[tuple[float, float]] = []  # per coming frame: (yaw tilt, pitch)
        self.prompt: str | None = None
        self.captured = 0

    def show_prompt(self, code: str | None) -> None:
        """The attacker sees the prompt too: a print can only tilt, never blink."""
        if code == self.prompt:
            return
        self.prompt = code
        if not self.react or code not in ACTIONS:
            return
        ramp = [0.3, 0.6, 1.0]
        wait = [(0.0, 0.0)] * self.rng.randint(1, 3)
        if code == "blink_now":
            # Pitching the print back shortens everything vertically, eyes included.
            dip = self.tilt_degrees * self.rng.uniform(0.8, 1.1)
            self.plan = wait + [(0.0, dip * k) for k in [*ramp, *reversed(ramp)]]
            return
        sign = 1.0 if code == "turn_left" else -1.0
        peak = self.tilt_degrees * sign * self.rng.uniform(0.8, 1.1)
        self.plan = wait + [(peak * k, 0.0) for k in [*ramp, 1.0, 1.0, 1.0, *reversed(ramp)]]

    def _homography(self, tilt_deg: float, pitch_deg: float) -> np.ndarray:
        w, h = self.size
        pw, ph = self.print_.shape[1], self.print_.shape[0]
        dx, dy, roll = self.pose
        # The print's corners in 3-D, rotated about its vertical axis, then projected.
        f = 1.2 * w
        a, b = math.radians(tilt_deg), math.radians(pitch_deg)
        corners = []
        for x, y in ((-pw / 2, -ph / 2), (pw / 2, -ph / 2), (pw / 2, ph / 2), (-pw / 2, ph / 2)):
            # Tilting to "turn left" takes the print's right edge (image right) away from the
            # camera, so the middle of the face drifts right as a nose would; pitching takes
            # its top edge away.
            xr, zr = x * math.cos(a), x * math.sin(a)
            yr, zr = y * math.cos(b), zr - y * math.sin(b)
            z = f + zr
            corners.append((xr * f / z, yr * f / z))
        pts = np.array(corners, np.float32)
        r = math.radians(roll)
        rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]], np.float32)
        pts = pts @ rot.T + np.array([w / 2 + dx, h / 2 + dy], np.float32)
        src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
        return cv2.getPerspectiveTransform(src, pts)

    def capture(self) -> np.ndarray:
        """The print as the camera sees it now."""
        self.captured += 1
        for i, (lim, step) in enumerate(((8.0, 2.0), (6.0, 1.5), (4.0, 0.8))):
            self.pose[i] = max(-lim, min(lim, 0.9 * self.pose[i] + self.rng.gauss(0, step)))
        tilt, pitch = self.plan.pop(0) if self.plan else (self.rng.gauss(0, 2.0), 0.0)
        hmat = self._homography(tilt, pitch)
        out = cv2.warpPerspective(
            self.print_, hmat, self.size, dst=self.wall.copy(), borderMode=cv2.BORDER_TRANSPARENT
        )
        if self.bank:
            out = _add_noise(out, self.bank[self.captured % len(self.bank)])
        return out

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "emulated-printed-photo", "captured": self.captured}


class ReplaySource:
    """Recorded frames played back in a loop, whatever the screen asks for."""

    def __init__(self, frames: Sequence[np.ndarray]):
        if not frames:
            raise ValueError("a replay needs at least one recorded frame")
        self.frames = list(frames)
        self.captured = 0

    @classmethod
    def recording(
        cls,
        person: LivePersonSource,
        script: Sequence[str] = ("blink_now", "turn_left", "turn_right"),
        gap_frames: int = 6,
    ) -> ReplaySource:
        """Film `person` doing the scripted gestures, with neutral gaps between them."""
        frames = [person.capture() for _ in range(gap_frames)]
        for code in script:
            person.show_prompt(code)
            frames += [person.capture() for _ in range(12)]
            person.show_prompt(None)
            frames += [person.capture() for _ in range(gap_frames)]
        return cls(frames)

    def show_prompt(self, code: str | None) -> None:
        """A replay does not see the screen."""

    def capture(self) -> np.ndarray:
        frame = self.frames[self.captured % len(self.frames)]
        self.captured += 1
        return frame

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "emulated-replay", "captured": self.captured, "length": len(self.frames)}
