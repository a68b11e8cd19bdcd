"""An item's step days (受理, 审核, 决定 by working day N after the submission): kept in order and
within the promise, refused naming the item and the key otherwise; the shipped catalog gives
them where a guide states step limits."""

from __future__ import annotations

import json
import tomllib

import pytest

from allhours.cli import main
from cloud_bridge.contract.catalog import (
    BUILTIN_PATH,
    CatalogError,
    builtin_catalog,
    find_item,
    parse_catalog,
)


def _doc() -> dict:
    return tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


def _item(doc: dict, code: str) -> dict:
    return next(i for i in doc["item"] if i["code"] == code)


def test_the_shipped_minimum_living_allowance_gives_its_step_days_and_others_none():
    mz = find_item("MZ-0102", builtin_catalog().items)
    assert (mz.promised_days, dict(mz.step_days)) == (
        30,
        {"accept": 1, "review": 20, "decide": 30},
    )
    assert find_item("HJ-0102", builtin_catalog().items).step_days == ()


def test_some_or_all_steps_may_be_given_in_order():
    doc = _doc()
    _item(doc, "HJ-0102")["step_days"] = {"decide": 4, "accept": 1}  # written in any order
    _item(doc, "SB-0204")["step_days"] = {"accept": 2, "review": 2, "decide": 10}
    cat = parse_catalog(doc)
    assert find_item("HJ-0102", cat.items).step_days == (("accept", 1), ("decide", 4))
    assert dict(find_item("SB-0204", cat.items).step_days) == {
        "accept": 2,
        "review": 2,
        "decide": 10,
    }


@pytest.mark.parametrize(
    ("step_days", "words"),
    [
        (
            {"accept": 1, "reveiw": 3},
            "item HJ-0102.step_days.reveiw: Extra inputs are not permitted",
        ),
        (
            {"result": 5},
            "item HJ-0102.step_days: result: the result step is due with promised_days",
        ),
        ({}, "item HJ-0102.step_days: give at least one of accept, review, decide"),
        (
            {"accept": 0},
            "item HJ-0102.step_days.accept: Input should be greater than or equal to 1",
        ),
        ({"review": "三"}, "item HJ-0102.step_days.review: Input should be a valid integer"),
        ({"review": 2.5}, "item HJ-0102.step_days.review: Input should be a valid integer"),
        ({"decide": 6}, "item HJ-0102: step_days.decide 6 is beyond promised_days 5"),
        (
            {"accept": 3, "review": 2},
            "item HJ-0102: step_days.review 2 is before step_days.accept 3",
        ),
        (
            {"accept": 4, "decide": 3},
            "item HJ-0102: step_days.decide 3 is before step_days.accept 4",
        ),
        ("1/3/4", "item HJ-0102.step_days: Input should be a valid dictionary"),
    ],
)
def test_bad_step_days_are_refused_naming_the_item_and_the_key(step_days, words):
    doc = _doc()
    assert _item(doc, "HJ-0102")["promised_days"] == 5
    _item(doc, "HJ-0102")["step_days"] = step_days
    with pytest.raises(CatalogError) as refused:
        parse_catalog(doc)
    assert str(refused.value).startswith(words)


def test_the_check_command_names_a_bad_step_in_a_json_catalog(tmp_path, capsys):
    doc = _doc()
    _item(doc, "MZ-0102")["step_days"]["review"] = 31
    path = tmp_path / "district.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert main(["catalog", "check", str(path)]) == 1
    assert "item MZ-0102: step_days.review 31 is beyond promised_days 30" in capsys.readouterr().out
