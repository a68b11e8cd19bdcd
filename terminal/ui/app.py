"""The kiosk as a Kivy App: fullscreen, no decorations, no keyboard way out.

A citizen must not be able to leave the kiosk: Escape, Alt+F4 (window close), the F1 settings
panel and other function keys do nothing. Only the service (systemd) stops it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kivy.app import App
from kivy.core.window import Window

from terminal.ui.kiosk import Kiosk

log = logging.getLogger(__name__)

# SDL key codes: Escape, F1-F12.
BLOCKED_KEYS = {27, *range(282, 294)}


class KioskApp(App):
    """Runs one Kiosk until the process is told to stop."""

    title = "allhours"
    use_kivy_settings = False

    def __init__(self, make_kiosk: Callable[[], Kiosk], **kw):
        super().__init__(**kw)
        self.make_kiosk = make_kiosk
        self.kiosk: Kiosk | None = None
        self.stopping = False

    def build(self):
        self.kiosk = self.make_kiosk()
        return self.kiosk.root

    def on_start(self) -> None:
        Window.bind(on_request_close=self._refuse_close, on_keyboard=self._swallow_keys)
        assert self.kiosk is not None
        self.kiosk.start()
        log.warning("kiosk running (%dx%d)", *Window.size)

    def on_stop(self) -> None:
        if self.kiosk is not None:
            self.kiosk.stop()

    def shutdown(self) -> None:
        """Stop for real (SIGTERM from systemd)."""
        self.stopping = True
        self.stop()

    def open_settings(self, *args) -> bool:
        return False  # F1 opens nothing

    def _refuse_close(self, *args, **kw) -> bool:
        return not self.stopping  # True: the window stays

    @staticmethod
    def _swallow_keys(window, key, *args) -> bool:
        return key in BLOCKED_KEYS
