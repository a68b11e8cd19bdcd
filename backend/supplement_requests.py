"""Supplement requests (补正) that name materials: what staff may ask for, and how it is worded.

Staff pick the wanted materials from the item's list (the catalog's materials of the item, and
any other the case already holds or owes) and one reason from the fixed list; nothing a clerk
types reaches the citizen. The SMS names the materials by their catalog names, the terminal's
status answer lists them (`ApplicationStatus.requested`), and once every material of the open
request has arrived at a terminal the case's clock restarts by itself (supplements.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract.catalog import UnknownItem, find_item

from .models import Application, Material, MaterialSupplement, RequestedMaterial

MAX_REQUESTED = 20  # the contract's bound on ApplicationStatus.requested
_SMS_CHARS = re.compile(r"[^0-9A-Za-z\u4e00-\u9fff:_\- ]")
SMS_LIMIT = 35  # a template variable's bound (notifications.templates.MAX_VARIABLE_CHARS)


class BadRequest(ValueError):
    """Materials that cannot be asked for: none, too many, twice, or not the item's."""


def choices(session: Session, app: Application) -> dict[str, str]:
    """Material code -> Chinese name, for the materials staff may ask for on this case."""
    out: dict[str, str] = {}
    try:
        for spec in find_item(app.item_code).materials:
            out[spec.code] = spec.name_zh
    except UnknownItem:
        pass  # an item the built-in catalog no longer lists: the case's own materials remain
    held = session.scalars(
        select(Material.material_code).where(Material.application_no == app.application_no)
    )
    owed = session.scalars(
        select(MaterialSupplement.material_code).where(
            MaterialSupplement.application_no == app.application_no
        )
    )
    for code in [*held, *owed]:
        out.setdefault(code, code)
    return out


def check(session: Session, app: Application, materials: Sequence[str]) -> dict[str, str]:
    """The asked materials in order with their names; BadRequest says what is wrong."""
    if not materials:
        raise BadRequest("a supplement request names at least one material")
    if len(materials) > MAX_REQUESTED:
        raise BadRequest(f"at most {MAX_REQUESTED} materials in one supplement request")
    if len(set(materials)) != len(materials):
        raise BadRequest("a material is named twice")
    allowed = choices(session, app)
    unknown = [c for c in materials if c not in allowed]
    if unknown:
        raise BadRequest(
            f"{app.item_code} has no material {', '.join(sorted(c[:32] for c in unknown))}"
        )
    return {c: allowed[c] for c in materials}


def sms_value(names: Sequence[str]) -> str:
    """The names for the SMS variable: plain characters, within its 35, "等N项" when cut."""
    clean = [_SMS_CHARS.sub("", n).strip() or "材料" for n in names]
    for shown in range(len(clean), 0, -1):
        text = " ".join(clean[:shown])
        if shown < len(clean):
            text += f" 等{len(clean)}项"
        if len(text) <= SMS_LIMIT:
            return text
    return f"材料{len(clean)}项"


def record(
    session: Session,
    application_no: str,
    materials: Sequence[str],
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    for code in materials:
        session.add(
            RequestedMaterial(
                application_no=application_no,
                material_code=code,
                reason=reason,
                requested_by=actor,
                requested_at=now,
            )
        )


def open_rows(session: Session, application_no: str) -> list[RequestedMaterial]:
    """The materials of the open request not brought yet, in the order asked."""
    return list(
        session.scalars(
            select(RequestedMaterial)
            .where(
                RequestedMaterial.application_no == application_no,
                RequestedMaterial.supplied_at.is_(None),
                RequestedMaterial.closed_at.is_(None),
            )
            .order_by(RequestedMaterial.id)
        )
    )


def close(session: Session, application_no: str, now: datetime) -> int:
    """The request ended without them (staff resumed or decided): no longer asked for."""
    rows = open_rows(session, application_no)
    for row in rows:
        row.closed_at = now
    return len(rows)


def history(session: Session, application_no: str) -> list[dict[str, object]]:
    """Every material ever asked for on the case, for its page."""
    return [
        {
            "material_code": r.material_code,
            "reason": r.reason,
            "requested_by": r.requested_by,
            "requested_at": r.requested_at,
            "supplied_at": r.supplied_at,
            "closed_at": r.closed_at,
        }
        for r in session.scalars(
            select(RequestedMaterial)
            .where(RequestedMaterial.application_no == application_no)
            .order_by(RequestedMaterial.id)
        )
    ]
