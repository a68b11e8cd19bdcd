"""REST routes of terminal groups and staged rollouts (docs/fleet-operations.md).

Changing groups and starting, pausing, resuming or aborting rollouts needs fleet.configure
(operators and admins); reading them needs fleet.read. Every change is kept with the signed-in
person (rollout_events).

A bundle rollout carries a catalog only as a published version of the catalog editor, by its
number (`catalog_version`), as a push does (backend/catalog_routes.py): a catalog document of
the request's own is refused, 403 naming catalog.edit to whoever may not publish one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.contract.messages import BundleVersion, Sha256, SoftwareVersion, TerminalId

from . import rollouts as ro
from . import terminal_groups as groups
from .auth.guard import require
from .auth.roles import Permission
from .auth.sessions import SignedIn
from .catalog_routes import (
    RAW_CATALOG,
    CatalogNumber,
    RawCatalog,
    published_catalog,
    record_catalog_push,
    refuse_raw_catalog,
)
from .db import Database
from .limits import Reason, RowId

MAX_BODY_BYTES = 256 * 1024
GroupName = Annotated[str, Path(min_length=1, max_length=40, pattern=groups.NAME_RE.pattern)]
StageName = Annotated[str, Field(min_length=1, max_length=40, pattern=groups.NAME_RE.pattern)]


class GroupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StageName
    description: str = Field(default="", max_length=200)


class MembersBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terminals: list[TerminalId] = Field(min_length=1, max_length=groups.MAX_MEMBERS_PER_CHANGE)


class SoftwareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: SoftwareVersion
    archive_url: str = Field(max_length=500)
    sha256: Sha256
    size_bytes: int = Field(ge=1)


class RolloutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["software", "bundle"]
    stages: list[StageName] = Field(min_length=1, max_length=ro.MAX_STAGES)
    software: SoftwareBody | None = None
    catalog_version: CatalogNumber = None  # a published catalog version, by number
    catalog: RawCatalog = None  # refused: see refuse_raw_catalog
    # A bundle's other parts, as a push takes them; without a catalog it names its version.
    layout: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    version: BundleVersion | None = None
    abort_failed: int = Field(default=1, ge=1, le=ro.MAX_TARGETS)
    abort_fraction: float = Field(default=1.0, gt=0, le=1)
    wait_minutes: int = Field(default=120, ge=1, le=3 * 24 * 60)
    note: str = Field(default="", max_length=500)


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["pause", "resume", "abort"]
    reason: Reason


def start_from(
    rollouts: ro.Rollouts, body: RolloutBody, by: str, document: dict[str, Any] | None = None
) -> int:
    """Start the rollout a request describes (the REST route and the console share it);
    `document` is the published catalog version the body names (`published_catalog`)."""
    if body.catalog is not None:
        raise ro.RolloutRefused(RAW_CATALOG)
    software = None
    parts = (body.catalog_version, body.layout, body.settings, body.version)
    if body.kind == ro.SOFTWARE:
        if body.software is None or any(x is not None for x in parts):
            raise ro.RolloutRefused("a software rollout names software (and no bundle parts)")
        s = body.software
        software = ro.software_payload(s.version, s.archive_url, s.sha256, s.size_bytes)
    elif body.software is not None or all(x is None for x in parts[:3]):
        raise ro.RolloutRefused(
            "a bundle rollout carries a catalog (catalog_version), a layout or settings"
        )
    elif (document is None) != (body.catalog_version is None):
        raise ro.RolloutRefused("the catalog version named was not looked up")
    return rollouts.start(
        body.kind,
        body.stages,
        by,
        version=body.version,
        software=software,
        document=document,
        layout=body.layout,
        settings=body.settings,
        threshold=ro.Threshold(body.abort_failed, body.abort_fraction),
        wait=timedelta(minutes=body.wait_minutes),
        note=body.note,
    )


def act(rollouts: ro.Rollouts, rollout_id: int, action: str, by: str, reason: str) -> None:
    if action == "pause":
        rollouts.pause(rollout_id, by, reason)
    elif action == "resume":
        rollouts.resume(rollout_id, by, reason)
    else:
        rollouts.abort(rollout_id, by, reason)


def rollout_router(db: Database, rollouts: ro.Rollouts) -> APIRouter:
    router = APIRouter(tags=["fleet"])
    reader = Depends(require(Permission.READ_FLEET))
    configure = Depends(require(Permission.CONFIGURE_FLEET))

    async def small(request: Request) -> None:
        length = request.headers.get("content-length")
        if length is not None and int(length) > MAX_BODY_BYTES:
            raise HTTPException(413, f"a rollout request is at most {MAX_BODY_BYTES} bytes")

    # ------------------------------------------------------------ groups

    @router.get("/api/fleet/groups", dependencies=[reader])
    def list_groups() -> list[dict[str, Any]]:
        with db.reading() as session:
            return groups.listing(session)

    @router.post("/api/fleet/groups", status_code=201)
    def create_group(body: GroupBody, who: SignedIn = configure) -> dict[str, Any]:
        try:
            with db.transaction() as session:
                groups.create(session, body.name, body.description, who.staff.username)
        except groups.GroupRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"name": body.name}

    @router.get("/api/fleet/groups/{name}", dependencies=[reader])
    def group_members(name: GroupName) -> dict[str, Any]:
        try:
            with db.reading() as session:
                return {"name": name, "terminals": groups.members(session, name)}
        except groups.NoSuchGroup:
            raise HTTPException(404, f"no group {name}") from None

    @router.delete("/api/fleet/groups/{name}")
    def delete_group(name: GroupName, who: SignedIn = configure) -> dict[str, Any]:
        try:
            with db.transaction() as session:
                groups.delete(session, name, who.staff.username)
        except groups.NoSuchGroup:
            raise HTTPException(404, f"no group {name}") from None
        return {"deleted": name}

    @router.post("/api/fleet/groups/{name}/members")
    def add(name: GroupName, body: MembersBody, who: SignedIn = configure) -> dict[str, Any]:
        try:
            with db.transaction() as session:
                added = groups.add_members(session, name, body.terminals, who.staff.username)
        except groups.NoSuchGroup:
            raise HTTPException(404, f"no group {name}") from None
        except groups.GroupRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"added": added}

    @router.post("/api/fleet/groups/{name}/members/remove")
    def remove(name: GroupName, body: MembersBody, who: SignedIn = configure) -> dict[str, Any]:
        try:
            with db.transaction() as session:
                gone = groups.remove_members(session, name, body.terminals, who.staff.username)
        except groups.NoSuchGroup:
            raise HTTPException(404, f"no group {name}") from None
        return {"removed": gone}

    # ------------------------------------------------------------ rollouts

    # Signed in first: a stranger is told 401 whatever the size of what it sends.
    @router.post("/api/fleet/rollouts", status_code=202, dependencies=[configure, Depends(small)])
    def start(body: RolloutBody, who: SignedIn = configure) -> dict[str, Any]:
        """Start a staged rollout; its progress follows in GET /api/fleet/rollouts/{id}."""
        if body.catalog is not None:
            refuse_raw_catalog(who)
        number, by = body.catalog_version, who.staff.username
        document = None
        if number is not None and body.kind == ro.BUNDLE:
            document = published_catalog(db, number).document
        target = "group:" + " ".join(body.stages)
        try:
            rollout_id = start_from(rollouts, body, by, document)
        except ro.RolloutRefused as exc:
            if document is not None and number is not None:
                record_catalog_push(db, number, by, target, str(exc))
            raise HTTPException(422, str(exc)) from None
        if document is not None and number is not None:
            record_catalog_push(db, number, by, target, f"rollout {rollout_id} to {target}")
        with db.transaction() as session:
            return ro.detail(session, rollout_id)

    @router.get("/api/fleet/rollouts", dependencies=[reader])
    def list_rollouts() -> list[dict[str, Any]]:
        with db.reading() as session:
            return ro.listing(session)

    @router.get("/api/fleet/rollouts/{rollout_id}", dependencies=[reader])
    def one(rollout_id: RowId) -> dict[str, Any]:
        try:
            with db.reading() as session:
                return ro.detail(session, rollout_id)
        except ro.NoSuchRollout:
            raise HTTPException(404, f"no rollout {rollout_id}") from None

    @router.post("/api/fleet/rollouts/{rollout_id}/actions")
    def action(rollout_id: RowId, body: ActionBody, who: SignedIn = configure) -> dict[str, Any]:
        """Pause, resume or abort, with a reason kept in the rollout's trail."""
        try:
            act(rollouts, rollout_id, body.action, who.staff.username, body.reason)
        except ro.NoSuchRollout:
            raise HTTPException(404, f"no rollout {rollout_id}") from None
        except ro.RolloutRefused as exc:
            raise HTTPException(409, str(exc)) from None
        with db.transaction() as session:
            return ro.detail(session, rollout_id)

    return router
