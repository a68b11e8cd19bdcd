"""The MRZ's characters told by their shapes against OCR-B's glyphs.

ICAO 9303 prints every MRZ in one typeface, OCR-B, at a fixed pitch, so a reader need not
guess the font: each character is one connected mark (`line_marks`), compared with the 37
glyphs the MRZ may hold, rendered at the block's pitch. Both the mark and the glyph are set
in the middle of the same cell at the same scale (size tells a filler from a letter, width an
I from an M), blurred a little against stroke weight and noise, and compared by normalised
correlation; the best glyph is the reading. Position rules and check digits then decide, as
for any reading (`mrz_fields`): no glyph is chosen to make a check digit agree.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image, ImageDraw

from devices.identity.emrtd.ocr_b import ocr_b, size_for_pitch
from terminal.materials.mrz_fillers import LINE_CHARS, line_marks

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
BLUR_PX = 1.5


def glyph_lines(ink: np.ndarray, pitch_px: int) -> list[str] | None:
    """The two lines of a TD3 block (binarised, ink = 255, scaled to `pitch_px` per
    character) read glyph by glyph; None unless both lines have 44 marks."""
    lines = [marks for marks in line_marks(ink) if len(marks) == LINE_CHARS]
    if len(lines) != 2:
        return None
    names, table, cell = _glyphs(pitch_px)
    out = []
    for marks in lines:
        shapes = np.stack([_shape(ink[y : y + h, x : x + w] > 0, cell) for x, y, w, h in marks])
        scores = shapes.reshape(len(marks), -1) @ table.T
        out.append("".join(names[i] for i in scores.argmax(axis=1)))
    return out


@functools.lru_cache(maxsize=4)
def _glyphs(pitch_px: int) -> tuple[str, np.ndarray, tuple[int, int]]:
    """The alphabet, its glyph shapes as rows, and the comparison cell (w, h) for a pitch."""
    font = ocr_b(size_for_pitch(pitch_px))
    cell = (round(pitch_px * 1.2), round(pitch_px * 1.6))
    rows = []
    for ch in ALPHABET:
        img = Image.new("L", (3 * pitch_px, 3 * pitch_px), 0)
        ImageDraw.Draw(img).text((pitch_px, pitch_px // 2), ch, fill=255, font=font)
        glyph = np.asarray(img) > 127
        ys, xs = np.nonzero(glyph)
        rows.append(_shape(glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], cell).ravel())
    return ALPHABET, np.stack(rows), cell


def _shape(mark: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """A mark centred in the cell at its own scale (shrunk only if larger), blurred, and
    normalised to zero mean and unit length."""
    width, height = cell
    canvas = np.zeros((height, width), np.float32)
    h, w = mark.shape
    part = mark.astype(np.float32)
    if w > width or h > height:
        scale = min(width / w, height / h)
        w, h = max(1, int(w * scale)), max(1, int(h * scale))
        part = cv2.resize(part, (w, h), interpolation=cv2.INTER_AREA)
    y0, x0 = (height - h) // 2, (width - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = part
    canvas = cv2.GaussianBlur(canvas, (0, 0), BLUR_PX)
    canvas -= canvas.mean()
    norm = float(np.linalg.norm(canvas))
    return canvas / norm if norm else canvas
