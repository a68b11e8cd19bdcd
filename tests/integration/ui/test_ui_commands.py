"""`allhours screenshots` and `allhours kiosk` as a technician runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from enrolled_terminal import enrolled
from PIL import Image


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}


def test_screenshots_writes_an_index_and_distinct_non_blank_pictures_per_language(tmp_path):
    out = tmp_path / "shots"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "allhours.cli",
            "screenshots",
            str(out),
            "--offline",
            "--only",
            "home,phone,pickup_code",
            "--variants",
            "zh,en,en-large",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = json.loads((out / "index.json").read_text())
    assert {(s["stop"], s["variant"]) for s in index} == {
        (stop, v) for stop in ("home", "phone", "pickup_code") for v in ("zh", "en", "en-large")
    }
    assert "home.zh.png" in (out / "index.html").read_text()
    for stop in ("home", "phone", "pickup_code"):
        zh, en, large = (
            np.asarray(Image.open(out / f"{stop}.{v}.png").convert("RGB")).astype(int)
            for v in ("zh", "en", "en-large")
        )
        assert zh.shape == (1080, 1920, 3)
        for picture in (zh, en, large):
            assert picture.std() > 10, f"{stop}: a blank picture"
        assert np.abs(zh - en).mean() > 0.5, f"{stop}: Chinese and English look the same"
        assert np.abs(en - large).mean() > 5, f"{stop}: large text looks like normal text"


def _settings(tmp_path: Path, data_dir: Path, extra: str = "") -> Path:
    """A training kiosk's settings, offscreen (no display in the test)."""
    path = tmp_path / "terminal.toml"
    path.write_text(
        f'data_dir = "{data_dir}"\nemulate = true\n{extra}[kiosk]\ndisplay = "offscreen"\n',
        encoding="utf-8",
    )
    return path


def _kiosk_env(tmp_path: Path) -> dict[str, str]:
    env = _env(tmp_path)
    env.pop("ALLHOURS_SETTINGS", None)
    return env


def test_kiosk_without_a_settings_file_refuses_and_says_what_it_needs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "allhours.cli", "kiosk"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_kiosk_env(tmp_path),
    )
    assert proc.returncode == 2
    for needed in ("--settings", "data_dir", "devices", "emulate = true"):
        assert needed in proc.stderr, proc.stderr


def test_kiosk_refuses_to_start_without_an_enrollment_and_says_how(tmp_path):
    settings = _settings(tmp_path, tmp_path / "T0001")
    proc = subprocess.run(
        [sys.executable, "-m", "allhours.cli", "kiosk", "--settings", str(settings)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_kiosk_env(tmp_path),
    )
    assert proc.returncode == 2
    assert "allhours enroll" in proc.stderr
    assert str(settings) in proc.stderr


def test_config_check_prints_what_the_terminal_would_run_with_and_no_key(tmp_path):
    data_dir = enrolled(tmp_path)
    settings = _settings(tmp_path, data_dir, '[printer]\nurl = "tcp://10.0.0.9:9100"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "allhours.cli", "config", "check", str(settings)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_kiosk_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "TRAINING" in out and "T0001" in out and "tcp://10.0.0.9:9100" in out
    assert "applicant key      sha256:" in out
    bundle = json.loads((data_dir / "identity" / "bundle.json").read_text())
    for secret in (bundle["pickup_code_key"], bundle["applicant_key"]):
        assert secret not in out

    broken = tmp_path / "broken.toml"
    broken.write_text(f'data_dir = "{data_dir}"\n[kiosk]\nlang = "fr"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "allhours.cli", "config", "check", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_kiosk_env(tmp_path),
    )
    assert proc.returncode == 2
    assert f"{broken}: " in proc.stderr and "kiosk.lang" in proc.stderr


def test_kiosk_starts_headless_and_stops_cleanly_on_sigterm(tmp_path):
    data_dir = enrolled(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "allhours.cli",
            "kiosk",
            "--settings",
            str(_settings(tmp_path, data_dir)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_kiosk_env(tmp_path),
    )
    try:
        deadline = time.monotonic() + 120
        seen = ""
        while "kiosk running" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        assert "kiosk running" in seen, seen[-3000:]
        assert "TRAINING MODE" in seen  # the log says so too, not only the screen
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
