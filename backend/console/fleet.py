"""The fleet dashboard: every terminal at a glance, a page per terminal with its history, and
the alarm buttons (acknowledge, clear) for operators.

Reading needs `fleet.read`; the buttons post a form with the session's CSRF token and need
`alarms.act` (operators only). The figures are the ones `GET /api/terminals` gives.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cloud_bridge.contract import messages as m

from .. import commands as command_lifecycle
from ..alarms import AlarmAlreadyCleared, AlarmNotFound, alarm_trail, list_alarms
from ..auth.guard import allowed
from ..auth.roles import Permission
from ..fleet import list_terminals
from ..models import utcnow
from ..presence import offline_time, presence_history
from .times import local_text

if TYPE_CHECKING:
    from ..service import BackendService

FleetReader = allowed(Permission.READ_FLEET)
AlarmActor = allowed(Permission.ACT_ON_ALARMS)
TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The contract's operation id, `#` included (the buttons' URLs carry it percent-encoded).
OPERATION_ID = re.compile(m.OPERATION_ID_PATTERN)
STATES = ("online", "degraded", "offline")
# Presence reasons the catalogs word (fleet.presence.reason.*); others are shown as they are.
PRESENCE_REASONS = (
    "stopped",
    "connection_lost",
    "session_taken_over",
    "heartbeats_missing",
    "heartbeats_late",
)
# Compartment states (locker.compartment.State) that hold or await something.
IN_USE = ("reserved", "holding_deposit", "holding_result")

router = APIRouter(prefix="/console/fleet", include_in_schema=False)


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


def _local(at: datetime | str | None) -> str:
    return local_text(at, "%m-%d %H:%M:%S")


def _duration(span: timedelta) -> dict[str, int]:
    minutes = int(span.total_seconds() // 60)
    return {"h": minutes // 60, "m": minutes % 60}


def command_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commands (commands.view) with what the command table shows: kind, local times, result."""
    for r in rows:
        r["kind"] = r["type"].removeprefix("command.")
        for stage in ("created", "sent", "delivered", "finished"):
            r[f"{stage}_local"] = _local(r[f"{stage}_at"])
        r["result_text"] = ", ".join(f"{k}: {v}" for k, v in r["result"].items())
    return rows


def _row(t: dict[str, Any]) -> dict[str, Any]:
    """One dashboard row from the API's view of a terminal."""
    telemetry = t["telemetry"] or {}
    devices = telemetry.get("devices") or {}
    faulty = {name: d.get("detail", "") for name, d in devices.items() if not d.get("ok")}
    compartments = telemetry.get("compartments") or {}
    free = compartments.get("empty", 0)
    printer = devices.get("printer") or {}
    service = telemetry.get("service") or {}
    whole = service.get("terminal")
    if whole:
        whole = whole | {"since_local": _local(whole.get("since"))}
    return {
        "terminal_id": t["terminal_id"],
        "status": t["status"],
        "reason": t["status_reason"],
        "faulty": faulty,
        "devices_known": bool(devices),
        "paper": printer.get("detail", "") if printer else "",
        "paper_ok": printer.get("ok", True),
        "free": free,
        "in_use": sum(compartments.get(state, 0) for state in IN_USE),
        "alarms": len(t["open_alarms"]),
        "backlog": telemetry.get("outbox_backlog"),
        # What an operator took out of service, as the terminal last reported it.
        "out_of_service": whole,
        "held": service.get("compartments") or {},
        "version": t["software_version"] or "",
        "last_heard": _local(t["last_heard_at"]),
        "offline_since": _local(t["offline_since"]),
    }


def _done(request: Request) -> str | None:
    done = request.query_params.get("done")
    return f"fleet.done.{done}" if done in ("acknowledge", "clear") else None


def _alarm_rows(alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for a in alarms:
        a["raised_local"] = _local(a["raised_at"])
    return alarms


def _page(request: Request, status_code: int = 200, **extra: Any) -> Response:
    from .pages import render

    service = _service(request)
    with service.db.reading() as session:
        terminals = list_terminals(session, utcnow(), service.presence.settings)
        live = list_alarms(session, "live")
    rows = [_row(t) for t in terminals]
    counts = Counter(r["status"] for r in rows)
    return render(
        request,
        "fleet.html",
        status_code,
        rows=rows,
        counts={"total": len(rows)} | {s: counts.get(s, 0) for s in STATES},
        alarms=_alarm_rows(live),
        back="/console/fleet",
        **({"done": _done(request), "error": None} | extra),
    )


def _terminal_page(
    request: Request, terminal_id: str, status_code: int = 200, **extra: Any
) -> Response:
    from .pages import render

    service = _service(request)
    with service.db.reading() as session:
        found = list_terminals(session, utcnow(), service.presence.settings, terminal_id)
    if not found:
        return render(request, "fleet_terminal.html", 404, terminal=None, **extra)
    with service.db.reading() as session:
        history = _alarm_rows(list_alarms(session, None, terminal_id, limit=100))
        for a in history:
            a["trail"] = [
                e | {"at_local": _local(e["at"])}
                for e in alarm_trail(session, terminal_id, a["operation_id"])
            ]
        commands = command_rows(command_lifecycle.listing(session, terminal_id, limit=50))
        now = utcnow()
        presence = [
            p | {"at_local": _local(p["at"])}
            for p in presence_history(session, terminal_id, service.presence.settings.history_keep)
        ]
        offline = {
            label: _duration(offline_time(session, terminal_id, now, window))
            for label, window in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)))
        }
    t = found[0]
    return render(
        request,
        "fleet_terminal.html",
        status_code,
        terminal=_row(t),
        telemetry=t["telemetry"] or {},
        telemetry_at=_local((t["telemetry"] or {}).get("sent_at")),
        history=history,
        alarms=[a for a in history if a["state"] != "cleared"],
        commands=commands,
        presence=presence,
        offline=offline,
        presence_settings=service.presence.settings,
        presence_reasons=PRESENCE_REASONS,
        service_reasons=[r.value for r in m.ServiceReason],
        service_holds=[h.value for h in m.ServiceHold],
        back=f"/console/fleet/terminals/{terminal_id}",
        **({"done": _done(request), "error": None} | extra),
    )


@router.get("")
def fleet(request: Request, _who: FleetReader) -> Response:
    """Every terminal at a glance, and the open alarms."""
    return _page(request)


@router.get("/commands")
def fleet_commands(request: Request, _who: FleetReader, state: str = "") -> Response:
    """Every terminal's commands, newest first, filtered by state, with the count of each."""
    from .pages import render

    chosen = state or None
    with _service(request).db.reading() as session:
        counts = command_lifecycle.counts(session)
        try:
            rows = command_rows(command_lifecycle.listing(session, state=chosen))
        except ValueError:
            chosen, rows = None, []
    bad = state != "" and chosen is None
    return render(
        request,
        "fleet_all_commands.html",
        422 if bad else 200,
        rows=rows,
        states=command_lifecycle.STATES,
        counts=counts,
        chosen=chosen,
        error=("fleet.commands.bad_state", {}) if bad else None,
    )


@router.get("/terminals/{terminal_id}")
def terminal(request: Request, terminal_id: str, _who: FleetReader) -> Response:
    """One terminal: its state, devices, alarms with their trails, and commands."""
    if not TERMINAL_ID.fullmatch(terminal_id):
        return _page(request, 404, error=("fleet.no_terminal", {}))
    return _terminal_page(request, terminal_id)


def _act(
    request: Request, step: str, terminal_id: str, operation_id: str, who: Any, note: str, back: str
) -> Response:
    def again(status: int, error: tuple[str, dict[str, str]]) -> Response:
        if back.startswith("/console/fleet/terminals/") and TERMINAL_ID.fullmatch(terminal_id):
            return _terminal_page(request, terminal_id, status, error=error)
        return _page(request, status, error=error)

    if not (
        TERMINAL_ID.fullmatch(terminal_id)
        and len(operation_id) <= m.MAX_OPERATION_ID
        and OPERATION_ID.fullmatch(operation_id)
    ):
        return again(404, ("fleet.error.not_found", {}))
    if step == "clear" and not note.strip():
        return again(422, ("fleet.error.note_required", {}))
    service = _service(request)
    try:
        with service.db.transaction() as session:
            do = service.alarms.acknowledge if step == "acknowledge" else service.alarms.clear
            do(session, terminal_id, operation_id, who.staff.username, note.strip(), utcnow())
    except AlarmNotFound:
        return again(404, ("fleet.error.not_found", {}))
    except AlarmAlreadyCleared as exc:
        by = str(exc).rsplit(" by ", 1)[-1]
        return again(409, ("fleet.error.cleared", {"by": by}))
    target = back if back.startswith("/console/fleet") else "/console/fleet"
    return RedirectResponse(f"{target}?done={step}", status_code=303)


@router.post("/alarms/{terminal_id}/{operation_id}/acknowledge")
def acknowledge(
    request: Request,
    terminal_id: str,
    operation_id: str,
    who: AlarmActor,
    note: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=200)] = "/console/fleet",
) -> Response:
    return _act(request, "acknowledge", terminal_id, operation_id, who, note, back)


@router.post("/alarms/{terminal_id}/{operation_id}/clear")
def clear(
    request: Request,
    terminal_id: str,
    operation_id: str,
    who: AlarmActor,
    note: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=200)] = "/console/fleet",
) -> Response:
    return _act(request, "clear", terminal_id, operation_id, who, note, back)
