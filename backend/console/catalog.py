"""The catalog editor in the console: items by class, an item's form, publish and push.

Reading (`catalog.read`: supervisors, operators, admins) shows the items of the draft or of the
newest published version, the versions and the edit history. Editing, publishing and pushing
(`catalog.edit`: admins only) post forms with the session's CSRF token; clerks are refused.
An edit the terminal's schema refuses is not kept: the form comes back (422) with what was
typed and the field named. backend/catalog_editor.py keeps the versions and the audit.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from .. import catalog_editor as editor
from ..auth.guard import allowed
from ..auth.roles import Permission
from ..catalog_bundles import ConfigBundles
from . import ids
from .fleet import _local

if TYPE_CHECKING:
    from ..service import BackendService

Reader = allowed(Permission.READ_CATALOG)
Editor = allowed(Permission.EDIT_CATALOG)
ITEM_CODE = re.compile(r"^[A-Z]{2}-[0-9]{4}$")
TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_FORM_BYTES = 64 * 1024
BLANK_MATERIAL_ROWS = 3

router = APIRouter(prefix="/console/catalog", include_in_schema=False)


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


async def _form(request: Request) -> dict[str, str]:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise HTTPException(413, f"a catalog form is at most {MAX_FORM_BYTES} bytes")
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FIELDS = frozenset(
    {
        "name_zh",
        "name_en",
        "fee",
        "fee_basis",
        "legal_days",
        "promised_days",
        "step_days",
        "originals_size",
        "result_size",
        "materials",
        "code",
        "class_code",
        "target",
        "draft",
        "material_code",
        "material_name_zh",
        "material_name_en",
        "forms",
        "pages",
    }
)


def error_label(field: str) -> str:
    """The catalog key naming a refused edit's field (catalog.field.<key>)."""
    if field.startswith("mat_"):
        return "materials"
    return field if field in FIELDS else "item"


def _change_lines(changes: dict[str, Any]) -> list[str]:
    def show(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)[:300]

    lines = []
    for key, pair in changes.items():
        if isinstance(pair, list) and len(pair) == 2:
            lines.append(f"{key}: {show(pair[0])} → {show(pair[1])}")
        else:
            lines.append(f"{key}: {show(pair)}")
    return lines


def _fee(item: dict[str, Any]) -> str:
    fen = item.get("fee_fen", 0)
    return "" if not fen else f"{fen // 100}.{fen % 100:02d}"


def _overview(request: Request, status_code: int = 200, **extra: Any) -> Response:
    from .pages import render

    with _service(request).db.reading() as session:
        document, row = editor.current_document(session)
        history = [
            {
                "number": e.number,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "changes": _change_lines(e.changes),
                "at": _local(e.at),
            }
            for e in editor.edits(session)
        ]
        versions = [
            {
                "number": v.number,
                "version": v.document.get("version"),
                "state": v.state,
                "items": len(v.document.get("item", [])),
                "by": v.published_by or v.created_by,
                "at": _local(v.published_at or v.updated_at),
                "note": v.note,
            }
            for v in editor.versions(session)
        ]
    items = document.get("item", [])
    classes = [
        {**c, "items": [i | {"fee": _fee(i)} for i in items if i["code"][:2] == c["code"]]}
        for c in document.get("class", [])
    ]
    done = request.query_params.get("done")
    return render(
        request,
        "catalog.html",
        status_code,
        version=document.get("version"),
        draft=row is not None and row.state == editor.DRAFT,
        row=row,
        classes=classes,
        versions=versions,
        history=history,
        done=f"catalog.done.{done}" if done in DONE else None,
        **({"error": None, "pushed": request.query_params.get("to")} | extra),
        error_label=error_label(extra["error"].field) if extra.get("error") else "",
    )


DONE = ("saved", "published", "pushed", "discarded", "material")


def _item_page(
    request: Request,
    code: str | None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
    error: editor.EditRefused | None = None,
    class_code: str | None = None,
) -> Response:
    from .pages import render

    with _service(request).db.reading() as session:
        document, _row = editor.current_document(session)
    item = None
    if code is not None:
        item = next((i for i in document["item"] if i["code"] == code), None)
        if item is None:
            raise HTTPException(404, f"no item {code}")
    if values is None:
        values = _values_of(item) if item else {"fee_kind": "free", "class_code": class_code}
    rows = [k for k in range(editor.MAX_MATERIAL_ROWS) if f"mat_ref_{k}" in values]
    extra = range(len(rows), min(len(rows) + BLANK_MATERIAL_ROWS, editor.MAX_MATERIAL_ROWS))
    return render(
        request,
        "catalog_item.html",
        status_code,
        code=code,
        item=item,
        v=values,
        rows=[*rows, *extra],
        classes=document["class"],
        materials=sorted(document.get("material", {}).items()),
        error=error,
        error_label=error_label(error.field) if error else "",
    )


def _values_of(item: dict[str, Any]) -> dict[str, Any]:
    """An item as its form's fields."""
    values: dict[str, Any] = {
        "name_zh": item["name_zh"],
        "name_en": item["name_en"],
        "fee_kind": "paid" if item.get("fee_fen") else "free",
        "fee_yuan": _fee(item),
        "fee_basis": item.get("fee_basis", ""),
        "legal_days": str(item["legal_days"]),
        "promised_days": str(item["promised_days"]),
        "originals_size": item.get("originals_size") or "",
        "result_size": item.get("pickup", {}).get("result_size", "S"),
        "needs_identity": "on" if item.get("pickup", {}).get("needs_identity") else "",
        "frequent": "on" if item.get("frequent") else "",
    }
    for step, days in (item.get("step_days") or {}).items():
        values[f"step_{step}"] = str(days)
    for k, use in enumerate(item.get("materials", [])):
        values[f"mat_ref_{k}"] = use["ref"]
        values[f"mat_required_{k}"] = "on" if use.get("required", True) else ""
        values[f"mat_tolerated_{k}"] = str(use.get("tolerated_days") or "")
    return values


@router.get("")
def overview(request: Request, _who: Reader) -> Response:
    """Every item by class (the draft's, else the newest published), versions, edit history."""
    return _overview(request)


@router.get("/items/new")
def new_item(request: Request, _who: Editor, class_code: str = "") -> Response:
    return _item_page(request, None, class_code=class_code[:2] or None)


@router.get("/items/{code}")
def item(request: Request, code: str, _who: Editor) -> Response:
    if not ITEM_CODE.fullmatch(code):
        raise HTTPException(404, "no such item")
    return _item_page(request, code)


async def _save(request: Request, who: Any, code: str | None) -> Response:
    form = await _form(request)
    try:
        with _service(request).db.transaction() as session:
            editor.save_item(session, who.staff.username, form, code)
    except editor.EditRefused as exc:
        return _item_page(request, code, values=form, status_code=422, error=exc)
    return RedirectResponse("/console/catalog?done=saved", status_code=303)


@router.post("/items/new")
async def add_item(request: Request, who: Editor) -> Response:
    return await _save(request, who, None)


@router.post("/items/{code}")
async def save_item(request: Request, code: str, who: Editor) -> Response:
    if not ITEM_CODE.fullmatch(code):
        raise HTTPException(404, "no such item")
    return await _save(request, who, code)


@router.post("/items/{code}/disabled")
async def disable_item(request: Request, code: str, who: Editor) -> Response:
    form = await _form(request)
    try:
        with _service(request).db.transaction() as session:
            editor.set_disabled(session, who.staff.username, code, form.get("disabled") == "1")
    except editor.EditRefused as exc:
        return _overview(request, 422, error=exc)
    return RedirectResponse("/console/catalog?done=saved", status_code=303)


@router.post("/materials")
async def save_material(request: Request, who: Editor) -> Response:
    form = await _form(request)
    try:
        with _service(request).db.transaction() as session:
            editor.save_material(session, who.staff.username, form)
    except editor.EditRefused as exc:
        return _overview(request, 422, error=exc)
    return RedirectResponse("/console/catalog?done=material", status_code=303)


@router.post("/discard")
async def discard(request: Request, who: Editor) -> Response:
    with _service(request).db.transaction() as session:
        editor.discard_draft(session, who.staff.username)
    return RedirectResponse("/console/catalog?done=discarded", status_code=303)


def _push(request: Request, who: Any, number: int, target: str) -> str | None:
    """Push published version `number`; None when sent, else why not (also audited).

    `target`: "all" (every registered terminal), "group:NAME" (a staged rollout to that
    terminal group, followed under Rollouts) or one terminal's id.
    """
    service = _service(request)
    version = None
    if ids.possible(number):
        with service.db.reading() as session:
            version = editor.published(session, number)
    if version is None:
        raise HTTPException(404, f"no published version {number}")
    target, by, note = target.strip(), who.staff.username, f"catalog {number}"
    failed = None
    try:
        if target.startswith("group:"):
            rollout = service.rollouts.start(
                "bundle", [target.removeprefix("group:")], by, document=version.document, note=note
            )
            outcome = f"rollout {rollout} to {target}"
        elif target == "all" or TERMINAL_ID.fullmatch(target):
            terminals = None if target == "all" else [target]
            pushed = ConfigBundles(service.db, service).push(version.document, terminals, by, note)
            outcome = f"sent to {len(pushed.terminals)} terminal(s)"
        else:
            outcome = failed = "target: all, group:NAME or a terminal's id"
    except ValueError as exc:  # BundleRefused, or the rollout engine's RolloutRefused
        outcome = failed = str(exc)
    with service.db.transaction() as session:
        editor.record_push(session, number, by, target, outcome)
    return failed


@router.post("/publish")
async def publish(request: Request, who: Editor) -> Response:
    form = await _form(request)
    note, target = form.get("note", "")[:500], form.get("target", "")
    try:
        with _service(request).db.transaction() as session:
            version = editor.publish(session, who.staff.username, note)
    except editor.EditRefused as exc:
        return _overview(request, 422, error=exc)
    if not target.strip():
        return RedirectResponse("/console/catalog?done=published", status_code=303)
    failed = _push(request, who, version.number, target)
    if failed:
        why = f"{version.version} published, not sent: {failed}"
        return _overview(request, 422, error=editor.EditRefused("target", why))
    return RedirectResponse(f"/console/catalog?done=pushed&to={target[:64]}", status_code=303)


@router.post("/versions/{number}/push")
async def push(request: Request, number: int, who: Editor) -> Response:
    form = await _form(request)
    target = form.get("target", "")
    failed = _push(request, who, number, target)
    if failed:
        return _overview(request, 422, error=editor.EditRefused("target", failed))
    return RedirectResponse(f"/console/catalog?done=pushed&to={target[:64]}", status_code=303)
