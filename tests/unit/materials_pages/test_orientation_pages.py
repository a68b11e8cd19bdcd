"""Page orientation: a sheet turned 90, 180 or 270 degrees comes out upright, or as it lay when
the print does not tell clearly; never turned the wrong way."""

from __future__ import annotations

import cv2
import numpy as np
import pikepdf
import pytest
from orientation_pages import chinese_page, cjk_font, latin_form, latin_letter, turned

from demo_support.samples import sample
from devices.camera.emulated import GeneratedPageSource
from terminal.materials.orientation import detect, upright
from terminal.materials.pipeline import process_frame

TURNS = (0, 90, 180, 270)


def _tally(pages: list[np.ndarray]) -> dict[int, tuple[int, int]]:
    """Per turn: (pages set upright, pages turned wrongly); the rest were left as they lay."""
    tally = {}
    for turn in TURNS:
        right = wrong = 0
        for page in pages:
            fixed, found = upright(turned(page, turn))
            if found.sure:
                if found.turn == turn and np.array_equal(fixed, page):
                    right += 1
                else:
                    wrong += 1
        tally[turn] = (right, wrong)
    return tally


@pytest.mark.parametrize("make", [latin_form, latin_letter], ids=["form", "letter"])
def test_latin_pages_come_out_upright_from_every_turn(make):
    pages = [make(seed) for seed in range(5)]
    assert _tally(pages) == {turn: (5, 0) for turn in TURNS}


@pytest.mark.parametrize("justified", [False, True], ids=["ragged", "justified"])
def test_chinese_pages_come_out_upright_or_stay_and_are_never_turned_wrong(justified):
    if cjk_font(20) is None:
        pytest.skip("no CJK font installed (fonts-wqy-microhei)")
    pages = [chinese_page(seed, justified=justified) for seed in range(6)]
    tally = _tally(pages)
    assert all(wrong == 0 for _right, wrong in tally.values()), tally
    assert all(right >= 4 for right, _wrong in tally.values()), tally


def test_a_photographed_book_page_is_set_upright_from_every_turn():
    bgr = cv2.imread(str(sample("page")), cv2.IMREAD_COLOR)
    page = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert _tally([page]) == {turn: (1, 0) for turn in TURNS}


def test_slanted_handwriting_is_left_as_it_lay():
    bgr = cv2.imread(str(sample("text")), cv2.IMREAD_COLOR)
    page = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    for turn in TURNS:
        fixed, found = upright(turned(page, turn))
        assert not found.sure and fixed.shape == turned(page, turn).shape


@pytest.mark.parametrize(
    "page",
    [
        np.full((1754, 1240, 3), 250, np.uint8),
        np.random.default_rng(1).integers(0, 256, (600, 400, 3), dtype=np.uint8),
        np.zeros((1, 1, 3), np.uint8),
        "not an image",
    ],
    ids=["blank", "noise", "one-pixel", "not-an-image"],
)
def test_pages_without_print_are_not_turned(page):
    found = detect(page)
    assert (found.turn, found.sure) == (0, False)


def test_a_sheet_placed_sideways_on_the_desk_is_kept_upright_by_the_pipeline():
    source = GeneratedPageSource("Lease", 1)
    straight = process_frame(source.still())
    sideways = process_frame(turned(source.still(), 90))
    assert straight.ok and sideways.ok and straight.turn == 0 and sideways.turn == 90
    assert sideways.page.shape == straight.page.shape  # portrait, like the sheet
    a = cv2.cvtColor(straight.page, cv2.COLOR_RGB2GRAY).astype(np.float32)
    b = cv2.cvtColor(sideways.page, cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) > 0.8
    upside_down = process_frame(turned(source.still(), 180))
    assert upside_down.turn == 180
    assert "turn=180" in repr(upside_down) and "array" not in repr(upside_down)


def test_allhours_scan_reports_a_sideways_sheet_and_writes_it_upright(tmp_path, capsys):
    from allhours.cli import main

    source = GeneratedPageSource("Lease", 1)
    image = tmp_path / "sideways.png"
    cv2.imwrite(str(image), cv2.cvtColor(turned(source.still(), 270), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.pdf"
    assert main(["scan", str(image), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "lay turned 270 degrees, kept upright" in said
    with pikepdf.open(out) as pdf:
        box = pdf.pages[0].mediabox
        assert float(box[3]) > float(box[2])  # portrait, as the sheet is
