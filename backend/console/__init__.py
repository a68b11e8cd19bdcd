"""The staff console: server-rendered pages (Jinja2, htmx), every asset served by the backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .. import security_headers

if TYPE_CHECKING:
    from ..service import BackendService

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, service: BackendService) -> None:
    """Serve the console under /console on `app`, over the same service and sign-in."""
    # Imported here: the service uses the console's deadline rules, and the pages the service.
    from .bundles import router as bundles_router
    from .catalog import router as catalog_router
    from .fleet import router as fleet_router
    from .operator import router as operator_router
    from .pages import forbidden_page, not_found_page, router
    from .rollouts import router as rollouts_router
    from .terminal_staff import api_router as terminal_staff_api
    from .terminal_staff import console_router as terminal_staff_router

    # The console's pages and the API share the session cookie: one middleware sets the
    # security headers (no-store, CSP, Clear-Site-Data on sign-out) of both.
    security_headers.install(app)
    app.state.console_service = service
    app.state.console_forbidden = forbidden_page
    app.state.console_not_found = not_found_page
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(router)
    app.include_router(bundles_router)
    app.include_router(catalog_router)
    app.include_router(fleet_router)
    app.include_router(operator_router)
    app.include_router(rollouts_router)
    # Staff at the terminals: sign-in codes (page and JSON API) and originals waiting.
    app.include_router(terminal_staff_router)
    app.include_router(terminal_staff_api)
