"""No way out of the kiosk by keyboard, large text really is high contrast, prompts are spoken."""

from __future__ import annotations

import os
import stat
import time

from kivy.config import Config

from terminal.ui.app import BLOCKED_KEYS, KioskApp
from terminal.ui.speech import Speaker
from terminal.ui.theme import LARGE, MIN_TOUCH_MM, NORMAL, contrast_ratio, mm_to_px


def test_escape_and_function_keys_do_nothing_and_the_window_refuses_to_close():
    app = KioskApp(lambda: None)
    assert Config.get("kivy", "exit_on_escape") == "0"
    assert 27 in BLOCKED_KEYS and 282 in BLOCKED_KEYS  # Escape, F1
    assert app._swallow_keys(None, 27) and app._swallow_keys(None, 282)
    assert not app._swallow_keys(None, ord("a"))
    assert app._refuse_close() is True  # Alt+F4 and the window manager's close
    app.stopping = True
    assert app._refuse_close() is False
    assert app.open_settings() is False


def test_large_text_is_bigger_and_meets_wcag_aaa_contrast():
    assert LARGE.body_px > NORMAL.body_px and LARGE.touch_mm >= MIN_TOUCH_MM
    for theme, least in ((NORMAL, 4.5), (LARGE, 7.0)):
        assert contrast_ratio(theme.text, theme.background) >= least, theme.name
        assert contrast_ratio(theme.primary_text, theme.primary) >= least, theme.name
        assert contrast_ratio(theme.banner_text, theme.banner) >= least, theme.name
    assert round(mm_to_px(15, 102)) == 60


def test_prompts_are_spoken_through_espeak_ng_without_waiting(tmp_path, monkeypatch):
    said = tmp_path / "said.txt"
    fake = tmp_path / "espeak-ng"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {said}\nexec sleep 30\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    speaker = Speaker(enabled=True)
    assert speaker.available
    started = time.monotonic()
    speaker.say("请将身份证放在读卡器上", "zh")
    assert time.monotonic() - started < 5  # never blocks the screen

    def spoken(n: int) -> None:
        deadline = time.monotonic() + 10
        while not (said.exists() and said.read_text().count("\n") >= n):
            assert time.monotonic() < deadline, f"espeak-ng was not run {n} time(s)"
            time.sleep(0.05)

    spoken(1)
    speaker.say("Place your ID card on the reader", "en")  # cuts the first one off
    spoken(2)
    lines = said.read_text().splitlines()
    assert lines[0].startswith("-v cmn") and lines[0].endswith("请将身份证放在读卡器上")
    assert lines[1].startswith("-v en")
    speaker.stop()  # no child process left behind (the suite's guard checks)
    assert not Speaker(enabled=False).available
