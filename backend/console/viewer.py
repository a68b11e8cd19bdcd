"""Scanned materials as page images at a readable size, rendered on the server with PDFium."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from sqlalchemy.orm import Session

from ..blobs import BlobStore
from ..models import Material
from ..workflow import NotFound

PAGE_WIDTH_PX = 1100  # an A4 page's small print stays legible on an office screen
MAX_PAGE_PIXELS = 6_000_000
MAX_PAGES = 100
# PDFium is not thread-safe and FastAPI runs sync routes on a thread pool.
_PDFIUM = threading.Lock()


class PageUnavailable(Exception):
    """The file is missing, not verified, not a PDF or image, or has no such page."""


def material(session: Session, application_no: str, material_id: int) -> Material:
    """The material, only if it belongs to this application."""
    row = session.get(Material, material_id)
    if row is None or row.application_no != application_no:
        raise NotFound(f"no material {material_id} on {application_no}")
    return row


def page_count(blobs: BlobStore, row: Material) -> int:
    """Pages in the stored file (1 for an image)."""
    path = _verified_path(blobs, row)
    if row.content_type != "application/pdf":
        return 1
    import pypdfium2 as pdfium

    with _PDFIUM:
        pdf = pdfium.PdfDocument(path)
        try:
            return min(len(pdf), MAX_PAGES)
        finally:
            pdf.close()


def page_png(blobs: BlobStore, row: Material, index: int) -> bytes:
    """One page as PNG, PAGE_WIDTH_PX wide (never more than MAX_PAGE_PIXELS)."""
    path = _verified_path(blobs, row)
    if row.content_type != "application/pdf":
        if index != 0:
            raise PageUnavailable("an image has one page")
        return _image_png(path)
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise PageUnavailable("the file is not a readable PDF") from exc
        try:
            if not 0 <= index < min(len(pdf), MAX_PAGES):
                raise PageUnavailable(f"no page {index + 1}")
            page = pdf[index]
            width, height = page.get_size()
            if width < 1 or height < 1:
                raise PageUnavailable("an empty page")
            scale = PAGE_WIDTH_PX / width
            if width * height * scale * scale > MAX_PAGE_PIXELS:
                scale = (MAX_PAGE_PIXELS / (width * height)) ** 0.5
            image = page.render(scale=scale).to_pil().convert("RGB")
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def _verified_path(blobs: BlobStore, row: Material) -> Path:
    path = blobs.path_for(row.sha256)
    if not row.verified or not path.is_file():
        raise PageUnavailable("the file has not arrived or was not verified")
    return path


def _image_png(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path, formats=["JPEG", "PNG"]) as image:
        image = image.convert("RGB")
        if image.width > PAGE_WIDTH_PX:
            image = image.resize((PAGE_WIDTH_PX, round(image.height * PAGE_WIDTH_PX / image.width)))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()
