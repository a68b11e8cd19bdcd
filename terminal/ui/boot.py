"""Prepare the process for Kivy: environment first, then fonts with Chinese glyphs.

Kivy reads its environment when first imported (it parses argv and writes ~/.kivy unless told
not to), so `prepare()` must run before any `import kivy`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

FONT_NAME = "Kiosk"
KIOSK_SIZE = (1920, 1080)  # the common 21.5" kiosk panel, landscape
# Debian's fonts-wqy-microhei; fonts-noto-cjk works as well. Kivy's own Roboto has no Chinese.
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)


class FontMissing(RuntimeError):
    """No installed font can draw Chinese text."""


def prepare(
    *,
    headless: bool = False,
    kivy_home: Path | None = None,
    size=KIOSK_SIZE,
    fullscreen: bool = False,
) -> None:
    """Set Kivy's environment: no argv parsing, a private home, offscreen when headless.

    `fullscreen` is the kiosk: no window decorations, no mouse pointer, the whole screen.
    """
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Kivy's own log mode swaps sys.stderr for its logger; PYTHON mode leaves logging to us.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    if kivy_home is not None:
        os.environ["KIVY_HOME"] = str(kivy_home)
    elif "KIVY_HOME" not in os.environ:
        os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="allhours-kivy-")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    from kivy.config import Config

    if headless:  # nobody watches: draw as fast as asked instead of pacing to 60 fps
        Config.set("graphics", "maxfps", "0")

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("kivy", "log_level", "warning")
    logging.getLogger("kivy").setLevel(logging.WARNING)  # Kivy set INFO on import
    Config.set("kivy", "exit_on_escape", "0")  # no keyboard escape from the kiosk
    Config.set("input", "mouse", "mouse,disable_multitouch")  # a right click leaves no dot
    Config.set("kivy", "keyboard_mode", "system")  # never the on-screen OS keyboard
    if fullscreen:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "borderless", "1")
        Config.set("graphics", "show_cursor", "0")


def cjk_font() -> Path:
    for path in CJK_FONTS:
        if path.exists():
            return path
    raise FontMissing(
        "no font with Chinese glyphs is installed; install the Debian package "
        "fonts-wqy-microhei (or fonts-noto-cjk), e.g. `make install`"
    )


def register_fonts() -> str:
    """Register the CJK font under FONT_NAME and make it Kivy's default; return the name."""
    from kivy.core.text import LabelBase

    path = str(cjk_font())
    LabelBase.register(FONT_NAME, path)
    LabelBase.register("Roboto", path)  # anything created without font_name also draws 中文
    return FONT_NAME
