"""The identity document never shows personal data in its repr, and masks numbers for logs."""

from __future__ import annotations

from datetime import date

from devices.identity.port import IdentityDocument


def _doc(number: str = "110101199003071234") -> IdentityDocument:
    return IdentityDocument(
        "cn_resident_id",
        "张三",
        number,
        birth_date=date(1990, 3, 7),
        photo=b"\xff\xd8face",
        address="北京市东城区",
    )


def test_repr_shows_nothing_personal():
    text = repr(_doc())
    for secret in ("张三", "110101199003071234", "1990", "北京", "face"):
        assert secret not in text


def test_masked_number_keeps_four_and_four():
    assert _doc().masked_number == "1101**********1234"
    assert _doc("L898902C").masked_number == "********"


def test_each_reader_declares_whether_it_needs_an_mrz_key():
    from devices.identity.cnid.reader import CnIdReader
    from devices.identity.emrtd.reader import EmrtdReader
    from devices.identity.emulated import ScriptedIdentityReader

    assert EmrtdReader.needs_mrz_key is True
    assert CnIdReader.needs_mrz_key is False
    assert ScriptedIdentityReader().needs_mrz_key is False
