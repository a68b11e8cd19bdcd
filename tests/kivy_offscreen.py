"""Kivy for UI tests: argv left alone, a private KIVY_HOME, the offscreen SDL driver, our fonts.

Imported by the UI test directories' conftest.py, so it runs before anything imports kivy.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

if "kivy" in sys.modules:
    # Set up after the fact, Kivy would draw with no Chinese font (every label fails) or try a
    # real display: name the cause instead.
    raise RuntimeError(
        "Kivy was imported before tests/kivy_offscreen.py set it up: import kivy_offscreen "
        "first in the conftest.py of the test directory that imported it"
    )
from terminal.ui import boot

_home = tempfile.mkdtemp(prefix="allhours-kivy-test-")
atexit.register(shutil.rmtree, _home, True)
boot.prepare(headless=True, kivy_home=Path(_home))
boot.register_fonts()
