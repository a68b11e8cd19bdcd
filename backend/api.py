"""REST API for staff and operators: every route needs a signed-in person with the right role."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_bridge.contract.messages import TerminalId, UtcTime
from privacy import mask_document, mask_name, mask_phone

from . import commands as command_lifecycle
from . import limits, queries
from .audit_routes import audit_router
from .auth import routes as auth_routes
from .auth.accounts import Accounts
from .auth.guard import Auth, Forbidden, NotSignedIn, allowed, refuse_stranger, require
from .auth.roles import Permission, permissions_of
from .auth.sessions import Sessions, SignedIn
from .catalog_bundles import ConfigBundles
from .catalog_routes import catalog_router
from .claim_routes import claim_router
from .console import install as install_console
from .dead_letter_routes import dead_letter_router
from .fleet_routes import fleet_router
from .front import Front
from .metrics import metrics_router
from .models import Application
from .notifications.routes import notification_routes
from .operator_commands import OperatorCommands
from .operator_routes import operator_router
from .rollout_routes import rollout_router
from .service import BackendService
from .staff import Actor, KeyReused, ReasonRequired, VersionConflict, ViewLimitReached
from .workflow import (
    BadSupplementRequest,
    InvalidTransition,
    NotFound,
    State,
    TooManyRotations,
    WorkflowError,
)

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = r"^[A-Za-z0-9_-]{8,64}$"


class ActionBody(BaseModel):
    """A review step: a reason from the fixed list where the step has one, and a private note."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=32, pattern=r"^[a-z_]+$")
    note: str = Field(default="", max_length=500)
    materials: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]] = Field(
        default_factory=list,
        max_length=20,
        description="request-supplement: the wanted materials, codes from the item's list",
    )
    version: int | None = Field(default=None, ge=1, description="the version the action saw")
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY)


class LoadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terminal_id: TerminalId
    size: Literal["S", "M", "L"] = "S"
    version: int | None = Field(default=None, ge=1)
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_KEY)


STEP_ROUTES = {
    "accept": "accept",
    "review": "review",
    "approve": "approve",
    "reject": "reject",
    "request-supplement": "request_supplement",
    "resume": "resume",
}

Reader = allowed(Permission.READ_APPLICATIONS)
Clerk = allowed(Permission.ACT_ON_APPLICATIONS)
Loader = allowed(Permission.LOAD_RESULTS)
FleetReader = allowed(Permission.READ_FLEET)
RatingsReader = allowed(Permission.READ_RATINGS)
IngestReader = allowed(Permission.READ_INGEST)
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY)]


def _actor(who: SignedIn) -> Actor:
    return Actor(who.staff.id, who.staff.username)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if request.url.path.startswith("/console") and request.method == "GET":
            return RedirectResponse("/console/login", status_code=303)
        return JSONResponse(
            {"detail": "sign in first"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A body FastAPI cannot parse is a 400 raised before the route's sign-in runs.
        if exc.status_code == 400 and (refusal := await refuse_stranger(request)) is not None:
            return refusal
        if exc.status_code == 404 and (page := limits.console_not_found(request)) is not None:
            return page
        return await http_exception_handler(request, exc)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        page = getattr(request.app.state, "console_forbidden", None)
        if page is not None and request.url.path.startswith("/console"):
            return page(request, exc)
        return JSONResponse({"detail": "not allowed", "reason": exc.reason}, status_code=403)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidTransition)
    async def _conflict(_request: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "state": exc.state, "step": exc.step}, status_code=409
        )

    @app.exception_handler(VersionConflict)
    async def _stale(_request: Request, exc: VersionConflict) -> JSONResponse:
        return JSONResponse(
            {
                "detail": str(exc),
                "version": exc.current,
                "last_change": exc.last.text if exc.last else None,
            },
            status_code=409,
        )

    @app.exception_handler(KeyReused)
    async def _key(_request: Request, exc: KeyReused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ReasonRequired)
    async def _reason(_request: Request, exc: ReasonRequired) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(BadSupplementRequest)
    async def _asked(_request: Request, exc: BadSupplementRequest) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(TooManyRotations)
    @app.exception_handler(ViewLimitReached)
    async def _too_many(_request: Request, exc: TooManyRotations | ViewLimitReached) -> Response:
        # As often as allowed for now: 429, and when the next one is possible.
        retry = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return JSONResponse({"detail": str(exc)}, status_code=429, headers=retry)

    @app.exception_handler(WorkflowError)
    async def _workflow(_request: Request, exc: WorkflowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot take or compare reached it, a route's own checks not
        # having refused it (PostgreSQL: a NUL character in text, a number out of range): the
        # caller's input, refused like a malformed field. Neither the answer nor the log line
        # repeats it; the line names the route's template, never the path as sent.
        route = getattr(request.scope.get("route"), "path", "-")
        cause = type(exc.orig).__name__
        log.warning(
            "%s %s: the database refused a value in the request (%s)", request.method, route, cause
        )
        if any("\x00" in str(value) for value in request.path_params.values()):
            # An id with a NUL character in it names nothing that can exist.
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse(
            {
                "detail": "a value in the request cannot be stored or looked up "
                "(a NUL character, or out of range)"
            },
            status_code=422,
        )


def serve(
    service: BackendService, host: str = "127.0.0.1", port: int = 8080, front: Front | None = None
) -> None:
    """Start the service, serve its REST API with uvicorn until a signal, then stop it."""
    front = front or Front()
    service.start()
    try:
        front.http_server(create_app(service, front=front), host, port).run()
    finally:
        service.stop()


def create_app(
    service: BackendService, auth: Auth | None = None, front: Front | None = None
) -> FastAPI:
    """The FastAPI application over one BackendService, reached as `front` says."""
    # No /docs or /redoc: FastAPI's pages load Swagger UI and ReDoc from a CDN, unpinned and
    # without integrity, into the console's origin, where a script rides the staff session
    # and reads the CSRF token off any page. The OpenAPI document stays (docs/console.md).
    app = FastAPI(title="allhours backend", version="0.1.0", docs_url=None, redoc_url=None)
    secure = (front or Front()).secure_cookies
    app.state.auth = auth or Auth(Accounts(service.db), Sessions(service.db), secure)
    desk, db = service.desk, service.db
    _install_errors(app)
    limits.install(app)
    app.include_router(auth_routes.router)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness for a load balancer: names no person and no case, so it needs no sign-in."""
        return service.health()

    @app.get("/api/applications")
    def applications(
        _who: Reader,
        status: State | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        after: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    ) -> list[dict[str, Any]]:
        """Cases, oldest submission first, `limit` a page, the applicant always masked (张*,
        138****8000); the next page: `after` = the last `application_no` of this one."""
        try:
            with db.reading() as session:
                return queries.list_applications(
                    session, status.value if status else None, limit=limit, after=after
                )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    def _detail(application_no: str, unmasked: bool = False) -> dict[str, Any]:
        with db.reading() as session:
            out = queries.application_detail(session, application_no)
            app_row = session.get(Application, application_no)
            out["version"] = app_row.version if app_row else None
        if not unmasked:
            applicant = out["applicant"]
            applicant["name"] = mask_name(applicant["name"])
            applicant["id_number"] = mask_document(
                applicant["id_document_type"], applicant["id_number"]
            )
            applicant["phone"] = mask_phone(applicant["phone"])
        return out

    @app.get("/api/applications/{application_no}")
    def application(application_no: str, who: Reader, unmasked: bool = False) -> dict[str, Any]:
        """One case, the applicant masked; `unmasked=true` shows them in full and is audited
        (429 with `Retry-After` once the person made the hour's most such views)."""
        if unmasked:
            if Permission.VIEW_UNMASKED not in permissions_of(list(who.staff.roles)):
                raise Forbidden(Permission.VIEW_UNMASKED.value)
            desk.record_unmasked_view(_actor(who), application_no)
        return _detail(application_no, unmasked)

    for path, step in STEP_ROUTES.items():

        def act(
            application_no: str,
            who: Clerk,
            body: ActionBody | None = None,
            key: KeyHeader = None,
            _step: str = step,
        ) -> dict[str, Any]:
            body = body or ActionBody()
            outcome = desk.act(
                _actor(who),
                application_no,
                _step,
                reason=body.reason,
                note=body.note,
                version=body.version,
                key=body.idempotency_key or key,
                materials=body.materials,
            )
            return _detail(application_no) | {"outcome": outcome}

        app.add_api_route(
            f"/api/applications/{{application_no}}/{path}",
            act,
            methods=["POST"],
            name=step,
            summary=f"{step.replace('_', ' ')} an application",
        )

    @app.post("/api/applications/{application_no}/load-result")
    def load_result(
        application_no: str, body: LoadBody, who: Loader, key: KeyHeader = None
    ) -> dict[str, Any]:
        outcome = desk.act(
            _actor(who),
            application_no,
            "load_result",
            terminal_id=body.terminal_id,
            size=body.size,
            version=body.version,
            key=body.idempotency_key or key,
        )
        return {"load_id": outcome["load_id"], "application": _detail(application_no)}

    @app.post("/api/applications/{application_no}/resend-code")
    def resend_code(
        application_no: str, who: Loader, body: ActionBody | None = None, key: KeyHeader = None
    ) -> dict[str, Any]:
        """A new pickup code, texted to the applicant: by whoever loads results on an unclaimed
        case, by its holder or a supervisor on a claimed one (409 naming the holder), at most
        `WorkflowSettings.code_rotations_per_day` (3) times a case in any 24 hours (429 with
        `Retry-After`: each rotation is an SMS, and the provider caps them per number)."""
        body = body or ActionBody()
        outcome = desk.act(
            _actor(who),
            application_no,
            "resend_code",
            note=body.note,
            version=body.version,
            key=body.idempotency_key or key,
        )
        return {"load_id": outcome["load_id"], "code_rotation": outcome["code_rotation"]}

    @app.post("/api/applications/{application_no}/return")
    def return_result(
        application_no: str, who: Loader, body: ActionBody | None = None, key: KeyHeader = None
    ) -> dict[str, Any]:
        body = body or ActionBody()
        desk.act(
            _actor(who),
            application_no,
            "return",
            note=body.note,
            version=body.version,
            key=body.idempotency_key or key,
        )
        return _detail(application_no)

    app.include_router(fleet_router(db, service.alarms, service.presence.settings))
    app.include_router(catalog_router(db, ConfigBundles(db, service)))
    app.include_router(operator_router(db, OperatorCommands(db, service)))
    app.include_router(rollout_router(db, service.rollouts))
    app.include_router(metrics_router(service))

    @app.get("/api/commands")
    def commands(
        _who: FleetReader,
        terminal_id: Annotated[str | None, Query(max_length=64)] = None,
        state: Annotated[str | None, Query(max_length=16)] = None,
    ) -> list[dict[str, Any]]:
        """Every terminal's commands, newest first (200), of one terminal and/or one state."""
        try:
            with db.reading() as session:
                return command_lifecycle.listing(session, terminal_id, state)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    # SMS to applicants, masked (codes never in clear): signed-in staff with the outbox right.
    app.include_router(
        notification_routes(
            db,
            [Depends(require(Permission.READ_SMS_OUTBOX))],
            [Depends(require(Permission.FOLLOW_UP_SMS))],
        )
    )

    @app.get("/api/ratings/summary")
    def ratings_summary(
        _who: RatingsReader,
        since: UtcTime | None = None,
        until: UtcTime | None = None,
    ) -> dict[str, Any]:
        """Satisfaction per item and per terminal, and the low scores to follow up; `since` and
        `until` lie in [2000, 3000) like every date-time of the wire contract (422 otherwise)."""
        with db.reading() as session:
            return service.ingest.ratings.summary(session, since, until)

    @app.get("/api/ingest/stats")
    def ingest_stats(_who: IngestReader) -> dict[str, Any]:
        with db.reading() as session:
            return queries.ingest_stats(session)

    app.include_router(dead_letter_router(db, service.ingest))
    app.include_router(claim_router(db))
    app.include_router(audit_router(db))
    install_console(app, service)
    return app
