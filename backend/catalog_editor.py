"""The catalog editor behind the console: one draft, numbered published versions, edits audited.

An admin edits the catalog document (the shape of cloud_bridge/contract/catalog.py) item by item.
Edits go to the one open draft, started from the newest published version (or, before the first,
from the terminal's starting catalog). Every edit is checked with the same `parse_catalog` the
terminal runs before it applies a bundle, so an edit the terminal would refuse is refused here,
naming the field, and the draft keeps its last good state. Every accepted edit is written to
`catalog_edits` with who made it and what changed (field: [before, after]).

Publishing turns the draft into version N (its document's version is `catalog-N`) and hands the
document to `ConfigBundles.push`, which signs it into one command per terminal; a published
version can be pushed again later (another terminal, a terminal that was replaced).
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud_bridge.contract.catalog import BUILTIN_PATH, STEP_KEYS, CatalogError, parse_catalog

from .models import Base, utcnow

DRAFT, PUBLISHED = "draft", "published"
MAX_MATERIAL_ROWS = 30
ITEM_CODE = re.compile(r"^[A-Z]{2}-[0-9]{4}$")
MATERIAL_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
YUAN = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,2})?$")
SIZES = ("S", "M", "L")
# The document fields an item form sets; the catalog's other fields of an item stay as they were.
ITEM_FIELDS = (
    "name_zh",
    "name_en",
    "fee_fen",
    "fee_basis",
    "legal_days",
    "promised_days",
    "originals_size",
    "materials",
    "pickup",
    "frequent",
    "step_days",
)


class CatalogVersion(Base):
    """A version of the service catalog built in the console: the one draft, or published N."""

    __tablename__ = "catalog_versions"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), index=True)  # draft | published
    document: Mapped[dict[str, Any]]  # the contract's catalog document, version catalog-N
    based_on: Mapped[int | None]  # the published version the draft started from
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")


class CatalogEdit(Base):
    """The audit trail of the catalog editor: who changed what in which version, and pushes."""

    __tablename__ = "catalog_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(index=True)  # the catalog version edited
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # add_item, edit_item, publish, push...
    subject: Mapped[str] = mapped_column(String(64))  # the item or material code, the target
    changes: Mapped[dict[str, Any]]  # field: [before, after]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EditRefused(ValueError):
    """The edit cannot be kept: `field` is the form field at fault, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Published:
    number: int
    version: str
    document: dict[str, Any]


def version_label(number: int) -> str:
    return f"catalog-{number}"


def starting_document() -> dict[str, Any]:
    """The terminal's starting catalog, the base of the first draft."""
    return tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


def latest_published(session: Session) -> CatalogVersion | None:
    return session.scalars(
        select(CatalogVersion)
        .where(CatalogVersion.state == PUBLISHED)
        .order_by(CatalogVersion.number.desc())
        .limit(1)
    ).first()


def open_draft(session: Session) -> CatalogVersion | None:
    return session.scalars(select(CatalogVersion).where(CatalogVersion.state == DRAFT)).first()


def current_document(session: Session) -> tuple[dict[str, Any], CatalogVersion | None]:
    """What the editor shows: the draft, else the newest published version, else the start."""
    row = open_draft(session) or latest_published(session)
    return (row.document if row else starting_document()), row


def versions(session: Session, limit: int = 50) -> list[CatalogVersion]:
    return list(
        session.scalars(select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(limit))
    )


def edits(session: Session, limit: int = 100) -> list[CatalogEdit]:
    return list(session.scalars(select(CatalogEdit).order_by(CatalogEdit.id.desc()).limit(limit)))


def _draft(session: Session, by: str) -> CatalogVersion:
    """The open draft (locked for this edit), started from the newest published version."""
    row = session.scalars(
        select(CatalogVersion).where(CatalogVersion.state == DRAFT).with_for_update()
    ).first()
    if row is not None:
        return row
    base = latest_published(session)
    number = (session.scalar(select(func.max(CatalogVersion.number))) or 0) + 1
    document = copy.deepcopy(base.document if base else starting_document())
    document["version"] = version_label(number)
    row = CatalogVersion(
        number=number,
        state=DRAFT,
        document=document,
        based_on=base.number if base else None,
        created_by=by,
    )
    session.add(row)
    session.flush()
    return row


def _field_of(message: str) -> str:
    """The form field a schema message is about (the first field name it mentions)."""
    for field in (
        "step_days",
        "promised_days",
        "legal_days",
        "fee_basis",
        "fee_fen",
        "originals_size",
        "result_size",
        "name_zh",
        "name_en",
        "tolerated",
        "material",
    ):
        if field in message:
            return {"fee_fen": "fee", "tolerated": "materials", "material": "materials"}.get(
                field, field
            )
    if "promised" in message or "legal" in message:
        return "promised_days"
    if "paper" in message:
        return "originals_size"
    return "item"


def _check(document: dict[str, Any]) -> None:
    try:
        parse_catalog(document)
    except CatalogError as exc:
        raise EditRefused(_field_of(str(exc)), str(exc)) from None


def _changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    before = before or {}
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _save(
    session: Session,
    draft: CatalogVersion,
    document: dict[str, Any],
    by: str,
    action: str,
    subject: str,
    changes: dict[str, Any],
) -> dict[str, Any]:
    _check(document)
    draft.document = document  # a new object: the JSON column sees the change
    draft.updated_at = utcnow()
    session.add(
        CatalogEdit(
            number=draft.number,
            actor=by,
            action=action,
            subject=subject,
            changes=changes,
        )
    )
    return changes


def _int(form: Mapping[str, str], field: str, low: int, high: int) -> int:
    raw = (form.get(field) or "").strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise EditRefused(field, f"{field}: a whole number from {low} to {high}")
    return int(raw)


def _text(form: Mapping[str, str], field: str, high: int, required: bool = True) -> str:
    value = (form.get(field) or "").strip()
    if required and not value:
        raise EditRefused(field, f"{field}: required")
    if len(value) > high:
        raise EditRefused(field, f"{field}: at most {high} characters")
    return value


def item_from_form(form: Mapping[str, str], materials: Mapping[str, Any]) -> dict[str, Any]:
    """The item fields an item form sets, checked one by one (EditRefused names the field)."""
    fee_kind = form.get("fee_kind", "")
    if fee_kind == "free":
        fee_fen, basis = 0, ""
    elif fee_kind == "paid":
        raw = (form.get("fee_yuan") or "").strip()
        try:
            fee_fen = int(Decimal(raw) * 100) if YUAN.fullmatch(raw) else 0
        except InvalidOperation:
            fee_fen = 0
        if fee_fen <= 0:
            raise EditRefused("fee", "fee: an amount in yuan above 0, e.g. 20 or 7.50")
        basis = _text(form, "fee_basis", 200)
    else:
        raise EditRefused("fee", "fee: choose free or an amount")
    uses: list[dict[str, Any]] = []
    for i in range(MAX_MATERIAL_ROWS):
        ref = (form.get(f"mat_ref_{i}") or "").strip()
        if not ref:
            continue
        field = f"mat_ref_{i}"
        if ref not in materials:
            raise EditRefused(field, f"materials: {ref!r} is not a material of this catalog")
        use: dict[str, Any] = {"ref": ref, "required": form.get(f"mat_required_{i}") == "on"}
        tolerated = (form.get(f"mat_tolerated_{i}") or "").strip()
        if tolerated:
            if not tolerated.isdigit() or not 1 <= int(tolerated) <= 60:
                raise EditRefused(
                    f"mat_tolerated_{i}", "materials: 容缺 days are a whole number from 1 to 60"
                )
            use["tolerated_days"] = int(tolerated)
        uses.append(use)
    if not uses:
        raise EditRefused("materials", "materials: an item asks for at least one material")
    originals = form.get("originals_size") or None
    if originals not in (None, *SIZES):
        raise EditRefused("originals_size", "originals_size: none, S, M or L")
    result_size = form.get("result_size") or "S"
    if result_size not in SIZES:
        raise EditRefused("result_size", "result_size: S, M or L")
    item: dict[str, Any] = {
        "name_zh": _text(form, "name_zh", 80),
        "name_en": _text(form, "name_en", 80),
        "fee_fen": fee_fen,
        "legal_days": _int(form, "legal_days", 1, 365),
        "promised_days": _int(form, "promised_days", 1, 365),
        "materials": uses,
        "pickup": {
            "needs_identity": form.get("needs_identity") == "on",
            "result_size": result_size,
        },
        "frequent": form.get("frequent") == "on",
    }
    steps = step_days_from_form(form)
    if steps:
        item["step_days"] = steps
    if basis:
        item["fee_basis"] = basis
    if originals:
        item["originals_size"] = originals
    return item


def step_days_from_form(form: Mapping[str, str]) -> dict[str, int]:
    """The item's step days (fields step_accept, step_review, step_decide; blank: the default)."""
    steps: dict[str, int] = {}
    for step in STEP_KEYS:
        raw = (form.get(f"step_{step}") or "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= 365:
            raise EditRefused("step_days", f"step_days.{step}: a whole number from 1 to 365")
        steps[step] = int(raw)
    return steps


def save_item(
    session: Session, by: str, form: Mapping[str, str], code: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Add an item (code None: the form's class and code) or edit one; returns (code, changes)."""
    draft = _draft(session, by)
    document = copy.deepcopy(draft.document)
    fields = item_from_form(form, document.get("material", {}))
    items: list[dict[str, Any]] = document["item"]
    if code is None:
        code = (form.get("code") or "").strip().upper()
        if not ITEM_CODE.fullmatch(code):
            raise EditRefused("code", "code: two capital letters, a dash, four digits (SB-0210)")
        cls = form.get("class_code") or ""
        if cls not in {c["code"] for c in document["class"]}:
            raise EditRefused("class_code", "class: choose one of the catalog's classes")
        if code[:2] != cls:
            raise EditRefused("code", f"code: an item of class {cls} has a code {cls}-nnnn")
        if any(i["code"] == code for i in items):
            raise EditRefused("code", f"code: {code} is already an item")
        new = {"code": code, **fields}
        items.append(new)
        return code, _save(session, draft, document, by, "add_item", code, _changes(None, new))
    index = next((n for n, i in enumerate(items) if i["code"] == code), None)
    if index is None:
        raise EditRefused("code", f"code: no item {code}")
    before = items[index]
    after = {k: v for k, v in before.items() if k not in ITEM_FIELDS} | fields
    items[index] = after
    return code, _save(session, draft, document, by, "edit_item", code, _changes(before, after))


def set_disabled(session: Session, by: str, code: str, disabled: bool) -> dict[str, Any]:
    draft = _draft(session, by)
    document = copy.deepcopy(draft.document)
    item = next((i for i in document["item"] if i["code"] == code), None)
    if item is None:
        raise EditRefused("code", f"code: no item {code}")
    before = item.get("disabled", False)
    if disabled:
        item["disabled"] = True
    else:
        item.pop("disabled", None)
    action = "disable_item" if disabled else "enable_item"
    return _save(session, draft, document, by, action, code, {"disabled": [before, disabled]})


def save_material(session: Session, by: str, form: Mapping[str, str]) -> tuple[str, dict]:
    """Add or edit one material of the catalog (name, pages, how it may be handed in)."""
    code = (form.get("material_code") or "").strip()
    if not MATERIAL_CODE.fullmatch(code):
        raise EditRefused(
            "material_code", "material code: lower-case letters, digits and - (id-card-copy)"
        )
    forms = [f for f in ("scan", "usb", "original") if form.get(f"form_{f}") == "on"]
    if not forms:
        raise EditRefused("forms", "forms: at least one way to hand it in")
    draft = _draft(session, by)
    document = copy.deepcopy(draft.document)
    before = document.setdefault("material", {}).get(code)
    after = {k: v for k, v in (before or {}).items() if k == "reuse"} | {
        "name_zh": _text(form, "material_name_zh", 80),
        "name_en": _text(form, "material_name_en", 80),
        "pages": _int(form, "pages", 1, 50),
        "forms": forms,
    }
    document["material"][code] = after
    action = "edit_material" if before else "add_material"
    return code, _save(session, draft, document, by, action, code, _changes(before, after))


def discard_draft(session: Session, by: str) -> int | None:
    draft = open_draft(session)
    if draft is None:
        return None
    number = draft.number
    session.add(CatalogEdit(number=number, actor=by, action="discard", subject="", changes={}))
    session.delete(draft)
    return number


def publish(session: Session, by: str, note: str) -> Published:
    """The draft becomes published version N; EditRefused when there is nothing to publish."""
    draft = open_draft(session)
    if draft is None:
        raise EditRefused("draft", "no draft: edit an item first")
    _check(draft.document)
    draft.state, draft.published_by, draft.published_at = PUBLISHED, by, utcnow()
    draft.note = note[:500]
    session.add(
        CatalogEdit(
            number=draft.number,
            actor=by,
            action="publish",
            subject=draft.document["version"],
            changes={"note": note[:500]} if note else {},
        )
    )
    return Published(draft.number, draft.document["version"], copy.deepcopy(draft.document))


def published(session: Session, number: int) -> Published | None:
    row = session.get(CatalogVersion, number)
    if row is None or row.state != PUBLISHED:
        return None
    return Published(row.number, row.document["version"], copy.deepcopy(row.document))


def record_push(session: Session, number: int, by: str, target: str, outcome: str) -> None:
    session.add(
        CatalogEdit(
            number=number,
            actor=by,
            action="push",
            subject=target[:64],
            changes={"outcome": outcome[:500]},
        )
    )
