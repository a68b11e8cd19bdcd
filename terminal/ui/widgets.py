"""The kiosk's own widgets: themed labels and buttons, our numeric keypad, the live preview.

Every widget takes its look from the current `Theme` through `apply_theme(theme, dpi)`, which
the kiosk calls on the whole tree when the citizen switches to large text.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from kivy.graphics import Color, Line, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from terminal.ui.boot import FONT_NAME
from terminal.ui.theme import NORMAL, Theme


def paint(widget: Widget, rgba, *, border=None) -> Color:
    """Fill the widget's box with a colour that follows its position and size."""
    with widget.canvas.before:
        color = Color(*rgba)
        rect = Rectangle(pos=widget.pos, size=widget.size)
        if border is not None:
            Color(*border)
            line = Line(rectangle=(*widget.pos, *widget.size), width=2)

    def follow(*_):
        rect.pos, rect.size = widget.pos, widget.size
        if border is not None:
            line.rectangle = (*widget.pos, *widget.size)

    widget.bind(pos=follow, size=follow)
    return color


class KLabel(Label):
    """Text that wraps to its width and grows to its text's height."""

    role = StringProperty("body")
    tone = StringProperty("text")  # text | muted | danger | banner

    def __init__(self, role: str = "body", *, fixed_height: bool = False, **kw):
        kw.setdefault("font_name", FONT_NAME)
        kw.setdefault("halign", "left")
        kw.setdefault("valign", "middle")
        super().__init__(role=role, **kw)
        self.bind(width=lambda *_: setattr(self, "text_size", (self.width, None)))
        if not fixed_height:
            self.size_hint_y = None
            self.bind(texture_size=lambda *_: setattr(self, "height", self.texture_size[1] + 8))
        self.apply_theme(NORMAL, 96)

    def apply_theme(self, theme: Theme, dpi: float) -> None:
        self.font_size = theme.size(self.role)
        self.color = {
            "text": theme.text,
            "muted": theme.muted,
            "danger": theme.danger,
            "banner": theme.banner_text,
        }[self.tone]


class KButton(Button):
    """A big press target; never smaller than the theme's touch size at the screen's dpi."""

    role = StringProperty("primary")  # primary | secondary | danger | key

    def __init__(self, role: str = "primary", on_press: Callable[[], None] | None = None, **kw):
        kw.setdefault("font_name", FONT_NAME)
        kw.setdefault("halign", "center")
        kw.setdefault("valign", "middle")
        super().__init__(role=role, background_normal="", background_down="", **kw)
        self.bind(size=lambda *_: setattr(self, "text_size", (self.width - 16, None)))
        if on_press is not None:
            self.bind(on_release=lambda *_: on_press())
        self.apply_theme(NORMAL, 96)

    def apply_theme(self, theme: Theme, dpi: float) -> None:
        self.font_size = theme.size("key" if self.role == "key" else "button")
        fill = {
            "primary": theme.primary,
            "secondary": theme.secondary,
            "danger": theme.danger,
            "key": theme.surface,
        }[self.role]
        self.background_color = fill
        self.color = theme.primary_text if self.role in ("primary", "danger") else theme.text
        side = theme.touch_px(dpi)
        self.size_hint_min = (side, side)


class Panel(BoxLayout):
    """A vertical box on the screen's background colour."""

    def __init__(self, **kw):
        kw.setdefault("orientation", "vertical")
        kw.setdefault("padding", 24)
        kw.setdefault("spacing", 16)
        super().__init__(**kw)
        self._fill = paint(self, NORMAL.background)

    def apply_theme(self, theme: Theme, dpi: float) -> None:
        self._fill.rgba = theme.background


class Banner(KLabel):
    """A strip across the top with news the citizen should know (offline, errors)."""

    def __init__(self, **kw):
        self._fill = None
        super().__init__("body", tone="banner", fixed_height=True, halign="center", **kw)
        self.size_hint_y = None
        self.height = 0
        self.opacity = 0
        self.padding = (16, 12)
        self._fill = paint(self, NORMAL.banner)
        self.bind(texture_size=lambda *_: self._fit())

    def _fit(self) -> None:
        self.height = self.texture_size[1] + 8 if self.opacity else 0

    def show(self, text: str) -> None:
        self.text, self.opacity = text, 1
        self._fit()

    def hide(self) -> None:
        self.text, self.opacity = "", 0
        self._fit()

    def apply_theme(self, theme: Theme, dpi: float) -> None:
        super().apply_theme(theme, dpi)
        if self._fill is None:
            return
        self._fill.rgba = theme.banner


DIGITS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "back")
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Keypad(BoxLayout):
    """Our own keypad (never the OS keyboard): digits, or digits and Latin capitals.

    `value` is what was typed. The display shows it, or only its last characters when
    `masked` (pickup codes are shown as dots).
    """

    value = StringProperty("")

    def __init__(
        self,
        *,
        max_len: int,
        letters: bool = False,
        digits: bool = True,
        masked: bool = False,
        labels: Callable[[str], str] = lambda key: key,
        **kw,
    ):
        kw.setdefault("orientation", "vertical")
        kw.setdefault("spacing", 8)
        super().__init__(**kw)
        self.max_len, self.masked, self.labels = max_len, masked, labels
        self.display = KLabel("key", fixed_height=True, halign="center", size_hint_y=None)
        self.display.height = 84
        self._display_fill = paint(self.display, NORMAL.surface, border=NORMAL.muted)
        self.add_widget(self.display)
        if letters:
            keys = (tuple("1234567890") if digits else ()) + LETTERS + ("clear", "back")
            cols = 10 if digits else 7
        else:
            keys, cols = DIGITS, 3
        self.grid = GridLayout(cols=cols, spacing=8)
        self.keys: dict[str, KButton] = {}
        for key in keys:
            special = key in ("clear", "back")
            button = KButton("secondary" if special else "key", text="" if special else key)
            button.key = key
            button.bind(on_release=lambda b: self.press(b.key))
            self.keys[key] = button
            self.grid.add_widget(button)
        self.add_widget(self.grid)
        self.bind(value=lambda *_: self._show())
        self.retranslate()

    def retranslate(self) -> None:
        for key in ("clear", "back"):
            self.keys[key].text = self.labels(f"keypad.{key}")

    def press(self, key: str) -> None:
        if key == "clear":
            self.value = ""
        elif key == "back":
            self.value = self.value[:-1]
        elif len(self.value) < self.max_len:
            self.value += key

    def clear(self) -> None:
        self.value = ""

    def _show(self) -> None:
        self.display.text = "●" * len(self.value) if self.masked else self.value

    def apply_theme(self, theme: Theme, dpi: float) -> None:
        self._display_fill.rgba = theme.surface


class Preview(Widget):
    """A live camera picture: each frame is blitted into one reused texture."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.texture: Texture | None = None
        self.frames = 0
        with self.canvas:
            Color(1, 1, 1, 1)
            self._rect = Rectangle(pos=self.pos, size=(0, 0))
        self.bind(pos=self._fit, size=self._fit)

    def show_frame(self, frame: np.ndarray) -> None:
        """Show one RGB frame (height, width, 3) uint8."""
        h, w = frame.shape[:2]
        if self.texture is None or self.texture.size != (w, h):
            self.texture = Texture.create(size=(w, h), colorfmt="rgb")
            self.texture.flip_vertical()  # numpy rows run top-down, GL's bottom-up
        self.texture.blit_buffer(
            np.ascontiguousarray(frame).tobytes(), colorfmt="rgb", bufferfmt="ubyte"
        )
        self._rect.texture = self.texture
        self.frames += 1
        self._fit()

    def clear(self) -> None:
        """Forget the picture: the texture with a face or a page on it is dropped."""
        self.texture = None
        self._rect.texture = None
        self._rect.size = (0, 0)
        self.frames = 0

    def _fit(self, *_):
        if self.texture is None:
            return
        tw, th = self.texture.size
        scale = min(self.width / tw, self.height / th) if tw and th else 0
        w, h = tw * scale, th * scale
        self._rect.size = (w, h)
        self._rect.pos = (self.x + (self.width - w) / 2, self.y + (self.height - h) / 2)
