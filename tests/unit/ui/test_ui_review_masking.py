"""The review screen, read from the ATM lobby: each document number masked by its own rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ui_unit_kiosk import PASSPORT_NO, offline_kiosk, walk_to_review

from demo_support.tour import SAMPLE_CITIZEN, SAMPLE_PHONE
from terminal.ui.kiosk import walk

PASSPORT_HOLDER = replace(
    SAMPLE_CITIZEN,
    document_type="passport",
    name="ZHANG SAN",
    number=PASSPORT_NO,
    authenticity="issuer_verified",  # as the kiosk takes a passport: traced to its CSCA
    chip_proof="passed",
)


def _review_lines(kiosk) -> list[str]:
    return [w.text for w in walk(kiosk.screens["review"].lines) if getattr(w, "text", "")]


@pytest.mark.parametrize(
    ("document", "shown", "hidden"),
    [
        # The ID card's rule (4 and 4) on a passport left 8 of its 9 characters: E123*5678.
        (PASSPORT_HOLDER, "E1*****78", ("E12345678", "E123*5678", "12345678")),
        (SAMPLE_CITIZEN, "1101**********002X", ("11010519491231002X",)),
    ],
    ids=["passport", "resident_id"],
)
def test_the_review_masks_the_document_number_by_its_type(tmp_path, document, shown, hidden):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        walk_to_review(drv, devices, document)
        k = drv.kiosk

        lines = _review_lines(k)

        assert f"{k.t('review.id_number')}: {shown}" in lines, lines
        for clear in (*hidden, document.name, SAMPLE_PHONE):
            assert not any(clear in line for line in lines), (clear, lines)
