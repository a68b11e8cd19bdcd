"""What the card screen tells a citizen when the reader refuses the document, in both languages."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ui_unit_kiosk import offline_kiosk

from demo_support.tour import SAMPLE_CITIZEN
from devices.identity.emrtd.errors import (
    AccessDenied,
    ChipAuthenticationFailed,
    CorruptData,
    PassportNotVerified,
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
        (PassportNotVerified("DG2 does not match its hash"), "en", "use your resident ID card"),
        (IdentityReadError("a failure no catalog names"), "en", "could not be read"),
    ],
    ids=[
        "wrong-mrz-en",
        "wrong-mrz-zh",
        "cloned-chip",
        "corrupt",
        "corrupt-subclass",
        "sod-mismatch",
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


@pytest.mark.parametrize(
    ("authenticity", "lang", "words"),
    [
        ("chip_read", "en", "This passport cannot be checked at this terminal"),
        ("chip_verified", "zh", "本机无法核验此护照"),
    ],
    ids=["no-sod-en", "untrusted-signer-zh"],
)
def test_a_passport_not_traced_to_its_state_is_refused_and_the_id_card_still_reads(
    tmp_path, authenticity, lang, words
):
    passport = replace(
        SAMPLE_CITIZEN, document_type="passport", authenticity=authenticity, chip_proof="passed"
    )
    with offline_kiosk(tmp_path, lang=lang) as (drv, devices, _key):
        s = drv.kiosk.screens
        drv.tap(s["home"].choices["submit"])
        drv.wait_screen("card")
        devices.reader.place(passport)
        drv.wait_for(lambda: words in s["card"].status.text, what=f"{words!r} on screen")
        assert drv.kiosk.current == "card"
        devices.reader.place(SAMPLE_CITIZEN)  # the resident ID card's path is unchanged
        drv.wait_screen("catalog")
