"""The materials checklist: statuses, tolerated-missing rules, reuse offers and validity."""

from __future__ import annotations

from datetime import date

import pytest

from cloud_bridge.contract.catalog import Form, ReusePolicy, add_months, builtin_catalog, find_item
from terminal.materials.checklist import Checklist, ChecklistError, MaterialStatus, OnFile

HJ = find_item("HJ-0101")
GS = find_item("GS-0307")
TODAY = date(2026, 11, 20)


def _offer(code: str, valid_until: date, ref: str = "MAT-0000000000000001") -> OnFile:
    return OnFile(code, ref, 1, valid_until, date(2026, 9, 14))


def test_every_catalog_material_is_described_completely():
    for item in builtin_catalog().items:
        codes = [s.code for s in item.materials]
        assert len(codes) == len(set(codes)), item.code
        for spec in item.materials:
            assert spec.name_zh and spec.name_en and spec.pages >= 1
            assert spec.forms and set(spec.forms) <= set(Form)
            if spec.tolerated_days is not None:
                assert spec.required and 1 <= spec.tolerated_days <= 60


def test_a_new_checklist_needs_every_required_material_and_no_optional_one():
    checklist = Checklist(GS)

    needed = [e.spec.code for e in checklist.still_needed()]

    assert needed == ["id-card-copy", "application-form", "licence-original", "lease"]
    assert "authorization" not in needed
    assert not checklist.can_submit()


def test_scanned_imported_reused_and_tolerated_materials_make_the_checklist_complete():
    checklist = Checklist(GS)
    checklist.take_offers([_offer("id-card-copy", date(2036, 3, 1))], TODAY)

    checklist.reuse("id-card-copy")
    checklist.provided("application-form", MaterialStatus.IMPORTED)
    checklist.provided("licence-original", MaterialStatus.SCANNED)
    assert [e.spec.code for e in checklist.still_needed()] == ["lease"]
    assert checklist.tolerate("lease") == 5

    assert checklist.can_submit() and checklist.still_needed() == []
    assert checklist.reused() == [("id-card-copy", "MAT-0000000000000001")]
    assert [(spec.code, days) for spec, days in checklist.tolerated()] == [("lease", 5)]
    statuses = {code: e.status for code, e in checklist.entries.items()}
    assert statuses == {
        "id-card-copy": MaterialStatus.REUSED,
        "application-form": MaterialStatus.IMPORTED,
        "licence-original": MaterialStatus.SCANNED,
        "lease": MaterialStatus.TOLERATED,
        "authorization": MaterialStatus.MISSING,
    }


def test_only_tolerable_required_materials_may_be_tolerated():
    checklist = Checklist(GS)
    with pytest.raises(ChecklistError, match="must be provided now"):
        checklist.tolerate("licence-original")
    with pytest.raises(ChecklistError, match="must be provided now"):
        checklist.tolerate("authorization")  # optional: nothing to tolerate
    with pytest.raises(ChecklistError, match="not a material"):
        checklist.tolerate("passport")
    assert checklist.entry("licence-original").status == MaterialStatus.MISSING


def test_a_material_is_only_accepted_in_the_forms_the_item_allows():
    checklist = Checklist(GS)
    with pytest.raises(ChecklistError, match="cannot be imported"):
        checklist.provided("licence-original", MaterialStatus.IMPORTED)
    checklist.provided("licence-original", MaterialStatus.SCANNED)


def test_offers_keep_only_valid_reusable_materials_of_this_item_one_per_code():
    checklist = Checklist(HJ)

    kept = checklist.take_offers(
        [
            _offer("id-card-copy", date(2030, 1, 1), "MAT-older-aaaaaaaa"),
            _offer("id-card-copy", date(2036, 3, 1), "MAT-newer-bbbbbbbb"),
            _offer("household-register", date(2026, 11, 19)),  # expired yesterday
            _offer("lease", date(2030, 1, 1)),  # not a material of this item
        ],
        TODAY,
    )

    assert [(o.material_code, o.reference) for o in kept] == [
        ("id-card-copy", "MAT-newer-bbbbbbbb")
    ]
    with pytest.raises(ChecklistError, match="No Household register on file"):
        checklist.reuse("household-register")


def test_a_material_valid_until_today_is_still_offered_today():
    checklist = Checklist(HJ)
    assert checklist.take_offers([_offer("household-register", TODAY)], TODAY)


def test_materials_without_a_reuse_policy_are_never_asked_about():
    assert Checklist(GS).reusable_codes() == ["id-card-copy", "lease"]
    assert Checklist(HJ).reusable_codes() == ["id-card-copy", "household-register"]


def test_reuse_validity_is_the_earlier_of_the_period_and_the_card_expiry():
    id_copy = ReusePolicy(valid_months=120, until_document_expiry=True)
    register = ReusePolicy(valid_months=6)

    assert id_copy.valid_until(TODAY, date(2031, 5, 2)) == date(2031, 5, 2)
    assert id_copy.valid_until(TODAY, None) == date(2036, 11, 20)  # a long-term card
    assert register.valid_until(TODAY, date(2031, 5, 2)) == date(2027, 5, 20)
    assert ReusePolicy().valid_until(TODAY, None) is None


def test_months_are_added_to_the_calendar_day_or_the_month_end():
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 20), 14) == date(2028, 1, 20)
