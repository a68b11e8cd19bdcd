"""What the card screen tells a citizen when the reader refuses the document, in both languages."""

from __future__ import annotations

import pytest
from ui_unit_kiosk import offline_kiosk

from demo_support.tour import SAMPLE_CITIZEN
from devices.identity.emrtd.errors import (
    AccessDenied,
    ChipAuthenticationFailed,
    CorruptData,
    TlvError,
)
from devices.identity.port import IdentityReadError


@pytest.mark.parametrize(
    ("error", "lang", "words"),
    [
        (AccessDenied("EXTERNAL AUTHENTICATE refused"), "en", "birth date and expiry"),
        (AccessDenied("EXTERNAL AUTHENTICATE refused"), "zh", "出生日期和有效期"),
        (ChipAuthenticationFailed("another key"), "en", "staff-assisted"),
        (CorruptData("a garbled answer"), "en", "data that could not be verified"),
        (TlvError("a length past the end"), "zh", "未能通过核验"),
        (IdentityReadError("a failure no catalog names"), "en", "could not be read"),
    ],
    ids=[
        "wrong-mrz-en",
        "wrong-mrz-zh",
        "cloned-chip",
        "corrupt",
        "corrupt-subclass",
        "anything-else",
    ],
)
def test_the_card_screen_names_what_to_do_and_the_next_document_is_read(
    tmp_path, error, lang, words
):
    with offline_kiosk(tmp_path, lang=lang) as (drv, devices, _key):
        s = drv.kiosk.screens
        drv.tap(s["home"].choices["submit"])
        drv.wait_screen("card")
        devices.reader.place_unreadable(error)
        drv.wait_for(lambda: words in s["card"].status.text, what=f"{words!r} on screen")
        assert drv.kiosk.current == "card"
        devices.reader.place(SAMPLE_CITIZEN)  # the citizen tries again and it reads
        drv.wait_screen("catalog")
