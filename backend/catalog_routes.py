"""REST routes of configuration bundles: push a catalog, a layout, settings; roll back; follow.

Pushing and rolling back need fleet.configure (operators and admins); reading needs fleet.read.
Each push is recorded with the signed-in person and their note.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.contract.messages import BundleVersion, TerminalId

from .auth.guard import require
from .auth.roles import Permission
from .auth.sessions import SignedIn
from .catalog_bundles import BundleRefused, ConfigBundles, status
from .db import Database
from .limits import Reason

MAX_BODY_BYTES = 256 * 1024


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terminals: list[TerminalId] | Literal["all"] = Field(
        description='terminal ids, or "all" for every registered terminal'
    )

    def ids(self) -> list[str] | None:
        return None if self.terminals == "all" else list(self.terminals)


class PushBody(Targets):
    catalog: dict[str, Any] | None = None
    layout: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    version: BundleVersion | None = Field(
        default=None, description="the bundle's version when it carries no catalog"
    )
    note: str = Field(default="", max_length=500)


class RollbackBody(Targets):
    reason: Reason


def catalog_router(db: Database, bundles: ConfigBundles) -> APIRouter:
    router = APIRouter(tags=["fleet"])
    reader = Depends(require(Permission.READ_FLEET))
    configure = Depends(require(Permission.CONFIGURE_FLEET))

    async def small(request: Request) -> None:
        length = request.headers.get("content-length")
        if length is not None and int(length) > MAX_BODY_BYTES:
            raise HTTPException(413, f"a bundle request is at most {MAX_BODY_BYTES} bytes")

    # Signed in first: a stranger is told 401 whatever the size of what it sends.
    @router.post("/api/fleet/bundles", status_code=202, dependencies=[configure, Depends(small)])
    def push(body: PushBody, who: SignedIn = configure) -> dict[str, Any]:
        """Send a catalog bundle; the terminals' answers follow in GET /api/fleet/bundles."""
        if len(body.terminals) > 5000:
            raise HTTPException(422, 'at most 5000 terminals per push; use "all"')
        try:
            pushed = bundles.push(
                body.catalog,
                body.ids(),
                who.staff.username,
                body.note,
                layout=body.layout,
                settings=body.settings,
                version=body.version,
            )
        except BundleRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"version": pushed.version, "terminals": list(pushed.terminals)}

    @router.post("/api/fleet/bundles/rollback", status_code=202)
    def rollback(body: RollbackBody, who: SignedIn = configure) -> dict[str, Any]:
        try:
            pushed = bundles.rollback(body.ids(), who.staff.username, body.reason)
        except BundleRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"terminals": list(pushed.terminals)}

    @router.get("/api/fleet/bundles", dependencies=[reader])
    def bundle_status() -> list[dict[str, Any]]:
        with db.reading() as session:
            return status(session)

    return router
