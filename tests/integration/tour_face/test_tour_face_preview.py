"""`allhours screenshots`: the face screen's camera preview shows a person, not a page."""

from __future__ import annotations

import os
import subprocess
import sys

import face_recognition
import numpy as np
from PIL import Image


def test_the_face_screen_screenshot_shows_a_face_in_its_preview(tmp_path):
    out = tmp_path / "shots"
    env = {**os.environ, "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "allhours.cli", "screenshots", str(out), "--offline",
         "--only", "face", "--variants", "en"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    shot = np.asarray(Image.open(out / "face.en.png").convert("RGB"))
    faces = face_recognition.face_locations(shot, 1)
    assert len(faces) == 1, faces
    _top, right, _bottom, left = faces[0]
    assert (right - left) > 0.04 * shot.shape[1]  # a face the citizen can see, not a speck
