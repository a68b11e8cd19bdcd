"""OCR-B, the typeface ICAO 9303 prints every machine-readable zone in (ISO 1073-2).

Debian ships it as fonts-ocr-b. The MRZ reader compares the marks it sees with these glyphs;
the generated passport pages print their MRZ with them.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

OCR_B = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")


class FontMissing(RuntimeError):
    """The OCR-B font is not installed (Debian package fonts-ocr-b)."""


@functools.lru_cache(maxsize=8)
def ocr_b(size_px: int) -> ImageFont.FreeTypeFont:
    """OCR-B at `size_px`; FontMissing names the package to install."""
    if not OCR_B.exists():
        raise FontMissing(f"{OCR_B} not found: install the Debian package fonts-ocr-b")
    return ImageFont.truetype(str(OCR_B), size_px)


def size_for_pitch(pitch_px: float) -> int:
    """The OCR-B size whose character advance is `pitch_px` (OCR-B is monospaced)."""
    return max(8, round(pitch_px / (ocr_b(100).getlength("A") / 100.0)))
