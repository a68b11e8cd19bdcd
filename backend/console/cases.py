"""What the console shows of applications: the filtered queue and one case, applicant masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from privacy import mask_document, mask_name, mask_phone

from .. import claims, step_deadlines, supplement_requests
from ..models import (
    Application,
    ApplicationPromise,
    CaseClaim,
    Material,
    MaterialSupplement,
    StaffAccount,
    StaffAction,
    WorkflowHistory,
)
from ..staff import REASONS
from ..workdays import WorkingDayCalendar
from ..workflow import NotFound, State
from .deadlines import (
    Colour,
    colour_of,
    owed_due_column,
    step_colour,
    step_due_column,
    where_colour,
)

QUEUE_LIMIT = 200


@dataclass(frozen=True)
class QueueFilter:
    state: str | None = None
    item_code: str | None = None
    terminal_id: str | None = None
    colour: Colour | None = None
    # "mine": held by the person asking; "unclaimed": nobody holds it; None: everything.
    holder: str | None = None


HOLDER_FILTERS = ("mine", "unclaimed")


def queue(
    session: Session,
    f: QueueFilter,
    calendar: WorkingDayCalendar,
    today: date,
    staff_id: int | None = None,
) -> list[dict[str, Any]]:
    """Applications matching the filter, oldest first, each with its deadline colour today."""
    holder = aliased(StaffAccount)
    query = (
        select(
            Application,
            ApplicationPromise.promised_by,
            owed_due_column().label("owed_due"),
            step_due_column().label("step_due"),
            holder.username,
        )
        .outerjoin(
            ApplicationPromise,
            ApplicationPromise.application_no == Application.application_no,
        )
        .outerjoin(CaseClaim, CaseClaim.application_no == Application.application_no)
        .outerjoin(holder, holder.id == CaseClaim.staff_id)
        .order_by(Application.submitted_at)
        .limit(QUEUE_LIMIT)
    )
    if f.holder == "mine":
        query = query.where(CaseClaim.staff_id == staff_id)
    elif f.holder == "unclaimed":
        query = query.where(CaseClaim.staff_id.is_(None))
    if f.colour:
        query = where_colour(query, calendar, f.colour, today)
    if f.state:
        query = query.where(Application.status == f.state)
    if f.item_code:
        query = query.where(Application.item_code == f.item_code)
    if f.terminal_id:
        query = query.where(Application.terminal_id == f.terminal_id)
    return [
        {
            "application_no": a.application_no,
            "item_code": a.item_code,
            "terminal_id": a.terminal_id,
            "status": a.status,
            "applicant": mask_name(a.applicant_name),
            "submitted_at": a.submitted_at,
            "promised_by": promised_by,
            "beyond_calendar": promised_by is not None and not calendar.covers(promised_by),
            "owed_due": owed_due,
            "colour": colour_of(calendar, promised_by, a.status, today, owed_due, step_due),
            "holder": holder_name,
        }
        for a, promised_by, owed_due, step_due, holder_name in session.execute(query)
    ]


def choices(session: Session) -> dict[str, list[str]]:
    """The values the queue's filters offer."""
    items = session.scalars(
        select(Application.item_code).distinct().order_by(Application.item_code)
    )
    terminals = session.scalars(
        select(Application.terminal_id).distinct().order_by(Application.terminal_id)
    )
    return {
        "states": [s.value for s in State],
        "items": list(items),
        "terminals": list(terminals),
        "colours": [c.value for c in Colour],
        "holders": list(HOLDER_FILTERS),
    }


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    note: str


def case(
    session: Session,
    application_no: str,
    unmasked: bool = False,
    calendar: WorkingDayCalendar | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """One application as a clerk sees it: applicant masked unless asked (and audited)."""
    app = session.get(Application, application_no)
    if app is None:
        raise NotFound(f"no application {application_no}")
    promise = session.get(ApplicationPromise, application_no)
    steps = step_deadlines.rows(session, application_no)
    materials = session.scalars(
        select(Material).where(Material.application_no == application_no).order_by(Material.id)
    ).all()
    owed = session.scalars(
        select(MaterialSupplement)
        .where(MaterialSupplement.application_no == application_no)
        .order_by(MaterialSupplement.id)
    ).all()
    history = [
        HistoryLine(h.at, h.actor, h.from_state, h.to_state, h.note)
        for h in session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.application_no == application_no)
            .order_by(WorkflowHistory.id)
        )
    ]
    notes = [
        {"at": a.at, "who": username, "action": a.action, "note": a.note}
        for a, username in session.execute(
            select(StaffAction, StaffAccount.username)
            .join(StaffAccount, StaffAccount.id == StaffAction.staff_id)
            .where(StaffAction.application_no == application_no, StaffAction.note != "")
            .order_by(StaffAction.at)
        )
    ]
    return {
        "application_no": app.application_no,
        "item_code": app.item_code,
        "terminal_id": app.terminal_id,
        "status": app.status,
        "version": app.version,
        "submitted_at": app.submitted_at,
        "applicant": {
            "name": app.applicant_name if unmasked else mask_name(app.applicant_name),
            "id_document_type": app.id_document_type,
            "id_number": (
                app.id_number if unmasked else mask_document(app.id_document_type, app.id_number)
            ),
            "phone": app.phone if unmasked else mask_phone(app.phone),
            "unmasked": unmasked,
        },
        "deposit_compartment_id": app.deposit_compartment_id,
        "materials": [
            {
                "id": m.id,
                "material_code": m.material_code,
                "pages": m.pages,
                "size": m.size,
                "content_type": m.content_type,
                "verified": m.verified,
                "reused": m.reused_from is not None,
            }
            for m in materials
        ],
        "owed": [
            {
                "material_code": s.material_code,
                "due_on": s.due_on,
                "supplied": bool(s.supplied_at),
                "supplied_at": s.supplied_at,
                "colour": None
                if s.supplied_at or calendar is None or today is None
                else colour_of(calendar, None, app.status, today, s.due_on),
                "beyond_calendar": calendar is not None and not calendar.covers(s.due_on),
            }
            for s in owed
        ],
        "promise": _promise(promise, calendar),
        "colour": None
        if calendar is None or today is None
        else colour_of(
            calendar,
            promise.promised_by if promise else None,
            app.status,
            today,
            min((s.due_on for s in owed if not s.supplied_at), default=None),
            min((s.due_on for s in steps if s.done_at is None), default=None),
        ),
        "steps": [
            {
                "step": s.step,
                "days": s.days,
                "due_on": s.due_on,
                "done_at": s.done_at,
                "colour": None
                if s.done_at or calendar is None or today is None
                else step_colour(calendar, s.due_on, app.status, today),
                "beyond_calendar": calendar is not None and not calendar.covers(s.due_on),
            }
            for s in steps
        ],
        "holder": claims.holder(session, application_no),
        "requested": _requested(session, app),
        # What a supplement request may name: the item's materials and the case's own.
        "requestable": supplement_requests.choices(session, app),
        "history": history,
        "notes": notes,
    }


def _requested(session: Session, app: Application) -> list[dict[str, Any]]:
    """Every material a supplement request asked for: its name, why, and whether it came."""
    names = supplement_requests.choices(session, app)
    why = {r.code: r for r in REASONS["request_supplement"]}
    out = []
    for r in supplement_requests.history(session, app.application_no):
        reason = why.get(str(r["reason"]))
        out.append(
            r
            | {
                "name": names.get(str(r["material_code"]), r["material_code"]),
                "reason_zh": reason.zh if reason else r["reason"],
                "reason_en": reason.en if reason else r["reason"],
            }
        )
    return out


def _promise(
    promise: ApplicationPromise | None, calendar: WorkingDayCalendar | None
) -> dict[str, Any] | None:
    if promise is None:
        return None
    return {
        "days": promise.promised_days,
        "by": promise.promised_by,
        "paused_on": promise.paused_on,
        "paused_days": promise.paused_days,
        # The promised day falls in a year whose official table is not loaded.
        "beyond_calendar": calendar is not None and not calendar.covers(promise.promised_by),
    }
