"""A document camera that films generated paper pages: text lines and a red seal on white."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def render_page(
    title: str, lines: list[str], *, size: tuple[int, int] = (1240, 1754)
) -> np.ndarray:
    """An A4 page at 150 dpi with a title, body text and a red round seal."""
    w, h = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=36)
    body = ImageFont.load_default(size=26)
    draw.text((w * 0.1, h * 0.06), title, fill="black", font=font)
    for i, line in enumerate(lines):
        draw.text((w * 0.1, h * 0.14 + i * 44), line, fill=(20, 20, 20), font=body)
    cx, cy, r = int(w * 0.72), int(h * 0.8), int(w * 0.1)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(200, 20, 30), width=8)
    draw.text((cx - r * 0.6, cy - 14), "SEAL", fill=(200, 20, 30), font=font)
    return np.asarray(img)


class GeneratedPageSource:
    """Each capture returns the next generated page of the material being scanned."""

    def __init__(self, title: str = "Material", pages: int = 1):
        self.title = title
        self.pages = pages
        self.captured = 0

    def capture(self) -> np.ndarray:
        index = self.captured % self.pages
        self.captured += 1
        lines = [f"{self.title} - page {index + 1} of {self.pages}"] + [
            f"Line {n}: the quick brown fox jumps over the lazy dog." for n in range(1, 25)
        ]
        return render_page(self.title, lines)

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "generated", "captured": self.captured}
