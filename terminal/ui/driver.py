"""Drive a kiosk without a person: put it in the window, pump frames, tap widgets, take pictures.

Used by `allhours screenshots`, the tests and the benchmark. Taps are real touch events that
travel Kivy's input dispatch from the window down, so a covered or disabled button stays
unpressed exactly as it would under a finger.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kivy.base import EventLoop
from kivy.core.window import Window
from kivy.tests.common import UnitTestTouch
from kivy.uix.widget import Widget

from terminal.ui.kiosk import Kiosk, walk

T = TypeVar("T")


class NotOnScreen(AssertionError):
    """A tap aimed at a widget the citizen cannot see."""


class KioskDriver:
    """One kiosk shown in this process's (single) Kivy window."""

    def __init__(self, kiosk: Kiosk):
        EventLoop.ensure_window()
        self.kiosk = kiosk
        self.window = Window
        Window.add_widget(kiosk.root)
        self._began = time.monotonic()
        # Where the session went: (seconds since start, screen, its texts as last sampled)
        self.trail: list[tuple[float, str, list[str]]] = []
        self._sampled = 0.0
        kiosk.start()
        self.pump(3)

    def pump(self, frames: int = 1) -> None:
        for _ in range(frames):
            EventLoop.idle()
            self._follow()

    def _follow(self) -> None:
        """Note each screen change, and the shown texts every half second."""
        now = time.monotonic()
        name = self.kiosk.current
        if not self.trail or self.trail[-1][1] != name:
            self.trail = [*self.trail[-15:], (round(now - self._began, 1), name, [])]
        elif now - self._sampled < 0.5:
            return
        self._sampled = now
        self.trail[-1] = (*self.trail[-1][:2], self.texts()[:6])

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, what: str = "") -> T:
        """Pump frames until predicate() is truthy; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what or predicate}; {self.showing()}; "
                    f"the way here: {self.trail!r}; {self.threads()}"
                )
            time.sleep(0.005)

    def texts(self) -> list[str]:
        """The texts on the screen shown."""
        screen = self.kiosk.screens.get(self.kiosk.current)
        return [
            t
            for w in (walk(screen) if screen is not None else [])
            if isinstance(t := getattr(w, "text", None), str) and t.strip()
        ]

    def showing(self) -> str:
        """The screen shown and the texts on it, to say where a wait got stuck."""
        return f"on screen {self.kiosk.current!r} showing {self.texts()[:12]!r}"

    @staticmethod
    def threads() -> str:
        """Where each of the kiosk's worker threads is, to say what a stuck wait waits on."""
        frames = sys._current_frames()
        stacks = [
            f"{t.name}:\n" + "".join(traceback.format_stack(frames[t.ident])[-6:])
            for t in threading.enumerate()
            if t.name.startswith("kiosk-") and t.ident in frames
        ]
        return "kiosk threads: " + ("\n".join(stacks) if stacks else "none")

    def wait_screen(self, name: str, timeout: float = 10.0) -> None:
        self.wait_for(lambda: self.kiosk.current == name, timeout, f"screen {name!r}")

    def tap(self, widget: Widget, *, settle: bool = True) -> None:
        """Press and release a finger on the widget's centre, in window coordinates.

        Dispatch is synchronous; one frame first lets layouts settle so positions are real.
        """
        if settle:
            self.pump()
        if widget.get_root_window() is None:
            raise NotOnScreen(f"{widget!r} ({getattr(widget, 'text', '')!r}) is not shown")
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def type(self, keypad, text: str) -> None:
        """Tap each key of our keypad (the keys do not move while typing)."""
        self.pump()
        for ch in text:
            self.tap(keypad.keys[ch], settle=False)

    def screenshot(self, path: Path) -> Path:
        self.pump(2)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.kiosk.root.export_to_png(str(path))
        return path

    def close(self) -> None:
        self.kiosk.stop()
        self.pump()
        Window.remove_widget(self.kiosk.root)
        self.pump()
