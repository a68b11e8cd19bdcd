"""Configuration bundles in the console: what each terminal was sent, what it answered, and a
rollback button for operators and admins.

Reading needs `fleet.read`; rolling back posts a form with the session's CSRF token and needs
`fleet.configure`. The rows are the ones `GET /api/fleet/bundles` gives; a rejected bundle shows
the terminal's own words (e.g. which check failed and what it went back to).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth.guard import allowed
from ..auth.roles import Permission
from ..catalog_bundles import BundleRefused, ConfigBundles, status
from .fleet import _local

if TYPE_CHECKING:
    from ..service import BackendService

Reader = allowed(Permission.READ_FLEET)
Configurer = allowed(Permission.CONFIGURE_FLEET)
TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

router = APIRouter(prefix="/console/fleet/bundles", include_in_schema=False)


def _service(request: Request) -> BackendService:
    return request.app.state.console_service


def _page(request: Request, status_code: int = 200, **extra: Any) -> Response:
    from .pages import render

    with _service(request).db.reading() as session:
        rows = status(session)
    for r in rows:
        r["created_local"] = _local(r["created_at"])
        r["finished_local"] = _local(r["finished_at"])
    done = "fleet.bundles.rolled_back" if request.query_params.get("done") == "rollback" else None
    return render(
        request,
        "fleet_bundles.html",
        status_code,
        rows=rows,
        terminals=sorted({r["terminal_id"] for r in rows}),
        **({"done": done, "error": None} | extra),
    )


@router.get("")
def bundles(request: Request, _who: Reader) -> Response:
    """Every bundle and rollback sent, newest first, with each terminal's answer."""
    return _page(request)


@router.post("/rollback")
def rollback(
    request: Request,
    who: Configurer,
    terminal_id: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not TERMINAL_ID.fullmatch(terminal_id):
        return _page(request, 404, error=("fleet.bundles.error.unknown", {"terminal": terminal_id}))
    if not reason.strip():
        return _page(request, 422, error=("fleet.bundles.error.reason", {}))
    service = _service(request)
    try:
        ConfigBundles(service.db, service).rollback(
            [terminal_id], who.staff.username, reason.strip()
        )
    except BundleRefused:
        return _page(request, 404, error=("fleet.bundles.error.unknown", {"terminal": terminal_id}))
    return RedirectResponse("/console/fleet/bundles?done=rollback", status_code=303)
