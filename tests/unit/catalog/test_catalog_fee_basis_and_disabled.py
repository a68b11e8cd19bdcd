"""The catalog's fields the console's editor sets: a fee's basis, and disabled items."""

from __future__ import annotations

import tomllib

import pytest

from cloud_bridge.contract.catalog import (
    BUILTIN_PATH,
    CatalogError,
    UnknownItem,
    find_item,
    parse_catalog,
)


def _doc() -> dict:
    return tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


def _item(doc: dict, code: str) -> dict:
    return next(i for i in doc["item"] if i["code"] == code)


def test_a_paid_item_carries_its_basis_and_a_disabled_item_is_not_offered():
    doc = _doc()
    _item(doc, "SB-0203").update(fee_fen=2000, fee_basis="工本费，按省物价文件")
    _item(doc, "SB-0204")["disabled"] = True
    cat = parse_catalog(doc)
    sb = find_item("SB-0203", cat.items)
    assert (sb.fee_yuan, sb.fee_basis, sb.free) == ("20.00", "工本费，按省物价文件", False)
    with pytest.raises(UnknownItem):
        find_item("SB-0204", cat.items)
    assert len(cat.items) == len(doc["item"]) - 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"fee_basis": "工本费"}, "item SB-0203: fee_basis given for a free item"),
        ({"fee_fen": 100, "fee_basis": "x" * 201}, "item SB-0203.fee_basis: String should"),
        ({"disabled": "sometimes"}, "item SB-0203.disabled: Input should be a valid boolean"),
    ],
)
def test_a_bad_basis_or_disabled_flag_is_refused_naming_the_place(change, words):
    doc = _doc()
    _item(doc, "SB-0203").update(change)
    with pytest.raises(CatalogError, match=words.replace(".", r"\.")):
        parse_catalog(doc)


def test_a_catalog_with_every_item_disabled_is_refused():
    doc = _doc()
    for item in doc["item"]:
        item["disabled"] = True
    with pytest.raises(CatalogError, match="every item is disabled"):
        parse_catalog(doc)
