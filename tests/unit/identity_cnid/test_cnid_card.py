"""The card's text file (GA/T 490 layout) and the ID number check (GB 11643-1999)."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest

from devices.identity.cnid.card import (
    CardDataError,
    UnsupportedCardType,
    check_digit,
    decode_text,
    encode_text,
    validate_id_number,
)

# The worked example of GB 11643-1999: check value 10, written 'X'.
STANDARD_EXAMPLE = "11010519491231002X"


def _field(text: str, size: int) -> bytes:
    raw = text.encode("utf-16-le")
    return raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)


def handmade_text(**override: str) -> bytes:
    """A text file laid out by hand from the standard's sizes, independent of encode_text."""
    f = {
        "name": "王小明",
        "sex": "2",
        "ethnic": "03",
        "birth": "19491231",
        "address": "北京市西城区西长安街1号",
        "number": STANDARD_EXAMPLE,
        "authority": "北京市公安局西城分局",
        "from": "20150301",
        "to": "20350301",
        "reserved": "",
    } | override
    return (
        _field(f["name"], 30)
        + _field(f["sex"], 2)
        + _field(f["ethnic"], 4)
        + _field(f["birth"], 16)
        + _field(f["address"], 70)
        + _field(f["number"], 36)
        + _field(f["authority"], 30)
        + _field(f["from"], 16)
        + _field(f["to"], 16)
        + _field(f["reserved"], 36)
    )


def test_check_digit_of_the_standard_example_is_x() -> None:
    assert check_digit(STANDARD_EXAMPLE[:17]) == "X"
    validate_id_number(STANDARD_EXAMPLE)


@pytest.mark.parametrize(
    ("first17", "expected"),
    [("11010519800101001", "6"), ("44030419900307123", "X"), ("32010619991231345", "6")],
)
def test_check_digit_mod_11_2(first17: str, expected: str) -> None:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    # ISO 7064 MOD 11-2: the full number, check value included with weight 1, is 1 mod 11.
    value = 10 if expected == "X" else int(expected)
    assert (sum(int(d) * w for d, w in zip(first17, weights, strict=True)) + value) % 11 == 1
    assert check_digit(first17) == expected


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit
        "11010519491231002x",  # lower-case x is not the standard's character
        "1101051949123100",  # too short
        "110105194913310028",  # month 13
        "A1010519491231002X",
    ],
)
def test_bad_numbers_are_refused_without_echoing_them(number: str) -> None:
    with pytest.raises(CardDataError) as info:
        validate_id_number(number)
    assert number not in str(info.value)


def test_text_file_decodes_field_by_field() -> None:
    card = decode_text(handmade_text())
    assert card.name == "王小明"
    assert card.sex == "F" and card.sex_code == "2"
    assert card.ethnic_code == "03" and card.ethnic_group == "回"
    assert card.birth_date == date(1949, 12, 31)
    assert card.address == "北京市西城区西长安街1号"
    assert card.number == STANDARD_EXAMPLE
    assert card.authority == "北京市公安局西城分局"
    assert card.valid_from == date(2015, 3, 1)
    assert card.valid_to == date(2035, 3, 1)
    assert "王" not in repr(card) and STANDARD_EXAMPLE not in repr(card)


def test_encode_text_matches_the_handmade_layout() -> None:
    assert (
        encode_text(
            name="王小明",
            sex_code="2",
            ethnic_code="03",
            birth="19491231",
            address="北京市西城区西长安街1号",
            number=STANDARD_EXAMPLE,
            authority="北京市公安局西城分局",
            valid_from="20150301",
            valid_to="20350301",
        )
        == handmade_text()
    )


def test_the_number_sits_at_byte_122() -> None:
    text = handmade_text()
    assert text[122 : 122 + 36].decode("utf-16-le") == STANDARD_EXAMPLE


def test_long_term_card_has_no_end_date() -> None:
    assert decode_text(handmade_text(to="长期")).valid_to is None


@pytest.mark.parametrize(("code", "sex"), [("1", "M"), ("2", "F"), ("0", None), ("9", None)])
def test_sex_codes_follow_gb_t_2261_1(code: str, sex: str | None) -> None:
    assert decode_text(handmade_text(sex=code)).sex == sex


def test_every_gb_3304_group_decodes() -> None:
    assert decode_text(handmade_text(ethnic="01")).ethnic_group == "汉"
    assert decode_text(handmade_text(ethnic="56")).ethnic_group == "基诺"
    assert decode_text(handmade_text(ethnic="98")).ethnic_group == "外国血统中国籍人士"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"number": "110105194912310021"}, "check digit"),
        ({"birth": "19500101"}, "disagrees"),
        ({"ethnic": "57"}, "GB 3304"),
        ({"sex": "3"}, "2261"),
        ({"from": "20151301"}, "calendar"),
        ({"to": "20100101"}, "ends before"),
        ({"name": ""}, "name"),
    ],
)
def test_inconsistent_cards_are_refused(override: dict[str, str], reason: str) -> None:
    with pytest.raises(CardDataError, match=reason):
        decode_text(handmade_text(**override))


def test_foreign_permanent_resident_card_is_recognised_and_refused() -> None:
    text = bytearray(handmade_text())
    text[248:250] = "I".encode("utf-16-le")
    with pytest.raises(UnsupportedCardType, match="foreign"):
        decode_text(bytes(text))


def test_text_of_the_wrong_size_or_encoding_is_refused() -> None:
    with pytest.raises(CardDataError, match="256"):
        decode_text(handmade_text()[:200])
    broken = bytearray(handmade_text())
    broken[0:2] = b"\x00\xd8"  # a lone UTF-16 surrogate
    with pytest.raises(CardDataError, match="UCS-2"):
        decode_text(bytes(broken))


def test_random_text_files_only_raise_card_data_errors() -> None:
    import random

    from devices.identity.cnid.errors import ReaderFrameError
    from devices.identity.cnid.reader import split_base_info

    rng = random.Random(490)
    good = handmade_text()
    for _ in range(3000):
        text = bytearray(good)
        for _ in range(rng.randrange(1, 8)):
            text[rng.randrange(256)] = rng.randrange(256)
        with contextlib.suppress(CardDataError):
            decode_text(bytes(text))
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
        with contextlib.suppress(ReaderFrameError):
            split_base_info(blob + bytes(rng.randrange(0, 1400)))


def test_unicode_digits_are_not_id_digits() -> None:
    with pytest.raises(CardDataError):
        validate_id_number("1101051949123100²X")
    with pytest.raises(CardDataError):
        decode_text(handmade_text(birth="1949123¹"))
