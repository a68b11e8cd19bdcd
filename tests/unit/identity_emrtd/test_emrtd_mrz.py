"""MRZ parsing and the BAC key input, on the ICAO 9303 specimen documents."""

from __future__ import annotations

import pytest

from devices.identity.emrtd.mrz import MrzError, MrzKey, check_digit, compose_td3, parse_mrz

# ICAO Doc 9303 Parts 4-5 specimens (the fictitious state Utopia).
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)
TD2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"


def test_check_digits_of_the_specimen_fields():
    assert check_digit("L898902C<") == "3"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("D23145890734") == "9"


def test_td3_passport_fields():
    mrz = parse_mrz(TD3)
    assert (mrz.format, mrz.document_code, mrz.issuing_state) == ("TD3", "P", "UTO")
    assert (mrz.surname, mrz.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (mrz.document_number, mrz.nationality, mrz.sex) == ("L898902C3", "UTO", "F")
    assert (mrz.birth_date, mrz.expiry_date, mrz.optional_data) == ("740812", "120415", "ZE184226B")
    assert MrzKey.from_mrz(TD3).key_seed_info() == "L898902C3" + "6" + "7408122" + "1204159"


def test_td1_and_td2_cards_give_the_same_key():
    td1, td2 = parse_mrz(TD1), parse_mrz(TD2)
    assert td1.format == "TD1" and td2.format == "TD2"
    assert td1.key == td2.key == MrzKey("D23145890", "740812", "120415")
    assert td1.surname == td2.surname == "ERIKSSON"


def test_td1_document_number_overflowing_into_optional_data():
    line1 = "I<UTOD23145890<7349".ljust(30, "<")
    line2 = "7408122F1204159UTO<<<<<<<<<<<"
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    mrz = parse_mrz(f"{line1}\n{line2}\nERIKSSON<<ANNA<MARIA<<<<<<<<<<")
    assert mrz.document_number == "D23145890734"
    assert mrz.key.key_seed_info() == "D23145890734" + "9" + "7408122" + "1204159"


def test_dg1_form_without_line_breaks_parses():
    assert parse_mrz(TD3.replace("\n", "")).document_number == "L898902C3"


@pytest.mark.parametrize(
    ("position", "field"),
    [(9, "document number"), (19, "birth date"), (27, "expiry date"), (43, "composite")],
)
def test_a_wrong_check_digit_is_refused_naming_the_field(position, field):
    line1, line2 = TD3.split("\n")
    wrong = str((int(line2[position]) + 1) % 10)
    with pytest.raises(MrzError, match=field):
        parse_mrz(line1 + "\n" + line2[:position] + wrong + line2[position + 1 :])


def test_malformed_mrz_text_is_refused():
    with pytest.raises(MrzError, match="lengths"):
        parse_mrz("P<UTO\nL898")
    with pytest.raises(MrzError, match="characters"):
        parse_mrz(TD3.replace("ERIKSSON", "ERIKSSöN"))
    with pytest.raises(MrzError, match="six digits"):
        MrzKey("L898902C", "7408", "120415")


def test_key_repr_masks_the_personal_fields():
    key = MrzKey("L898902C", "740812", "120415")
    assert "L898902C" not in repr(key) and "740812" not in repr(key)
    assert "L8****2C" in repr(key)
    assert "ERIKSSON" not in repr(parse_mrz(TD3))


def test_composed_passport_mrz_round_trips():
    text = compose_td3(
        issuing_state="UTO",
        surname="ERIKSSON",
        given_names="ANNA MARIA",
        document_number="L898902C3",
        nationality="UTO",
        birth_date="740812",
        sex="F",
        expiry_date="120415",
        personal_number="ZE184226B",
    )
    assert text == TD3
