"""One table for every way personal data is masked, wherever it is shown, printed or logged."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import privacy
from privacy import (
    mask_document,
    mask_document_number,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_text,
)

ROOT = Path(__file__).resolve().parents[3]

TABLE = [
    # (function, value, masked)
    (mask_id_number, "11010519491231002X", "1101**********002X"),
    (mask_id_number, "110101199003071234", "1101**********1234"),
    (mask_id_number, "110105194912310", "1101*******2310"),
    (mask_id_number, "12345678", "********"),
    (mask_id_number, "1234", "****"),
    (mask_id_number, "", ""),
    (mask_document_number, "E12345678", "E1*****78"),
    (mask_document_number, "L898902C", "L8****2C"),
    (mask_document_number, "12345", "12*45"),
    (mask_document_number, "1234", "****"),
    (mask_document_number, "", ""),
    (mask_phone, "13800138000", "138****8000"),
    (mask_phone, "+8613800138000", "+86*******8000"),
    (mask_phone, "1234567", "*******"),
    (mask_phone, "110", "***"),
    (mask_phone, "", ""),
    (mask_name, "张三", "张*"),
    (mask_name, "欧阳娜娜", "欧***"),
    (mask_name, "李", "李*"),
    (mask_name, "ZHANG SAN", "Z********"),
    (mask_name, "", ""),
    (mask_text, "联系电话 13912345678", "联系电话 139****5678"),
    (mask_text, "证件 11010519491231002X", "证件 1101**********002X"),
    (
        mask_text,
        "客服 13800138000，证件 11010519491231002x",
        "客服 138****8000，证件 1101**********002x",
    ),
    # Numbers that are neither (application numbers, dates, longer digit runs) stay.
    (mask_text, "AH-T0001-20261120-00001 / 2026-11-20", "AH-T0001-20261120-00001 / 2026-11-20"),
    (mask_text, "123800138000", "123800138000"),
]


# An applicant's document number, by its type (the wire contract's id_document_type).
DOCUMENTS = [
    # (document type, number, masked)
    ("cn_resident_id", "11010519491231002X", "1101**********002X"),
    ("cn_resident_id", "110101199003071234", "1101**********1234"),
    ("passport", "E12345678", "E1*****78"),
    ("passport", "G12345678", "G1*****78"),
    ("passport", "L898902C", "L8****2C"),
    ("passport", "1234", "****"),
    ("other", "12345678", "12****78"),
    ("other", "", ""),
]


@pytest.mark.parametrize(("mask", "value", "masked"), TABLE)
def test_each_datum_is_masked_by_its_one_rule(mask, value, masked):
    assert mask(value) == masked


@pytest.mark.parametrize(("document_type", "number", "masked"), DOCUMENTS)
def test_a_document_number_is_masked_by_the_rule_for_its_type(document_type, number, masked):
    assert mask_document(document_type, number) == masked
    assert len(masked) == len(number)


def test_a_passport_number_keeps_four_characters_at_most_not_the_id_cards_eight():
    """E12345678 under the ID card's rule was E123*5678: 8 of 9 characters readable."""
    masked = mask_document("passport", "E12345678")
    assert masked != mask_id_number("E12345678")
    assert len(masked.replace("*", "")) <= 4


def test_the_terminal_and_the_backend_mask_a_document_number_by_its_type():
    """They hold an applicant's document of any type: they mask it with `mask_document` (or
    `IdentityDocument.masked_number`), never with one type's rule by name."""
    by_name = []
    for package in ("terminal", "backend"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    name = node.id
                elif isinstance(node, ast.Attribute):
                    name = node.attr
                elif isinstance(node, ast.alias):
                    name = node.name
                else:
                    continue
                if name in {"mask_id_number", "mask_document_number"}:
                    by_name.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert by_name == []


@pytest.mark.parametrize(("mask", "value", "masked"), TABLE)
def test_a_mask_keeps_the_length_of_what_it_hides(mask, value, masked):
    if mask is not mask_name or len(value) > 1:
        assert len(masked) == len(value)


def test_the_package_imports_the_standard_library_only():
    tree = ast.parse(Path(privacy.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "re"}


def test_no_other_module_defines_a_mask_of_its_own():
    """Masking personal data is written once: no package keeps a masker beside privacy/."""
    own = []
    for package in ("allhours", "backend", "cloud_bridge", "devices", "face", "locker",
                    "provisioning", "terminal"):  # fmt: skip
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in {
                    "mask", "mask_id_number", "mask_phone", "mask_name", "mask_personal",
                    "mask_document_number", "mask_document", "mask_text",
                }:  # fmt: skip
                    own.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert own == []
