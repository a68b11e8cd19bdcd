"""Pages become one PDF whose images are exactly the JPEGs we encoded, at the paper's size."""

from __future__ import annotations

import io

import pikepdf
import pytest

from devices.camera.document_scene import generated_sample
from terminal.materials.pdf import (
    MEDIA_TYPE,
    EmptyMaterial,
    encode_page,
    material_content,
    pages_to_pdf,
)
from terminal.materials.pipeline import PageResult, process_frame


@pytest.fixture(scope="module")
def pages():
    """An A4 page from a full 8 MP capture, and an ID card from a 3 MP one."""
    out = []
    for seed, paper, size in ((11, "A4", (3264, 2448)), (13, "ID-1", (2048, 1536))):
        result = process_frame(generated_sample(seed, "clean", size=size, paper=paper).frame)
        assert result.ok, result
        out.append(result)
    return out


def test_a_material_is_one_pdf_with_a_page_per_accepted_page(pages):
    content = material_content(pages)
    assert content.media_type == MEDIA_TYPE == "application/pdf"
    assert content.pages == 2 and content.data.startswith(b"%PDF-")
    with pikepdf.open(io.BytesIO(content.data)) as pdf:
        assert len(pdf.pages) == 2
        sizes_mm = []
        for page in pdf.pages:
            box = [float(v) for v in page.mediabox]
            sizes_mm.append(sorted(((box[2] - box[0]) / 72 * 25.4, (box[3] - box[1]) / 72 * 25.4)))
    assert sizes_mm[0] == pytest.approx([210.0, 297.0], abs=1.5)
    assert sizes_mm[1] == pytest.approx([53.98, 85.6], abs=1.0)


def test_the_jpegs_are_embedded_without_recompression(pages):
    jpeg = encode_page(pages[0].page, pages[0].page_dpi)
    with pikepdf.open(io.BytesIO(pages_to_pdf([jpeg]))) as pdf:
        (image,) = pdf.pages[0].get_images().values()
        assert image.Filter == pikepdf.Name.DCTDecode
        assert image.read_raw_bytes() == jpeg


def test_pages_are_at_least_150_dpi_and_a4_is_compact(pages):
    a4 = pages[0]
    assert a4.page_dpi >= 150 and a4.dpi >= 150
    short, long_ = sorted(a4.page.shape[:2])
    assert long_ >= 297 / 25.4 * 150 - 2 and short >= 210 / 25.4 * 150 - 2
    assert len(encode_page(a4.page, a4.page_dpi)) < 300 * 1024


def test_no_pages_is_an_error_not_an_empty_file():
    with pytest.raises(EmptyMaterial):
        material_content([PageResult(("blurred",))])


def test_the_content_repr_shows_no_pixels(pages):
    text = repr(material_content(pages[:1]))
    assert "bytes" in text and len(text) < 100
