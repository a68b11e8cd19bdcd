"""The catalog as data: the shipped starting catalog, and documents the schema check refuses."""

from __future__ import annotations

import copy
import json
import tomllib

import pytest

from allhours.cli import main
from cloud_bridge.contract.catalog import (
    BUILTIN_PATH,
    CatalogError,
    Form,
    builtin_catalog,
    find_item,
    load_catalog,
    parse_catalog,
)
from terminal.ui.search import search


def _doc() -> dict:
    return tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


def test_the_starting_catalog_covers_fifteen_classes_with_thirty_items_or_more():
    cat = builtin_catalog()
    assert len(cat.classes) == 15
    assert len(cat.items) >= 30
    for cls in cat.classes:
        members = [i for i in cat.items if i.service_class == cls]
        assert len(members) >= 2, cls.code
        assert all(i.code.startswith(cls.code + "-") for i in members)
    names = {i.name_zh for i in cat.items}
    for expected in ("居民身份证换领", "户籍证明开具", "社保参保证明", "住房公积金租房提取"):
        assert expected in names
    assert "不动产登记资料查询" in names and "普通护照申领" in names


def test_every_item_states_its_fee_its_limits_and_its_pickup():
    for item in builtin_catalog().items:
        assert 1 <= item.promised_days <= item.legal_days, item.code
        assert item.fee_fen >= 0 and item.result_size in ("S", "M", "L")
        assert item.materials and item.name_zh and item.name_en
    assert find_item("SF-0101").fee_yuan == "20.00" and not find_item("SF-0101").free
    assert find_item("SB-0203").free
    assert find_item("CR-0101").pickup_needs_identity


def test_the_items_the_flows_were_built_on_keep_their_materials():
    hj = find_item("HJ-0101")
    assert [s.code for s in hj.materials] == ["id-card-copy", "household-register"]
    register = hj.materials[1]
    assert register.pages == 2 and Form.ORIGINAL in register.forms
    assert register.reuse and register.reuse.valid_months == 6
    assert hj.originals_size == "S" and hj.promised_days == 3
    gs = find_item("GS-0307")
    lease = next(s for s in gs.materials if s.code == "lease")
    assert lease.tolerable and lease.tolerated_days == 5
    assert not next(s for s in gs.materials if s.code == "authorization").required
    assert gs.pickup_needs_identity and gs.originals_size == "M"
    card = hj.materials[0]
    assert card.reuse and card.reuse.until_document_expiry


def test_a_json_document_gives_the_same_catalog_as_the_toml_file(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(_doc(), ensure_ascii=False), encoding="utf-8")
    assert load_catalog(path) == builtin_catalog()


def test_search_filters_by_class_from_the_data():
    items = builtin_catalog().items
    found = search(items, "", "GJ")
    assert found and all(i.code.startswith("GJ-") for i in found)
    assert [i.code for i in search(items, "HJZM")] == ["HJ-0101"]


def _broken(change) -> dict:
    doc = copy.deepcopy(_doc())
    change(doc)
    return doc


def _item(doc: dict, code: str) -> dict:
    return next(i for i in doc["item"] if i["code"] == code)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _item(d, "HJ-0101").update(fees=3), "item HJ-0101.fees: Extra inputs"),
        (
            lambda d: _item(d, "SB-0203")["materials"].append({"ref": "no-such-paper"}),
            "item SB-0203: material 'no-such-paper' is not defined",
        ),
        (
            lambda d: _item(d, "SB-0203").update(promised_days=9),
            "item SB-0203: promised 9 days, beyond the legal 3",
        ),
        (lambda d: d["item"].append(dict(_item(d, "SB-0203"))), "item SB-0203: listed twice"),
        (
            lambda d: d["item"].append({**_item(d, "SB-0203"), "code": "QQ-0001"}),
            "item QQ-0001: no class QQ in this catalog",
        ),
        (
            lambda d: _item(d, "HJ-0101").pop("originals_size"),
            "item HJ-0101: takes paper originals but has no originals_size",
        ),
        (
            lambda d: _item(d, "SB-0203").update(fee_fen=-1),
            "item SB-0203.fee_fen: Input should be greater than or equal to 0",
        ),
        (
            lambda d: _item(d, "SB-0203").update(code="sb 1"),
            "item sb 1.code: String should match pattern",
        ),
        (lambda d: d.pop("version"), "version: Field required"),
        (
            lambda d: _item(d, "GS-0307")["materials"][4].update(tolerated_days=3),
            "item GS-0307: authorization is optional, so it cannot be tolerated",
        ),
    ],
)
def test_a_malformed_document_is_refused_naming_the_place(change, message):
    with pytest.raises(CatalogError) as err:
        parse_catalog(_broken(change))
    assert message in str(err.value)


def test_the_check_command_reports_each_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "x"\n[[item]\n', encoding="utf-8")
    assert main(["catalog", "check", str(BUILTIN_PATH)]) == 0
    assert "ok, version builtin-2026.12" in capsys.readouterr().out
    assert main(["catalog", "check", str(BUILTIN_PATH), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.toml: not valid toml" in out and "catalog.toml: ok" in out
    with pytest.raises(SystemExit) as usage:
        main(["catalog", "check"])
    assert usage.value.code == 2
