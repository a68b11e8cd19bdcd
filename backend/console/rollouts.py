"""Terminal groups and staged rollouts in the console (docs/fleet-operations.md).

`/console/fleet/rollouts` lists the rollouts (state, stage, counts per stage) and the groups;
operators and admins (fleet.configure) create groups, add or remove terminals and start a
software rollout there. `/console/fleet/rollouts/{id}` shows each terminal's way through it,
the terminal's words, and the trail, with pause, resume and abort. Every form carries the
session's CSRF token; the work is done by the same functions as the REST routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from .. import rollouts as ro
from .. import terminal_groups as groups
from ..auth.guard import allowed
from ..auth.roles import Permission
from ..rollout_routes import RolloutBody, act, start_from
from ..rollout_tables import TerminalGroup
from . import ids
from .fleet import _local

if TYPE_CHECKING:
    from ..service import BackendService

Reader = allowed(Permission.READ_FLEET)
Configurer = allowed(Permission.CONFIGURE_FLEET)

router = APIRouter(prefix="/console/fleet/rollouts", include_in_schema=False)


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _list_page(request: Request, status_code: int = 200, **extra: Any) -> Response:
    from .pages import render

    with _service(request).db.reading() as session:
        rows = ro.listing(session)
        group_rows = groups.listing(session)
        for g in group_rows:
            g["terminals"] = groups.members(session, g["name"])
    for r in rows:
        r["created_local"] = _local(r["created_at"])
    return render(
        request,
        "fleet_rollouts.html",
        status_code,
        rows=rows,
        groups=group_rows,
        **({"done": None, "error": None} | extra),
    )


@router.get("")
def rollouts(request: Request, _who: Reader) -> Response:
    done = request.query_params.get("done")
    known = {"group": "fleet.rollouts.group_saved"}
    return _list_page(request, done=known.get(done or ""))


@router.post("/groups")
def save_group(
    request: Request,
    who: Configurer,
    name: Annotated[str, Form(max_length=40)],
    description: Annotated[str, Form(max_length=200)] = "",
    add: Annotated[str, Form(max_length=20000)] = "",
    remove: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Create the group if it is new, then add and remove the listed terminals."""
    adding, removing = add.replace(",", " ").split(), remove.replace(",", " ").split()
    try:
        with _service(request).db.transaction() as session:
            if session.get(TerminalGroup, name) is None:
                groups.create(session, name, description, who.staff.username)
            if adding:
                groups.add_members(session, name, adding, who.staff.username)
            if removing:
                groups.remove_members(session, name, removing, who.staff.username)
    except groups.GroupRefused as exc:
        return _list_page(request, 422, error=("fleet.rollouts.error", {"why": str(exc)}))
    return RedirectResponse("/console/fleet/rollouts?done=group", status_code=303)


@router.post("")
def start(
    request: Request,
    who: Configurer,
    version: Annotated[str, Form(max_length=40)],
    archive_url: Annotated[str, Form(max_length=500)],
    sha256: Annotated[str, Form(max_length=64)],
    size_bytes: Annotated[int, Form(ge=1)],
    stages: Annotated[str, Form(max_length=500)],
    abort_failed: Annotated[int, Form()] = 1,
    abort_percent: Annotated[int, Form()] = 100,
    wait_minutes: Annotated[int, Form()] = 120,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Start a software rollout; the stages are group names in order ("all" for the rest)."""
    if not 1 <= abort_percent <= 100:
        # Checked here: a number too big for a float would not even divide into a fraction.
        return _list_page(request, 422, error=("fleet.rollouts.error.percent", {}))
    try:
        body = RolloutBody(
            kind="software",
            stages=stages.replace(",", " ").split(),
            software={
                "version": version.strip(),
                "archive_url": archive_url.strip(),
                "sha256": sha256.strip().lower(),
                "size_bytes": size_bytes,
            },
            abort_failed=abort_failed,
            abort_fraction=abort_percent / 100,
            wait_minutes=wait_minutes,
            note=note,
        )
        rollout_id = start_from(ro_engine(request), body, who.staff.username)
    except ValidationError as exc:
        return _list_page(request, 422, error=("fleet.rollouts.error", {"why": _first_error(exc)}))
    except ro.RolloutRefused as exc:
        return _list_page(request, 422, error=("fleet.rollouts.error", {"why": str(exc)}))
    return RedirectResponse(f"/console/fleet/rollouts/{rollout_id}", status_code=303)


def ro_engine(request: Request) -> ro.Rollouts:
    return _service(request).rollouts


def _detail_page(request: Request, rollout_id: int, status_code: int = 200, **extra: Any):
    from .pages import render

    with _service(request).db.reading() as session:
        shown = ro.detail(session, rollout_id)
    for t in shown["targets"]:
        t["sent_local"], t["finished_local"] = _local(t["sent_at"]), _local(t["finished_at"])
    for e in shown["events"]:
        e["local"] = _local(e["at"])
    return render(
        request,
        "fleet_rollout.html",
        status_code,
        r=shown,
        **({"error": None} | extra),
    )


@router.get("/{rollout_id}")
def rollout(request: Request, rollout_id: int, _who: Reader) -> Response:
    if not ids.possible(rollout_id):
        return _unknown(request, rollout_id)
    try:
        return _detail_page(request, rollout_id)
    except ro.NoSuchRollout:
        return _unknown(request, rollout_id)


def _unknown(request: Request, rollout_id: int) -> Response:
    return _list_page(request, 404, error=("fleet.rollouts.error.unknown", {"id": rollout_id}))


@router.post("/{rollout_id}/actions")
def steer(
    request: Request,
    rollout_id: int,
    who: Configurer,
    action: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not ids.possible(rollout_id):
        return _unknown(request, rollout_id)
    try:
        if action not in ("pause", "resume", "abort"):
            return _detail_page(
                request, rollout_id, 422, error=("fleet.rollouts.error", {"why": action})
            )
        if not reason.strip():
            error = ("fleet.rollouts.error.reason", {})
            return _detail_page(request, rollout_id, 422, error=error)
        try:
            act(ro_engine(request), rollout_id, action, who.staff.username, reason.strip())
        except ro.RolloutRefused as exc:
            error = ("fleet.rollouts.error", {"why": str(exc)})
            return _detail_page(request, rollout_id, 409, error=error)
    except ro.NoSuchRollout:  # also when the form is refused for a rollout that is not there
        return _unknown(request, rollout_id)
    return RedirectResponse(f"/console/fleet/rollouts/{rollout_id}", status_code=303)
