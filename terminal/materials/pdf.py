"""A material's pages as one PDF: JPEGs we encode, embedded by img2pdf without re-compression.

img2pdf copies each JPEG stream into the PDF as it is (DCTDecode), so the file holds exactly
the bytes encoded here and the page size follows the JPEG's dpi: an A4 page at 150 dpi
becomes a 210 x 297 mm PDF page. Quality 65 with 4:2:0 chroma keeps print crisp (luma is at
full resolution) and seals red, at a fraction of a lossless page's size.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import img2pdf
import numpy as np
from PIL import Image

from terminal.materials.pipeline import PageResult

JPEG_QUALITY = 65
MEDIA_TYPE = "application/pdf"


@dataclass(frozen=True)
class MaterialContent:
    """What the outbox stages for one material: the bytes and their media type."""

    data: bytes
    media_type: str
    pages: int

    def __repr__(self) -> str:
        return f"MaterialContent({self.media_type}, {len(self.data)} bytes, {self.pages} pages)"


class EmptyMaterial(ValueError):
    """A material needs at least one accepted page."""


def encode_page(page: np.ndarray, dpi: float, quality: int = JPEG_QUALITY) -> bytes:
    """One page as a baseline JPEG carrying its dpi (4:2:0 chroma, optimised tables)."""
    img = Image.fromarray(np.ascontiguousarray(page[..., :3]).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    dots = max(1, round(dpi))
    img.save(buf, "JPEG", quality=quality, subsampling=2, optimize=True, dpi=(dots, dots))
    return buf.getvalue()


def pages_to_pdf(jpegs: Sequence[bytes]) -> bytes:
    """One PDF with one page per JPEG, sized from each JPEG's dpi."""
    if not jpegs:
        raise EmptyMaterial("no pages to put into the PDF")
    return img2pdf.convert(list(jpegs))


def material_content(
    pages: Sequence[PageResult], *, quality: int = JPEG_QUALITY, default_dpi: float = 150.0
) -> MaterialContent:
    """The accepted pages of one material as the PDF the outbox uploads."""
    jpegs = [
        encode_page(p.page, p.page_dpi or default_dpi, quality) for p in pages if p.page is not None
    ]
    return MaterialContent(pages_to_pdf(jpegs), MEDIA_TYPE, len(jpegs))
