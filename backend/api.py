"""REST API for staff and operators (no staff login yet: bind it to a trusted network)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from cloud_bridge.contract.messages import TerminalId

from . import queries
from .notifications.routes import notification_routes
from .service import BackendService
from .workflow import InvalidTransition, NotFound, State, WorkflowError


class StepBody(BaseModel):
    actor: str = Field(min_length=1, max_length=64, pattern=r"^\S")
    note: str = Field(default="", max_length=500)


class LoadBody(BaseModel):
    terminal_id: TerminalId
    size: Literal["S", "M", "L"] = "S"
    actor: str = Field(default="staff", min_length=1, max_length=64)


STEP_ROUTES = {
    "accept": "accept",
    "review": "review",
    "approve": "approve",
    "reject": "reject",
    "request-supplement": "request_supplement",
    "resume": "resume",
}


def create_app(service: BackendService) -> FastAPI:
    """The FastAPI application over one BackendService."""
    app = FastAPI(title="allhours backend", version="0.1.0")
    desk, db = service.desk, service.db

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidTransition)
    async def _conflict(_request: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "state": exc.state, "step": exc.step}, status_code=409
        )

    @app.exception_handler(WorkflowError)
    async def _workflow(_request: Request, exc: WorkflowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return service.health()

    @app.get("/api/applications")
    def applications(status: State | None = None) -> list[dict[str, Any]]:
        with db.transaction() as session:
            return queries.list_applications(session, status.value if status else None)

    @app.get("/api/applications/{application_no}")
    def application(application_no: str) -> dict[str, Any]:
        with db.transaction() as session:
            return queries.application_detail(session, application_no)

    def _detail(application_no: str) -> dict[str, Any]:
        with db.transaction() as session:
            return queries.application_detail(session, application_no)

    for path, step in STEP_ROUTES.items():

        def act(application_no: str, body: StepBody, _step: str = step) -> dict[str, Any]:
            desk.step(application_no, _step, body.actor, body.note)
            return _detail(application_no)

        app.add_api_route(
            f"/api/applications/{{application_no}}/{path}",
            act,
            methods=["POST"],
            name=step,
            summary=f"{step.replace('_', ' ')} an application",
        )

    @app.post("/api/applications/{application_no}/load-result")
    def load_result(application_no: str, body: LoadBody) -> dict[str, Any]:
        load = desk.load_result(application_no, body.terminal_id, body.size, body.actor)
        return {"load_id": load.load_id, "application": _detail(application_no)}

    @app.post("/api/applications/{application_no}/resend-code")
    def resend_code(application_no: str, body: StepBody | None = None) -> dict[str, Any]:
        load = desk.resend_code(application_no, body.actor if body else "staff")
        return {"load_id": load.load_id, "code_rotation": load.code_rotation}

    @app.post("/api/applications/{application_no}/return")
    def return_result(application_no: str, body: StepBody | None = None) -> dict[str, Any]:
        desk.withdraw(application_no, body.actor if body else "staff", body.note if body else "")
        return _detail(application_no)

    @app.get("/api/terminals")
    def terminals() -> list[dict[str, Any]]:
        with db.transaction() as session:
            return queries.list_terminals(session)

    @app.get("/api/commands")
    def commands(terminal_id: str | None = None) -> list[dict[str, Any]]:
        with db.transaction() as session:
            return queries.list_commands(session, terminal_id)

    # SMS to applicants, masked (codes never in clear).
    app.include_router(notification_routes(db))

    @app.get("/api/ratings/summary")
    def ratings_summary(
        since: AwareDatetime | None = None, until: AwareDatetime | None = None
    ) -> dict[str, Any]:
        """Satisfaction per item and per terminal, and the low scores to follow up."""
        with db.transaction() as session:
            return service.ingest.ratings.summary(session, since, until)

    @app.get("/api/ingest/stats")
    def ingest_stats() -> dict[str, Any]:
        with db.transaction() as session:
            return queries.ingest_stats(session)

    return app
