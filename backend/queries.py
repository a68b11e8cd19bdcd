"""Read models for the REST API: plain dicts, personal data masked where a list shows it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, desc, or_, select
from sqlalchemy.orm import Session

from privacy import mask_document, mask_name, mask_phone

from . import step_deadlines, supplement_requests
from .models import (
    Application,
    IngestCounter,
    LoadOperation,
    Material,
    MaterialSupplement,
    RejectedMessage,
    WorkflowHistory,
)
from .workflow import NotFound


def _application(app: Application, *, masked: bool) -> dict[str, Any]:
    """One case's summary; `masked`: the applicant as clerks see them (张*, 138****8000)."""
    return {
        "application_no": app.application_no,
        "terminal_id": app.terminal_id,
        "item_code": app.item_code,
        "status": app.status,
        "applicant": {
            "name": mask_name(app.applicant_name) if masked else app.applicant_name,
            "id_document_type": app.id_document_type,
            "id_number": (
                mask_document(app.id_document_type, app.id_number) if masked else app.id_number
            ),
            "phone": mask_phone(app.phone) if masked else app.phone,
        },
        "deposit_expected": app.deposit_expected,
        "deposit_compartment_id": app.deposit_compartment_id,
        "submitted_at": app.submitted_at,
        "updated_at": app.updated_at,
    }


def list_applications(
    session: Session, status: str | None = None, *, limit: int = 100, after: str | None = None
) -> list[dict[str, Any]]:
    """One page of cases, oldest submission first (ties by number), the applicant masked.

    `after` is the last application number of the page before: this page starts behind it in
    that order, whatever its status is now (ValueError if no case has that number). A page
    shorter than `limit` is the last.
    """
    query = select(Application).order_by(Application.submitted_at, Application.application_no)
    if status:
        query = query.where(Application.status == status)
    if after is not None:
        last = session.get(Application, after)
        if last is None:
            raise ValueError(f"after: no application {after}")
        query = query.where(
            or_(
                Application.submitted_at > last.submitted_at,
                and_(
                    Application.submitted_at == last.submitted_at,
                    Application.application_no > last.application_no,
                ),
            )
        )
    return [_application(a, masked=True) for a in session.scalars(query.limit(limit))]


def application_detail(session: Session, application_no: str) -> dict[str, Any]:
    app = session.get(Application, application_no)
    if app is None:
        raise NotFound(f"no application {application_no}")
    out = _application(app, masked=False)
    out["identity"] = app.identity
    out["materials"] = [
        {
            "material_code": x.material_code,
            "sha256": x.sha256,
            "size": x.size,
            "content_type": x.content_type,
            "pages": x.pages,
            "verified": x.verified,
            "valid_until": x.valid_until,
            "reused": x.reused_from is not None,
        }
        for x in session.scalars(
            select(Material).where(Material.application_no == application_no).order_by(Material.id)
        )
    ]
    out["supplements"] = [
        {
            "material_code": x.material_code,
            "reason": x.reason,
            "working_days": x.working_days,
            "due_on": x.due_on,
            "calendar_covered": x.calendar_covered,
            "note": x.note,
            "supplied_at": x.supplied_at,
        }
        for x in session.scalars(
            select(MaterialSupplement)
            .where(MaterialSupplement.application_no == application_no)
            .order_by(MaterialSupplement.id)
        )
    ]
    # What supplement requests asked for, and each step's due day (ADR 0024).
    out["requested"] = supplement_requests.history(session, application_no)
    out["steps"] = [
        {"step": s.step, "days": s.days, "due_on": s.due_on, "done_at": s.done_at}
        for s in step_deadlines.rows(session, application_no)
    ]
    out["history"] = [
        {"from": h.from_state, "to": h.to_state, "actor": h.actor, "note": h.note, "at": h.at}
        for h in session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.application_no == application_no)
            .order_by(WorkflowHistory.id)
        )
    ]
    out["loads"] = [
        {
            "load_id": x.load_id,
            "terminal_id": x.terminal_id,
            "compartment_id": x.compartment_id,
            "size": x.size,
            "status": x.status,
            "code_rotation": x.code_rotation,
            "code_expires_at": x.code_expires_at,
            "created_at": x.created_at,
        }
        for x in session.scalars(
            select(LoadOperation)
            .where(LoadOperation.application_no == application_no)
            .order_by(LoadOperation.created_at)
        )
    ]
    return out


def ingest_stats(session: Session, limit: int = 100) -> dict[str, Any]:
    counters = {c.name: c.value for c in session.scalars(select(IngestCounter))}
    rejected = session.scalars(
        select(RejectedMessage).order_by(desc(RejectedMessage.id)).limit(limit)
    )
    return {
        "stored": counters.get("stored", 0),
        "duplicate": counters.get("duplicate", 0),
        "rejected": counters.get("rejected", 0),
        "rejected_messages": [
            {
                "topic": r.topic,
                "terminal_id": r.terminal_id,
                "message_id": r.message_id,
                "reason": r.reason,
                "size": r.size,
                "received_at": r.received_at,
            }
            for r in rejected
        ],
    }
