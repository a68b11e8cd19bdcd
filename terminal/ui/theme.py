"""Colours, text sizes and touch-target sizes of the kiosk; no kivy here.

Touch targets are sized in millimetres at the screen's real density, because a fingertip is
physical: `MIN_TOUCH_MM` is the smallest side of anything a citizen can press.
"""

from __future__ import annotations

from dataclasses import dataclass

# 15 mm: above the 9-10 mm of phone guidelines, because many users are elderly, stand at
# arm's length and press with a knuckle (ISO 9241-9 and ATM practice recommend 15-20 mm).
MIN_TOUCH_MM = 15.0
# A 21.5" 1920x1080 panel, the common kiosk screen, has about 102 dots per inch.
DEFAULT_DPI = 102.0

RGBA = tuple[float, float, float, float]


def mm_to_px(mm: float, dpi: float) -> float:
    return mm / 25.4 * dpi


@dataclass(frozen=True)
class Theme:
    """One look: normal, or large text with high contrast."""

    name: str
    background: RGBA
    surface: RGBA
    text: RGBA
    muted: RGBA
    primary: RGBA
    primary_text: RGBA
    secondary: RGBA
    danger: RGBA
    banner: RGBA
    banner_text: RGBA
    title_px: float
    body_px: float
    button_px: float
    hint_px: float
    key_px: float
    touch_mm: float

    def size(self, role: str) -> float:
        return {
            "title": self.title_px,
            "body": self.body_px,
            "button": self.button_px,
            "hint": self.hint_px,
            "key": self.key_px,
        }[role]

    def touch_px(self, dpi: float) -> float:
        return mm_to_px(self.touch_mm, dpi)


NORMAL = Theme(
    name="normal",
    background=(0.95, 0.96, 0.98, 1),
    surface=(1, 1, 1, 1),
    text=(0.08, 0.1, 0.16, 1),
    muted=(0.3, 0.33, 0.4, 1),
    primary=(0.05, 0.32, 0.66, 1),
    primary_text=(1, 1, 1, 1),
    secondary=(0.85, 0.88, 0.93, 1),
    danger=(0.7, 0.1, 0.1, 1),
    banner=(0.98, 0.8, 0.2, 1),
    banner_text=(0.1, 0.1, 0.1, 1),
    title_px=40,
    body_px=28,
    button_px=30,
    hint_px=22,
    key_px=36,
    touch_mm=MIN_TOUCH_MM,
)

LARGE = Theme(
    name="large",
    background=(0, 0, 0, 1),
    surface=(0.08, 0.08, 0.08, 1),
    text=(1, 1, 1, 1),
    muted=(1, 0.92, 0.3, 1),
    primary=(1, 0.85, 0, 1),
    primary_text=(0, 0, 0, 1),
    secondary=(0.25, 0.25, 0.25, 1),
    danger=(1, 0.35, 0.3, 1),
    banner=(1, 1, 1, 1),
    banner_text=(0, 0, 0, 1),
    title_px=54,
    body_px=38,
    button_px=40,
    hint_px=32,
    key_px=48,
    touch_mm=20.0,
)


def contrast_ratio(fg: RGBA, bg: RGBA) -> float:
    """WCAG 2 contrast ratio between two opaque colours."""

    def lum(c: RGBA) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])

    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
