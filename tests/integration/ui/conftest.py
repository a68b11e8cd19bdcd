"""Kivy for UI tests: argv left alone, a private KIVY_HOME, the offscreen SDL driver.

This must run before anything imports kivy, so it happens at conftest import time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

if "kivy" not in sys.modules:
    _home = tempfile.mkdtemp(prefix="allhours-kivy-test-")
    atexit.register(shutil.rmtree, _home, True)
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ["KIVY_HOME"] = _home
    os.environ["SDL_VIDEODRIVER"] = "offscreen"
    from terminal.ui import boot

    boot.prepare(headless=True, kivy_home=None)
    boot.register_fonts()
