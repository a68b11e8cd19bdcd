"""Scanned materials as page images at a readable size, rendered on the server with PDFium.

The files come from terminals: their SHA-256 is checked, their content is not. So nothing is
decoded beyond a pixel budget, and a file that will not decode is a page that cannot be shown.
"""

from __future__ import annotations

import io
import logging
import math
import threading
from pathlib import Path

from sqlalchemy.orm import Session

from ..blobs import BlobStore
from ..models import Material
from ..workflow import NotFound

log = logging.getLogger(__name__)

PAGE_WIDTH_PX = 1100  # an A4 page's small print stays legible on an office screen
MAX_PAGE_PIXELS = 6_000_000  # a rendered PDF page, counted in the whole pixels PDFium allocates
# An image's declared size, checked before it is decoded. Kiosk scans are A4 at 150 dpi
# (1240 × 1754, 2.2 MP) and USB imports are rendered within 5 MP; 20 MP leaves room for both.
MAX_IMAGE_PIXELS = 20_000_000
MAX_PAGES = 100
# PDFium is not thread-safe and FastAPI runs sync routes on a thread pool.
_PDFIUM = threading.Lock()


class PageUnavailable(Exception):
    """The file is missing, not verified, not a readable PDF or image, too large to decode, or
    has no such page."""


def material(session: Session, application_no: str, material_id: int) -> Material:
    """The material, only if it belongs to this application."""
    row = session.get(Material, material_id)
    if row is None or row.application_no != application_no:
        raise NotFound(f"no material {material_id} on {application_no}")
    return row


def page_count(blobs: BlobStore, row: Material) -> int:
    """Pages in the stored file (1 for an image whose header is readable and within bounds)."""
    path = _verified_path(blobs, row)
    if row.content_type != "application/pdf":
        from PIL import Image

        try:
            with Image.open(path, formats=["JPEG", "PNG"]) as image:  # reads the header only
                _check_image_size(row, image.width, image.height)
        except PageUnavailable:
            raise
        except Exception as exc:  # anything a malformed file makes Pillow raise
            raise _unreadable(row, None, exc) from exc
        return 1
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(path)
        except Exception as exc:  # PdfiumError, or worse, for bytes that are not a PDF
            raise _unreadable(row, None, exc) from exc
        try:
            return min(len(pdf), MAX_PAGES)
        finally:
            pdf.close()


def page_png(blobs: BlobStore, row: Material, index: int) -> bytes:
    """One page as PNG, PAGE_WIDTH_PX wide (smaller if that would exceed the pixel budget)."""
    path = _verified_path(blobs, row)
    if row.content_type != "application/pdf":
        if index != 0:
            raise PageUnavailable("an image has one page")
        try:
            return _image_png(row, path)
        except PageUnavailable:
            raise
        except Exception as exc:  # anything a malformed file makes Pillow raise
            raise _unreadable(row, 1, exc) from exc
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(path)
        except Exception as exc:  # PdfiumError, or worse, for bytes that are not a PDF
            raise _unreadable(row, index + 1, exc) from exc
        try:
            if not 0 <= index < min(len(pdf), MAX_PAGES):
                raise PageUnavailable(f"no page {index + 1}")
            page = pdf[index]
            width, height = page.get_size()
            if not (math.isfinite(width) and math.isfinite(height)) or width < 1 or height < 1:
                raise PageUnavailable(f"page {index + 1} is empty")
            image = page.render(scale=_render_scale(width, height)).to_pil().convert("RGB")
        except PageUnavailable:
            raise
        except Exception as exc:  # a page PDFium cannot load or draw
            raise _unreadable(row, index + 1, exc) from exc
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def _render_scale(width: float, height: float) -> float:
    """Points to pixels: PAGE_WIDTH_PX wide, or less so that the bitmap PDFium allocates, each
    side rounded up to a whole pixel, stays within MAX_PAGE_PIXELS however odd the page's shape.

    (w·s + 1)(h·s + 1) ≤ M bounds ⌈w·s⌉·⌈h·s⌉; its root, in a form without cancellation, is
    s = 2(M − 1) / ((w + h) + √((w + h)² + 4wh(M − 1))).
    """
    budget, span = MAX_PAGE_PIXELS - 1, width + height
    fit = 2 * budget / (span + math.sqrt(span * span + 4 * width * height * budget))
    scale = min(PAGE_WIDTH_PX / width, fit)
    if math.ceil(width * scale) * math.ceil(height * scale) > MAX_PAGE_PIXELS:
        raise PageUnavailable("the page does not fit the pixel budget")  # rounding, in theory
    return scale


def _verified_path(blobs: BlobStore, row: Material) -> Path:
    path = blobs.path_for(row.sha256)
    if not row.verified or not path.is_file():
        raise PageUnavailable("the file has not arrived or was not verified")
    return path


def _check_image_size(row: Material, width: int, height: int) -> None:
    """Refuse an image whose header declares more pixels than a scan has, before decoding it."""
    if width * height > MAX_IMAGE_PIXELS:
        log.warning(
            "material %s of %s: an image of %d × %d pixels is too large to decode",
            row.id,
            row.application_no,
            width,
            height,
        )
        raise PageUnavailable(f"an image of {width} × {height} pixels is too large")


def _unreadable(row: Material, page: int | None, exc: Exception) -> PageUnavailable:
    """A decode failure, logged for whoever looks into the terminal that sent the file."""
    what = "the file" if page is None else f"page {page}"
    log.warning(
        "material %s of %s (%s): %s cannot be decoded: %s: %s",
        row.id,
        row.application_no,
        row.content_type,
        what,
        type(exc).__name__,
        exc,
    )
    return PageUnavailable(f"{what} cannot be decoded")


def _image_png(row: Material, path: Path) -> bytes:
    from PIL import Image

    with Image.open(path, formats=["JPEG", "PNG"]) as image:  # reads the header only
        _check_image_size(row, image.width, image.height)
        image = image.convert("RGB")
        if image.width > PAGE_WIDTH_PX:
            image = image.resize((PAGE_WIDTH_PX, round(image.height * PAGE_WIDTH_PX / image.width)))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()
